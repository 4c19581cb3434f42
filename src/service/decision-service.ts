import { randomUUID } from 'node:crypto';
import { type Channel, channelIndex } from '../domain/channel.js';
import type { ContactEvent } from '../domain/contact.js';
import { type AttributeValue, anonymousProfile } from '../domain/profile.js';
import { decide, type EngineDecision, type Exploration } from '../engine/decide.js';
import type { DecisionLogEntry } from '../feedback/feedback-event.js';
import type { FeedbackLog } from '../feedback/feedback-log.js';
import type { LearnedModel } from '../learning/learned-model.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import type { RulesetSnapshot } from '../ruleset/snapshot.js';
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
  /**
   * The decision is part of a contact that began at this time (a call that is decided again when
   * the agent learns why the customer called): what the contact already showed on this channel is
   * one contact, so it neither counts against the limits nor is recorded again.
   */
  readonly contactSince?: number | undefined;
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
  readonly log: Pick<FeedbackLog, 'recordDecision'>;
  readonly clock: () => number;
  readonly defaultLimit: number;
  /** The learned model for a snapshot (see LearningService); none: propensities are the affinities. */
  readonly learning?: { model(snapshot: RulesetSnapshot): LearnedModel | undefined } | undefined;
  /** ε-greedy exploration; none: every decision is greedy. */
  readonly exploration?: Exploration | undefined;
}

const NO_CONTEXT: Readonly<Record<string, AttributeValue>> = Object.freeze({});

/**
 * The I/O around the pure engine: fetch the profile and the contact history, decide, record what
 * was shown in the history (compare-and-append) and the cap counters, and log the decision.
 */
export class DecisionService {
  constructor(private readonly deps: DecisionServiceDeps) {}

  async decide(command: DecideCommand): Promise<DecisionResult> {
    const { rules, profiles, history, counters, clock } = this.deps;
    const customerId = command.customerId;
    const [lookup, firstRead] = await Promise.all([profiles.get(customerId), history.lastSeen(customerId)]);
    const profile = lookup.profile ?? anonymousProfile(customerId);
    let seen = firstRead;
    let degraded = lookup.degraded || seen.degraded;
    const since = command.contactSince;
    for (let attempt = 1; ; attempt++) {
      // Read the clock and the snapshot after the awaits: the decision uses the ruleset in force now.
      const now = clock();
      const snapshot = rules.current;
      const policy = snapshot.policies[channelIndex(command.channel)]!;
      let engine = decide({
        snapshot,
        profile,
        history: since === undefined ? seen.events : beforeContact(seen.events, command.channel, since),
        usage: counters,
        now,
        learned: this.deps.learning?.model(snapshot),
        exploration: this.deps.exploration,
        request: {
          channel: command.channel,
          placement: command.placement ?? null,
          limit: command.limit ?? this.deps.defaultLimit,
          context: command.context ?? NO_CONTEXT,
          explain: command.explain ?? false,
        },
      });
      // Within a contact decided again, what it showed already is neither recorded nor counted twice.
      const fresh =
        since === undefined
          ? engine.offers
          : engine.offers.filter((c) => !shownInContact(seen.events, c.offer.id, command.channel, since));
      if (fresh.length > 0) {
        const shown = fresh.map((c) => impression(c.offer.id, c.offer.campaign.id, command.channel, now));
        const outcome = await history.appendIfUnchanged(customerId, seen, shown);
        if (outcome.appended) {
          degraded ||= outcome.degraded;
          for (const chosen of fresh)
            counters.record(chosen.offer.id, chosen.offer.campaign.id, now, policy.cost);
        } else {
          // Another decision for this customer was recorded since we read the history: decide
          // again on the newer one, so that no cap is exceeded. Guarded by redis-tier.int.test.ts "exact caps".
          seen = outcome.newer;
          degraded ||= seen.degraded;
          if (attempt < MAX_ATTEMPTS) continue;
          engine = { ...engine, offers: [] };
        }
      }
      const result: DecisionResult = {
        decisionId: randomUUID(),
        customerId,
        customerKnown: lookup.profile !== null,
        channel: command.channel,
        placement: command.placement ?? null,
        rulesetVersion: snapshot.version,
        decidedAt: now,
        degraded,
        engine,
      };
      this.deps.log.recordDecision(logEntryOf(result));
      return result;
    }
  }
}

/** Conflicting appends for one customer are rare; after this many the decision shows nothing. */
const MAX_ATTEMPTS = 3;

const isContactImpression = (e: ContactEvent, channel: Channel, since: number): boolean =>
  e.outcome === 'impression' && e.channel === channel && e.at >= since;

/** The history without the impressions of the contact in progress. */
function beforeContact(
  events: readonly ContactEvent[],
  channel: Channel,
  since: number,
): readonly ContactEvent[] {
  return events.filter((e) => !isContactImpression(e, channel, since));
}

function shownInContact(
  events: readonly ContactEvent[],
  offerId: string,
  channel: Channel,
  since: number,
): boolean {
  return events.some((e) => e.offerId === offerId && isContactImpression(e, channel, since));
}

function impression(offerId: string, campaignId: string, channel: Channel, at: number): ContactEvent {
  return { offerId, campaignId, channel, outcome: 'impression', at };
}

/** What the decision log keeps of a decision. */
export function logEntryOf(d: DecisionResult): DecisionLogEntry {
  return {
    decisionId: d.decisionId,
    customerId: d.customerId,
    channel: d.channel,
    placement: d.placement,
    rulesetVersion: d.rulesetVersion,
    at: d.decidedAt,
    limit: d.engine.limit,
    explored: d.engine.explored,
    offers: d.engine.offers.map((c) => ({
      offerId: c.offer.id,
      campaignId: c.offer.campaign.id,
      segmentId: c.segmentId,
      score: c.score,
      propensity: c.propensity,
      prior: c.prior,
      probability: c.probability,
    })),
    heldOut: d.engine.heldOut.map((h) => ({
      offerId: h.offer.id,
      campaignId: h.offer.campaign.id,
      segmentId: h.segmentId,
      score: h.score,
      propensity: h.propensity,
      prior: h.prior,
      probability: 0,
    })),
  };
}
