import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { CustomerProfile } from './domain/profile.js';
import { profileFromRecord } from './domain/profile.js';
import type { ReadinessCheck } from './http/routes/health.js';
import { RulesetHolder } from './ruleset/ruleset-holder.js';
import { DecisionService } from './service/decision-service.js';
import { DossierService } from './service/dossier-service.js';
import { generatePopulation } from './sim/population.js';
import { MemoryCapCounters } from './store/cap-counters.js';
import { type ContactHistoryStore, MemoryContactHistoryStore } from './store/contact-history-store.js';
import { MemoryProfileStore } from './store/memory-profile-store.js';
import { readProfilesFile } from './store/profile-file.js';
import type { ProfileStore } from './store/profile-store.js';

/** Everything the HTTP layer talks to. Built in one place (the composition root), injected into routes. */
export interface Services {
  readonly rules: RulesetHolder;
  readonly profiles: ProfileStore;
  readonly history: ContactHistoryStore;
  readonly decisions: DecisionService;
  readonly dossiers: DossierService;
  readonly readiness: ReadinessCheck;
  close(): Promise<void>;
}

export async function createServices(
  config: Pick<Config, 'rules' | 'data' | 'decisions'>,
  log: Logger,
  clock: () => number = Date.now,
): Promise<Services> {
  const rules = await RulesetHolder.open(config.rules.dir, log, clock);
  if (config.rules.watch) rules.watch();
  const profiles = new MemoryProfileStore(await initialProfiles(config.data, rules, log));
  const history = new MemoryContactHistoryStore();
  const counters = new MemoryCapCounters();
  const decisions = new DecisionService({
    rules,
    profiles,
    history,
    counters,
    clock,
    defaultLimit: config.decisions.defaultLimit,
  });
  const dossiers = new DossierService({ rules, profiles, history, clock });
  const readiness: ReadinessCheck = async () => ({
    ready: true,
    details: {
      store: profiles.kind,
      customers: await profiles.count(),
      rulesetVersion: rules.current.version,
    },
  });
  return {
    rules,
    profiles,
    history,
    decisions,
    dossiers,
    readiness,
    async close() {
      rules.close();
      await profiles.close();
    },
  };
}

async function initialProfiles(
  data: Config['data'],
  rules: RulesetHolder,
  log: Logger,
): Promise<Iterable<CustomerProfile>> {
  if (data.profilesFile !== null) {
    const result = await readProfilesFile(data.profilesFile);
    if (result.badCount > 0) {
      log.warn(
        { file: data.profilesFile, bad: result.badCount, first: result.bad.slice(0, 5) },
        'skipped bad profile lines',
      );
    }
    log.info({ file: data.profilesFile, customers: result.profiles.length }, 'profiles loaded');
    return result.profiles;
  }
  // The demo population has affinities for the products the rules in force actually offer.
  const products = [...new Set(rules.current.offers.map((o) => o.productId))].sort();
  const profiles: CustomerProfile[] = [];
  for (const record of generatePopulation(data.demoCustomers, products, {
    seed: data.demoSeed,
    affinities: 20,
  })) {
    profiles.push(profileFromRecord(record));
  }
  log.info({ customers: profiles.length, products: products.length }, 'demo population generated');
  return profiles;
}
