import type { ContactEvent } from '../domain/contact.js';
import type { AttributionWindows } from '../feedback/attribution.js';
import { cancelCounters, cancelRecord } from '../feedback/cancel-attribution.js';
import { type Credit, creditOf } from '../feedback/customer-attribution.js';
import { type CounterIncrement, customerCounters } from '../feedback/feedback-effects.js';
import type { Attribution, FeedbackEvent, LogEntry, OutcomeEvent } from '../feedback/feedback-event.js';
import { type FunnelLevel, transitionCounters } from '../feedback/funnel-attribution.js';
import type { CustomerLoop } from '../feedback/log/customer-loop.js';
import { applyFacts, causeOf, type Fact, judgeStage, learn, stageOf } from '../learning/profile-learning.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import type { CompiledLifecycleStage, RulesetSnapshot } from '../ruleset/snapshot.js';
import type { ContactHistoryStore } from '../store/contact-history-store.js';
import type { ErasedIds } from '../store/erased-ids.js';
import type { IdentityStore } from '../store/identity-store.js';
import type { LearnedFactsStore } from '../store/learned-facts-store.js';
import type { ProfileStore } from '../store/profile-store.js';

export interface CustomerLoopDeps {
  readonly rules: Pick<RulesetHolder, 'current'>;
  readonly history: ContactHistoryStore;
  readonly profiles: ProfileStore;
  readonly learned: LearnedFactsStore;
  readonly windows: AttributionWindows;
  readonly clock: () => number;
  /** Tells every server to forget its memory copy of a customer whose profile changed. */
  readonly announceProfileChange: (customerId: string) => Promise<void>;
  /** Anonymous ids linked to customers: what an anonymous id did is the customer's. None: no links. */
  readonly identities?: Pick<IdentityStore, 'resolve'> | undefined;
  /**
   * Erased ids and pseudonyms: their entries (in flight at the erasure, or copies the erasure left
   * for the aggregates) teach nobody and credit nothing (docs/decisions/0009-erasure.md).
   */
  readonly erased?: Pick<ErasedIds, 'covers'> | undefined;
}

/** How far back the touchpoints of a new lead or customer are looked for (the journey's reach). */
export const FUNNEL_LOOKBACK_MS = 90 * 86_400_000;

const NONE: readonly CounterIncrement[] = Object.freeze([]);

/**
 * The loop closed on the customer (see feedback/log/customer-loop.ts): credits outcomes and
 * conversions to the customer's recent decisions (feedback/customer-attribution.ts), records them
 * in the contact history (where they suppress the product and mark the episode converted), and
 * teaches the profile (learning/profile-learning.ts), writing it like a PATCH.
 */
export class CustomerLoopService implements CustomerLoop {
  constructor(private readonly deps: CustomerLoopDeps) {}

  async apply(entry: LogEntry): Promise<readonly CounterIncrement[]> {
    const snapshot = this.deps.rules.current;
    if (entry.kind === 'decision') return NONE;
    if (this.deps.erased?.covers(entry.event.customerId)) return NONE;
    if (entry.kind === 'outcome') return this.applyOutcome(entry.event, snapshot);
    return this.applyReaction(entry.event, entry.attribution, snapshot);
  }

