import { randomUUID } from 'node:crypto';
import { type Channel, channelIndex } from '../domain/channel.js';
import { type AttributeValue, anonymousProfile } from '../domain/profile.js';
import { decide, type EngineDecision } from '../engine/decide.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import type { CapCounters } from '../store/cap-counters.js';
import type { ContactHistoryStore } from '../store/contact-history-store.js';
import type { ProfileStore } from '../store/profile-store.js';

export interface DecideCommand {
  readonly customerId: string;
  readonly channel: Channel;
  readonly placement?: string | undefined;
  readonly limit?: number | undefined;
  readonly context?: Readonly<Record<string, AttributeValue>> | undefined;
  readonly explain?: boolean | undefined;
}

export interface DecisionResult {
  readonly decisionId: string;
  readonly customerId: string;
  readonly customerKnown: boolean;
  readonly channel: Channel;
  readonly placement: string | null;
  readonly rulesetVersion: string;
  readonly decidedAt: number;
  readonly degraded: boolean;
  readonly engine: EngineDecision;
}

export interface DecisionServiceDeps {
  readonly rules: Pick<RulesetHolder, 'current'>;
  readonly profiles: ProfileStore;
  readonly history: ContactHistoryStore;
  readonly counters: CapCounters;
  readonly clock: () => number;
  readonly defaultLimit: number;
}

const NO_CONTEXT: Readonly<Record<string, AttributeValue>> = Object.freeze({});

/** The I/O around the pure engine: fetch the profile and history, decide, count what was shown. */
export class DecisionService {
  constructor(private readonly deps: DecisionServiceDeps) {}

  async decide(command: DecideCommand): Promise<DecisionResult> {
    const { rules, profiles, history, counters, clock } = this.deps;
    const [lookup, contacts] = await Promise.all([
      profiles.get(command.customerId),
      history.recent(command.customerId),
    ]);
    // Read the clock and the snapshot after the awaits: the decision uses the ruleset in force now.
    const now = clock();
    const snapshot = rules.current;
    const engine = decide({
      snapshot,
      profile: lookup.profile ?? anonymousProfile(command.customerId),
      history: contacts,
      usage: counters,
      now,
      request: {
        channel: command.channel,
        placement: command.placement ?? null,
        limit: command.limit ?? this.deps.defaultLimit,
        context: command.context ?? NO_CONTEXT,
        explain: command.explain ?? false,
      },
    });
    const cost = snapshot.policies[channelIndex(command.channel)]!.cost;
    for (const chosen of engine.offers) counters.record(chosen.offer.id, chosen.offer.campaign.id, now, cost);
    return {
      decisionId: randomUUID(),
      customerId: command.customerId,
      customerKnown: lookup.profile !== null,
      channel: command.channel,
      placement: command.placement ?? null,
      rulesetVersion: snapshot.version,
      decidedAt: now,
      degraded: lookup.degraded,
      engine,
    };
  }
}
