import { randomUUID } from 'node:crypto';
import type { Channel } from '../domain/channel.js';
import type { ContactEvent } from '../domain/contact.js';
import { type AttributeValue, anonymousProfile, type CustomerProfile } from '../domain/profile.js';
import {
  type ChosenOffer,
  type DecisionRequest,
  decide,
  type EngineDecision,
  type Exploration,
} from '../engine/decide.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import { episodesOpened } from '../feedback/customer-attribution.js';
import type { FeedbackLog } from '../feedback/log/feedback-log.js';
import type { LearnedModel } from '../learning/learned-model.js';
import { stageOf } from '../learning/profile-learning.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import type { CompiledOffer, RulesetSnapshot } from '../ruleset/snapshot.js';
import type { CapCounters } from '../store/cap-counters.js';
import type { ContactHistoryStore } from '../store/contact-history-store.js';
import type { CustomerRead, CustomerReader } from '../store/customer-reader.js';
import type { ErasedIds } from '../store/erased-ids.js';
import type { IdentityStore } from '../store/identity-store.js';
import type { ProfileStore } from '../store/profile-store.js';
import type { CandidateService } from './candidate-service.js';
import type { ChallengerArm, ChallengerService } from './challenger-service.js';
import { type DecisionResult, logEntryOf } from './decision-result.js';

export type { DecisionResult } from './decision-result.js';

export interface DecideCommand {
  readonly customerId: string;
  readonly channel: Channel;
  readonly placement?: string | undefined;
  readonly limit?: number | undefined;
  readonly context?: Readonly<Record<string, AttributeValue>> | undefined;
  readonly explain?: boolean | undefined;
  /**
   * What the customer would get, changing nothing: no contact recorded, no cap or budget used,
   * nothing logged, no episode opened. The answer is marked preview and has no decision id, as no
   * feedback can refer to it. Guarded by decision-service.test.ts "a preview".
   */
  readonly preview?: boolean | undefined;
  /** A preview on this candidate ruleset (CandidateService) instead of the one in force. */
  readonly candidate?: string | undefined;
  /**
   * The decision is part of a contact that began at this time (a call that is decided again when
   * the agent learns why the customer called): what the contact already showed on this channel is
   * one contact, so it neither counts against the limits nor is recorded again.
   */
  readonly contactSince?: number | undefined;
  /** Only this campaign's offers (an outbound selection, service/selection-service.ts). */
  readonly campaign?: string | undefined;
  /** The customer's profile as the caller read it already (a selection streams the population): only the history is read. */
  readonly profile?: CustomerProfile | undefined;
}

export interface DecisionServiceDeps {
  readonly rules: Pick<RulesetHolder, 'current'>;
  readonly profiles: ProfileStore;
  readonly history: ContactHistoryStore;
  /** Reads profile and history in one go where the store does that better; none: side by side. */
  readonly customers?: CustomerReader | undefined;
  readonly counters: CapCounters;
  /** Where every decision is recorded, for the feedback to be attributed to it. */
  readonly feedbackLog: Pick<FeedbackLog, 'recordDecision'>;
  readonly clock: () => number;
  readonly defaultLimit: number;
  /**
   * The conversion window: a decision's touch of a campaign opens an episode for the customer when
   * none is open (feedback/customer-attribution.ts). Default: 7 days.
   */
  readonly conversionWindowMs?: number | undefined;
  /** The learned model for a snapshot (see LearningService); none: propensities are the affinities. */
  readonly learning?: { model(snapshot: RulesetSnapshot): LearnedModel | undefined } | undefined;
  /** ε-greedy exploration; none: every decision is greedy. */
  readonly exploration?: Exploration | undefined;
  /** Hears of every decision made (metrics); must be cheap and must not throw. */
  readonly observer?: { decided(result: DecisionResult): void } | undefined;
  /** Candidate rulesets that previews may run on; none: no candidates. */
  readonly candidates?: Pick<CandidateService, 'snapshot'> | undefined;
  /** A champion/challenger test's arms: a customer in the challenger share is decided on it. None: no tests. */
  readonly challenger?: Pick<ChallengerService, 'armOf'> | undefined;
  /** Anonymous ids linked to customers: a decision for one is the customer's. None: no links. */
  readonly identities?: Pick<IdentityStore, 'resolve'> | undefined;
  /** Erased ids: a decision for one is logged under its pseudonym (docs/decisions/0009-erasure.md). */
  readonly erased?: Pick<ErasedIds, 'recordedAs'> | undefined;
  /**
   * A decision not taken within this many ms is answered with the fallback (see decide()); none or
   * 0: no deadline (the embedded store, whose reads never wait for I/O, needs none).
   */
  readonly timeoutMs?: number | undefined;
}