  /** A purchase (credited, then learned), a cancel (learned), a lead (on the journey, learned). */
  private async applyOutcome(
    e: OutcomeEvent,
    snapshot: RulesetSnapshot,
  ): Promise<readonly CounterIncrement[]> {
    const customerId = await this.resolve(e.customerId);
    const productId = e.productId ?? '';
    let counters = NONE;
    if (e.type === 'purchase') {
      const self = (h: ContactEvent) =>
        h.outcome === 'purchase' && h.at === e.at && h.productId === productId;
      counters = await this.credit(customerId, productId, e.at, e.value, snapshot, self, (credit) =>
        credit === null && e.channel === null
          ? null
          : {
              offerId: credit?.touch.offerId ?? '',
              campaignId: credit?.touch.campaignId ?? '',
              channel: e.channel ?? credit!.touch.channel,
              outcome: 'purchase',
              at: e.at,
              productId,
            },
      );
    } else if (e.type === 'cancel') {
      counters = await this.creditCancel(customerId, productId, e);
    } else if (e.type === 'lead' && e.channel !== null) {
      // On the journey: where the person became a lead (a form has a channel; a branch may not).
      const lead: ContactEvent = {
        offerId: '',
        campaignId: '',
        channel: e.channel,
        outcome: 'lead',
        at: e.at,
      };
      await this.deps.history.append(customerId, [e.productId === null ? lead : { ...lead, productId }]);
    }
    const fact: Fact = { eventId: e.eventId, kind: e.type, productId, value: e.value, at: e.at };
    return withTransition(counters, await this.learnFact(customerId, fact, snapshot));
  }

  /** A conversion (credited, learned), an accept of an offer that `holdsOnAccept` (learned). */
  private async applyReaction(
    event: FeedbackEvent,
    attribution: Attribution,
    snapshot: RulesetSnapshot,
  ): Promise<readonly CounterIncrement[]> {
    const offer = snapshot.offerById.get(event.offerId);
    const learns =
      event.type === 'convert' || (event.type === 'accept' && offer?.holdsOnAccept && !attribution.heldOut);
    if (offer === undefined || !learns) return NONE;
    const customerId = await this.resolve(event.customerId);
    const fact: Fact = {
      eventId: event.eventId,
      kind: event.type === 'convert' ? 'convert' : 'accept',
      productId: offer.productId,
      value: event.value,
      at: event.at,
    };
    if (event.type === 'accept') return this.learnFact(customerId, fact, snapshot);
    const self = (h: ContactEvent) =>
      h.outcome === 'convert' && h.at === event.at && h.offerId === event.offerId;
    const counters = await this.credit(
      customerId,
      offer.productId,
      event.at,
      event.value,
      snapshot,
      self,
      () => ({
        offerId: event.offerId,
        campaignId: attribution.campaignId,
        channel: attribution.channel,
        outcome: 'convert',
        at: event.at,
      }),
    );
    return withTransition(counters, await this.learnFact(customerId, fact, snapshot));
  }

  /** The customer an id stands for: itself, or the customer an anonymous id is linked to. */
  resolve(customerId: string): Promise<string> {
    const identities = this.deps.identities;
    if (identities === undefined) return Promise.resolve(customerId);
    return identities.resolve(customerId).then((linked) => linked ?? customerId);
  }

  /**
   * A cancel counts against every campaign episode open then that had none yet (retention), and
   * is recorded in the history so that a later one in the episode counts nothing more. A
   * redelivered cancel finds itself in the history: it is left out, and the append skips it.
   */
  private async creditCancel(
    customerId: string,
    productId: string,
    e: OutcomeEvent,
  ): Promise<readonly CounterIncrement[]> {
    const { history, windows } = this.deps;
    const self = (h: ContactEvent) => h.outcome === 'cancel' && h.at === e.at && h.productId === productId;
    const others = (await history.read(customerId)).events.filter((h) => !self(h));
    const record = cancelRecord(others, { productId, at: e.at, channel: e.channel }, windows.conversionMs);
    if (record !== null) await history.append(customerId, [record]);
    return cancelCounters(others, e.at, windows.conversionMs);
  }

