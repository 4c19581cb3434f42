import type { ContactEvent } from '../domain/contact.js';
import type { AttributeValue } from '../domain/profile.js';
import { round4 } from '../domain/response-numbers.js';
import { segmentsOf } from '../engine/decision-scope.js';
import { NotFoundError } from '../errors.js';
import type { FiringAssociation } from '../ruleset/associations.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import type { ContactHistoryStore } from '../store/contact-history-store.js';
import type { ProfileStore } from '../store/profile-store.js';

export interface Dossier {
  readonly customerId: string;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly consent: Readonly<Record<string, boolean>>;
  readonly holdings: readonly string[];
  readonly affinities: readonly { product: string; score: number }[];
  readonly segments: readonly { id: string; name: string }[];
  /**
   * Products the customer does not hold that mined associations suggest, best first, each with the
   * holdings that make its rule fire: the story behind an offer's `association:<product>` reason.
   */
  readonly associations: readonly FiringAssociation[];
  readonly recentContacts: readonly (Omit<ContactEvent, 'at'> & { at: string })[];
  readonly degraded: boolean;
}

export interface DossierServiceDeps {
  readonly rules: Pick<RulesetHolder, 'current'>;
  readonly profiles: ProfileStore;
  readonly history: ContactHistoryStore;
  readonly clock: () => number;
}

const TOP_AFFINITIES = 10;
const TOP_ASSOCIATIONS = 5;
const RECENT_CONTACTS = 20;

/** What an agent sees when a customer calls: who they are, what they hold and what they may want. */
export class DossierService {
  constructor(private readonly deps: DossierServiceDeps) {}

  async dossier(customerId: string): Promise<Dossier> {
    const [lookup, history] = await Promise.all([
      this.deps.profiles.get(customerId),
      this.deps.history.read(customerId),
    ]);
    const profile = lookup.profile;
    if (!profile) throw new NotFoundError(`no customer '${customerId}'`);
    const now = this.deps.clock();
    const snapshot = this.deps.rules.current;
    return {
      customerId: profile.id,
      attributes: profile.attributes,
      consent: profile.consent,
      holdings: [...profile.holdings],
      affinities: [...profile.affinities]
        .sort((a, b) => b[1] - a[1])
        .slice(0, TOP_AFFINITIES)
        .map(([product, score]) => ({ product, score: round4(score) })),
      segments: segmentsOf(snapshot.segments, profile, {}, now).map((s) => ({
        id: s.id,
        name: s.name,
      })),
      associations: snapshot.associations.firing(profile.holdings, TOP_ASSOCIATIONS),
      recentContacts: [...history.events]
        .sort((a, b) => b.at - a.at)
        .slice(0, RECENT_CONTACTS)
        .map((c) => ({ ...c, at: new Date(c.at).toISOString() })),
      degraded: lookup.degraded || history.degraded,
    };
  }
}