/** Set when a decision's deadline passed: its caller has been answered, the late work stops. */
interface Deadline {
  readonly expired: boolean;
}
const NO_DEADLINE: Deadline = Object.freeze({ expired: false });

const NO_CONTEXT: Readonly<Record<string, AttributeValue>> = Object.freeze({});

/**
 * The I/O around the pure engine: fetch the profile and the contact history, decide, record what
 * was shown in the history (compare-and-append) and the cap counters, and log the decision.
 */
export class DecisionService {
  constructor(private readonly deps: DecisionServiceDeps) {}

  /**
   * The decision, or past the deadline (`timeoutMs`) the fallback: the decision for an anonymous
   * customer with no contact history, marked degraded, as when Redis is unreachable. Guarded by
   * decision-service.test.ts "the deadline" and overload.int.test.ts "decision timeout".
   */
  decide(command: DecideCommand): Promise<DecisionResult> {
    return this.withDeadline(command, () => this.fallback(command));
  }

  /** Like decide(), but null past the deadline, for callers with a fallback of their own (banners). */
  decideInTime(command: DecideCommand): Promise<DecisionResult | null> {
    return this.withDeadline(command, () => null);
  }

  private withDeadline<T>(command: DecideCommand, onTimeout: () => T): Promise<DecisionResult | T> {
    const ms = this.deps.timeoutMs ?? 0;
    // A preview records nothing, so it has no fallback to record instead: it waits for its reads.
    if (ms <= 0 || command.preview === true)
      return this.decideNow(command, NO_DEADLINE) as Promise<DecisionResult>;
    const deadline = { expired: false };
    return new Promise<DecisionResult | T>((resolve, reject) => {
      const timer = setTimeout(() => {
        deadline.expired = true;
        try {
          resolve(onTimeout());
        } catch (err) {
          reject(err);
        }
      }, ms);
      this.decideNow(command, deadline).then(
        (result) => {
          clearTimeout(timer);
          if (result !== null) resolve(result);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  /** The decision; null when the deadline passed meanwhile (nothing more is recorded then). */
  private async decideNow(command: DecideCommand, deadline: Deadline): Promise<DecisionResult | null> {
    const { rules, clock } = this.deps;
    const candidate = command.candidate === undefined ? null : await this.candidateOf(command);
    const { customerId, lookup, firstRead, history } =
      command.profile === undefined
        ? await this.readCustomer(command.customerId)
        : await this.readHistory(command.profile);
    if (deadline.expired) return null;
    const profile = lookup.profile ?? anonymousProfile(customerId);
    let seen = firstRead;
    let degraded = lookup.degraded || seen.degraded;
    const since = command.contactSince;
    for (let attempt = 1; ; attempt++) {
      // Read the clock and the snapshot after the awaits: the decision uses the ruleset in force now.
      const now = clock();
      // A test's arm (null when none runs); a preview on a named candidate is in no arm.
      const arm = candidate === null ? this.armOf(customerId) : null;
      const snapshot = candidate ?? arm?.snapshot ?? rules.current;
      let engine = this.run(
        command,
        snapshot,
        profile,
        since === undefined ? seen.events : beforeContact(seen.events, command.channel, since),
        now,
      );
      // Within a contact decided again, what it showed already is neither recorded nor counted twice.
      const fresh =
        since === undefined
          ? engine.offers
          : engine.offers.filter(
              (c) => !inContact(seen.events, c.offer.id, 'impression', command.channel, since),
            );
      const heldOut =
        since === undefined
          ? engine.heldOut
          : engine.heldOut.filter(
              (h) => !inContact(seen.events, h.offer.id, 'held_out', command.channel, since),
            );
      if (command.preview === true)
        return this.answer(command, lookup.profile !== null, snapshot, now, degraded, engine, true, arm);
      let opens: ReadonlySet<string> = NO_OFFERS;
      if (fresh.length + heldOut.length > 0) {
        const touches: ContactEvent[] = [];
        for (const c of fresh) touches.push(touch(c.offer, 'impression', command, now, arm));
        for (const h of heldOut) touches.push(touch(h.offer, 'held_out', command, now, arm));
        const outcome = await history.appendIfUnchanged(customerId, seen, touches);
        // Too late: the caller got the fallback, which is what was shown and logged. The contact
        // history may keep these impressions (the append went through); caps err on the safe side.
        if (deadline.expired) return null;
        if (outcome.appended) {
          degraded ||= outcome.degraded;
          this.count(fresh, engine.cost, now);
          opens = episodesOpened(
            seen.events,
            touches,
            now,
            this.deps.conversionWindowMs ?? DEFAULT_CONVERSION_WINDOW_MS,
          );
        } else {
          // Another decision for this customer was recorded since we read the history: decide
          // again on the newer one, so that no cap is exceeded. Guarded by redis-tier.int.test.ts "exact caps"
          // and decision-service.test.ts "another decision recorded meanwhile".
          seen = outcome.newer;
          degraded ||= seen.degraded;
          if (attempt < MAX_ATTEMPTS) continue;
          engine = { ...engine, offers: [] };
        }
      }
      // The customer's stage, for the lifecycle mix of the customers campaigns reach: as last judged, or as the rules say now.
      const stage = opens.size === 0 ? null : stageNow(profile, snapshot, now);
      return this.result(
        command,
        lookup.profile !== null,
        snapshot,
        now,
        degraded,
        engine,
        opens,
        stage,
        arm,
      );
    }
  }

  /** The customer's arm of a champion/challenger test; null (at the cost of a call) when none runs. */
  private armOf(customerId: string): ChallengerArm | null {
    return this.deps.challenger?.armOf(customerId) ?? null;
  }

  /**
   * The profile and contact history of the id, or of the customer an anonymous id is linked to:
   * asked only for an id without a profile (a visitor), so a known customer's decision costs nothing more.
   */
  private async readCustomer(id: string) {
    const { history, identities } = this.deps;
    const { lookup, history: firstRead } = await this.read(id);
    if (lookup.profile !== null || lookup.degraded || identities === undefined) {
      return { customerId: id, lookup, firstRead, history };
    }
    const linked = await identities.resolve(id).catch(() => null);
    if (linked === null) return { customerId: id, lookup, firstRead, history };
    const linkedRead = await this.read(linked);
    return { customerId: linked, lookup: linkedRead.lookup, firstRead: linkedRead.history, history };
  }

  /** The history of a customer whose profile the caller gave. */
  private async readHistory(profile: CustomerProfile) {
    const { history } = this.deps;
    const firstRead = await history.lastSeen(profile.id);
    return { customerId: profile.id, lookup: { profile, degraded: false }, firstRead, history };
  }

  /** A customer's profile and history: in one go where the store can (`customers`), else side by side. */
  private read(customerId: string): Promise<CustomerRead> {
    const { customers, profiles, history } = this.deps;
    if (customers !== undefined) return customers.read(customerId);
    return Promise.all([profiles.get(customerId), history.lastSeen(customerId)]).then(([lookup, seen]) => ({
      lookup,
      history: seen,
    }));
  }

  /** The decision for an anonymous customer, without waiting for anything: no I/O, no history. */
  private fallback(command: DecideCommand): DecisionResult {
    const now = this.deps.clock();
    const arm = this.armOf(command.customerId);
    const snapshot = arm?.snapshot ?? this.deps.rules.current;
    const engine = this.run(command, snapshot, anonymousProfile(command.customerId), [], now);
    this.count(engine.offers, engine.cost, now);
    return this.result(command, false, snapshot, now, true, engine, NO_OFFERS, null, arm);
  }

  /** The pure engine on what was read. */
  private run(
    command: DecideCommand,
    snapshot: RulesetSnapshot,
    profile: CustomerProfile,
    history: readonly ContactEvent[],
    now: number,
  ): EngineDecision {
    return decide({
      snapshot,
      profile,
      history,
      usage: this.deps.counters,
      now,
      learned: this.deps.learning?.model(snapshot),
      exploration: this.deps.exploration,
      request: this.requestOf(command),
    });
  }

  /** Counts what is shown against the caps and budgets, at what a contact cost this customer. */
  private count(shown: readonly ChosenOffer[], cost: number, now: number): void {
    for (const chosen of shown)
      this.deps.counters.record(chosen.offer.id, chosen.offer.campaign.id, now, cost);
  }

  /** The one place a decision's result is built, logged and observed (the fallback's too). */
  private result(
    command: DecideCommand,
    customerKnown: boolean,
    snapshot: RulesetSnapshot,
    now: number,
    degraded: boolean,
    engine: EngineDecision,
    opens: ReadonlySet<string> = NO_OFFERS,
    stage: string | null = null,
    arm: ChallengerArm | null = null,
  ): DecisionResult {
    const result = this.answer(command, customerKnown, snapshot, now, degraded, engine, false, arm);
    const entry = logEntryOf(result, opens, stage);
    const recordedAs = this.deps.erased?.recordedAs(entry.customerId) ?? entry.customerId;
    this.deps.feedbackLog.recordDecision(
      recordedAs === entry.customerId ? entry : { ...entry, customerId: recordedAs },
    );
    this.deps.observer?.decided(result);
    return result;
  }

  /** The candidate ruleset a preview asks for: 400 without `preview`, 404 for an unknown one. */
  private candidateOf(command: DecideCommand): Promise<RulesetSnapshot> {
    if (command.preview !== true)
      return Promise.reject(
        new BadRequestError('a candidate ruleset is only previewed: send "preview": true'),
      );
    const candidates = this.deps.candidates;
    if (candidates === undefined)
      return Promise.reject(new NotFoundError(`no candidate ruleset '${command.candidate}'`));
    return candidates.snapshot(command.candidate!);
  }

  /** A decision's answer; a preview's has no id, as it is neither logged nor observed. */
  private answer(
    command: DecideCommand,
    customerKnown: boolean,
    snapshot: RulesetSnapshot,
    now: number,
    degraded: boolean,
    engine: EngineDecision,
    preview: boolean,
    arm: ChallengerArm | null = null,
  ): DecisionResult {
    const result: DecisionResult = {
      decisionId: preview ? '' : randomUUID(),
      customerId: command.customerId,
      customerKnown,
      channel: command.channel,
      placement: command.placement ?? null,
      rulesetVersion: snapshot.version,
      decidedAt: now,
      degraded,
      preview,
      engine,
    };
    // Only while a test runs does a result carry its arm: without one it is what it always was.
    return arm === null ? result : { ...result, arm: arm.arm };
  }

  private requestOf(command: DecideCommand): DecisionRequest {
    return {
      channel: command.channel,
      placement: command.placement ?? null,
      limit: command.limit ?? this.deps.defaultLimit,
      context: command.context ?? NO_CONTEXT,
      explain: command.explain ?? false,
      campaign: command.campaign ?? null,
    };
  }
}

/** Conflicting appends for one customer are rare; after this many the decision shows nothing. */
const MAX_ATTEMPTS = 3;

const isContactImpression = (e: ContactEvent, channel: Channel, since: number): boolean =>
  e.outcome === 'impression' && e.channel === channel && e.at >= since;

const NO_OFFERS: ReadonlySet<string> = new Set();

function stageNow(profile: CustomerProfile, snapshot: RulesetSnapshot, now: number): string | null {
  const judged = profile.attributes.lifecycleStage;
  return typeof judged === 'string' ? judged : stageOf(snapshot.lifecycle, profile, now);
}
const DEFAULT_CONVERSION_WINDOW_MS = 7 * 86_400_000;

/** The history without the impressions of the contact in progress. */
function beforeContact(
  events: readonly ContactEvent[],
  channel: Channel,
  since: number,
): readonly ContactEvent[] {
  return events.filter((e) => !isContactImpression(e, channel, since));
}

/** The contact in progress already showed (or held out) the offer. */
function inContact(
  events: readonly ContactEvent[],
  offerId: string,
  outcome: 'impression' | 'held_out',
  channel: Channel,
  since: number,
): boolean {
  return events.some(
    (e) => e.offerId === offerId && e.outcome === outcome && e.channel === channel && e.at >= since,
  );
}

/**
 * A touch of the customer: an offer shown, or held out (a control group), for attribution and the
 * journey; with a test's arm, so that what the touch converts counts for it.
 */
function touch(
  offer: CompiledOffer,
  outcome: 'impression' | 'held_out',
  command: DecideCommand,
  at: number,
  arm: ChallengerArm | null,
): ContactEvent {
  const { channel, placement } = command;
  const event: ContactEvent =
    placement === undefined
      ? { offerId: offer.id, campaignId: offer.campaign.id, channel, outcome, at }
      : { offerId: offer.id, campaignId: offer.campaign.id, channel, outcome, at, placement };
  return arm === null ? event : { ...event, arm: arm.arm };
}