  /**
   * Credits an outcome for `productId` at `at` and records it in the history (`record`: its
   * contact event given the credit; null: nothing to record). A redelivered outcome finds its own
   * event in the history (`self` knows it whatever it was credited to): it is left out of the
   * judgement, and the append skips it.
   */
  private async credit(
    customerId: string,
    productId: string,
    at: number,
    value: number | null,
    snapshot: RulesetSnapshot,
    self: (e: ContactEvent) => boolean,
    record: (credit: Credit | null) => ContactEvent | null,
  ): Promise<readonly CounterIncrement[]> {
    const { history, windows } = this.deps;
    const productOf = (offerId: string) => snapshot.offerById.get(offerId)?.productId;
    const others = (await history.read(customerId)).events.filter((e) => !self(e));
    const credit = creditOf(others, { productId, at }, productOf, windows.conversionMs);
    const event = record(credit);
    if (event !== null) await history.append(customerId, [event]);
    return credit === null ? NONE : customerCounters(credit, value);
  }

  /**
   * Teaches the customer's facts and writes the profile they make, its stage judged on the profile
   * as stored (no read of its own). The facts are written after the profile, and only for a
   * customer who still exists: an erased customer learns nothing from a late event. Returns the
   * counters of a rise in the funnel (a new lead, a new customer): the touchpoints before it credited.
   */
  private async learnFact(
    customerId: string,
    fact: Fact,
    snapshot: RulesetSnapshot,
  ): Promise<readonly CounterIncrement[]> {
    const { profiles, learned, clock, announceProfileChange } = this.deps;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const read = await learned.read(customerId);
      const next = learn(read.facts, fact);
      const now = clock();
      // Transitions are dated when the event happened (a replayed spool may bring it late).
      const at = Math.min(fact.at, now);
      let judged = next;
      let before: FunnelLevel | 'prospect' = 'prospect';
      const stored = await profiles.update(customerId, (current) => {
        if (current === null) return null;
        if (next !== read.facts) {
          // The stage before: as last judged, or what the rules say of the person as they were.
          const recorded = read.facts.stage ?? current.attributes.lifecycleStage;
          const prior =
            typeof recorded === 'string'
              ? recorded
              : stageOf(snapshot.lifecycle, applyFacts(current, read.facts), now);
          before = funnelLevel(snapshot.lifecycle, prior);
          judged = judgeStage(next, current, snapshot.lifecycle, now, causeOf(fact), at, prior);
        }
        return applyFacts(current, judged);
      });
      if (stored === null) return NONE;
      // A fact seen before (a redelivery) only wrote the profile again.
      if (next !== read.facts && !(await learned.replace(customerId, read, judged))) continue;
      await announceProfileChange(customerId);
      if (next === read.facts) return NONE;
      const after = funnelLevel(snapshot.lifecycle, judged.stage);
      return RANK[after] > RANK[before]
        ? this.funnelCredits(customerId, after as FunnelLevel, at, judged.leadAt)
        : NONE;
    }
    throw new Error(`learned facts of ${customerId} kept changing under ${MAX_ATTEMPTS} attempts`);
  }

  /** A new lead or customer: the touchpoints of their journey before it, credited. */
  private async funnelCredits(
    customerId: string,
    to: FunnelLevel,
    at: number,
    leadAt: number | null,
  ): Promise<readonly CounterIncrement[]> {
    const { events } = await this.deps.history.read(customerId);
    return transitionCounters(
      events,
      { to, at, leadAt: to === 'customer' ? leadAt : null },
      FUNNEL_LOOKBACK_MS,
    );
  }
}

const RANK = { prospect: 0, lead: 1, customer: 2 } as const;

const withTransition = (
  counters: readonly CounterIncrement[],
  transition: readonly CounterIncrement[],
): readonly CounterIncrement[] => (transition.length === 0 ? counters : [...counters, ...transition]);

/** Where a stage sits in the funnel; a person without a stage (no lifecycle rules) is a prospect. */
function funnelLevel(
  stages: readonly CompiledLifecycleStage[],
  stage: string | null,
): FunnelLevel | 'prospect' {
  return stages.find((s) => s.id === stage)?.funnel ?? 'prospect';
}

/** Two consumers teaching one customer at once are rare; a conflict is retried this often. */
const MAX_ATTEMPTS = 10;
