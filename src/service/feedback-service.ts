import { setTimeout as sleep } from 'node:timers/promises';
import type { Channel } from '../domain/channel.js';
import { knownIndex } from '../domain/intern.js';
import { type AttributeValue, anonymousProfile } from '../domain/profile.js';
import { BadRequestError } from '../errors.js';
import { CLOCK_SKEW_MS } from '../feedback/attribution.js';
import {
  type FeedbackStatus,
  type FeedbackType,
  type FeedbackVerdict,
  isOutcome,
  OUTCOME_TYPES,
  type OutcomeEvent,
  type OutcomeType,
  type SubmittedEvent,
} from '../feedback/feedback-event.js';
import type { FeedbackLog } from '../feedback/log/feedback-log.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import { parseDate } from '../ruleset/time.js';
import type { ErasedIds } from '../store/erased-ids.js';
import type { IdentityStore } from '../store/identity-store.js';
import type { ProfileStore } from '../store/profile-store.js';

/** Pauses before an unknown decision is judged again (see FeedbackService.judge). */
const UNKNOWN_DECISION_PAUSES_MS = [100, 300, 1000];

/** One event as a channel or a business system sends it (POST /v1/feedback). */
export type FeedbackInput = ReactionInput | OutcomeInput;

/** A reaction to an offer of a decision. */
export interface ReactionInput {
  readonly eventId: string;
  readonly decisionId: string;
  readonly offerId: string;
  readonly customerId: string;
  readonly type: FeedbackType;
  readonly value?: number | undefined;
  /** ISO 8601; default: when the server received it. */
  readonly timestamp?: string | undefined;
}

/**
 * A business outcome for a customer and a product, without a decision (an order system's purchase),
 * or a lead: a form or a call-back request, maybe from an anonymous visitor, maybe naming a product.
 */
export interface OutcomeInput {
  readonly eventId: string;
  readonly customerId: string;
  readonly type: OutcomeType;
  /** Required but for a lead. */
  readonly productId?: string | undefined;
  /** A lead's contact data (name, e-mail, phone…): written to the profile, never to the feedback log. */
  readonly attributes?: Readonly<Record<string, string | number | boolean>> | undefined;
  readonly value?: number | undefined;
  readonly timestamp?: string | undefined;
  readonly channel?: Channel | undefined;
  readonly source?: string | undefined;
}

export interface FeedbackResult {
  readonly eventId: string;
  readonly status: FeedbackStatus;
  readonly reason?: string;
}

const OUTCOME_TYPE_SET: ReadonlySet<string> = new Set(OUTCOME_TYPES);
const ERASED: FeedbackVerdict = Object.freeze({
  status: 'erased',
  reason: 'the customer was erased: nothing is recorded about them',
});
const isUnknownDecision = (v: FeedbackVerdict): boolean => v.status === 'unknown_decision';
const isOutcomeInput = (input: FeedbackInput): input is OutcomeInput => OUTCOME_TYPE_SET.has(input.type);

/** Days of each month in a common year. */
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * parseDate() of the form almost every client sends, Date.prototype.toISOString()'s
 * (`2026-11-22T12:00:05.000Z`), read digit by digit instead of by a regular expression and three
 * Date calls; any other form (or year before 100, which Date.UTC reads as 19xx) is parseDate's.
 */
export function parseTimestamp(text: string): number | null {
  if (
    text.length !== 24 ||
    text.charCodeAt(4) !== 45 || // -
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 84 || // T
    text.charCodeAt(13) !== 58 || // :
    text.charCodeAt(16) !== 58 ||
    text.charCodeAt(19) !== 46 || // .
    text.charCodeAt(23) !== 90 // Z
  )
    return parseDate(text);
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  const ms = digits(text, 20, 3);
  if (year < 100 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || ms < 0)
    return parseDate(text);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : MONTH_DAYS[month - 1]!)) return null;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms);
}

/** The number written by `length` decimal digits at `from`; -1 when one is not a digit. */
function digits(text: string, from: number, length: number): number {
  let n = 0;
  for (let i = from; i < from + length; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** The answer to a batch: counts, and every event's own status in the order sent. */
export interface FeedbackReceipt {
  /** New and durable in the shared log. */
  readonly accepted: number;
  /** Durable in this server's spool (Redis unreachable); judged when replayed. */
  readonly queued: number;
  readonly duplicates: number;
  /** Unknown decision or offer, too late, or in conflict: not recorded. */
  readonly rejected: number;
  readonly results: readonly FeedbackResult[];
}

/** Feedback intake: normalises a batch, has the log judge and record it, and counts the verdicts. */
export class FeedbackService {
  constructor(
    private readonly deps: {
      readonly feedbackLog: FeedbackLog;
      readonly clock: () => number;
      /** Outcomes must name a product the catalog or the loaded data knows, and a customer the store has. */
      readonly rules: Pick<RulesetHolder, 'current'>;
      readonly profiles: Pick<ProfileStore, 'exists' | 'update'>;
      /** Anonymous ids linked to customers: an outcome for one is the customer's. */
      readonly identities?: Pick<IdentityStore, 'resolve'> | undefined;
      /** Tells every server to forget a profile a lead created or changed. */
      readonly announceProfileChange?: ((customerId: string) => Promise<void>) | undefined;
      /** Hears of every batch's verdicts (metrics); must be cheap and must not throw. */
      readonly observer?: { judged(verdicts: readonly FeedbackVerdict[]): void } | undefined;
      /** Erased ids: their events are refused (`erased`), nothing is recorded. */
      readonly erased?: Pick<ErasedIds, 'covers' | 'size'> | undefined;
    },
  ) {}

  /** Rejects with a BadRequestError for a date a pattern cannot refuse (a 30 February). */
  record(inputs: readonly FeedbackInput[]): Promise<FeedbackReceipt> {
    const receivedAt = this.deps.clock();
    let events: SubmittedEvent[];
    let outcomes = false;
    try {
      events = inputs.map((input, i) => {
        if (isOutcomeInput(input)) outcomes = true;
        return this.eventOf(input, i, receivedAt);
      });
    } catch (err) {
      return Promise.reject(err);
    }
    const erased = this.deps.erased;
    if (erased !== undefined && erased.size > 0 && events.some((e) => erased.covers(e.customerId)))
      return this.withoutErased(events, inputs, receivedAt, erased);
    // A batch of reactions (almost every batch) goes to the log as it is: no check, no promise per event.
    const judged = outcomes ? this.judgeAll(events, receivedAt, inputs) : this.judge(events, receivedAt);
    return judged.then((verdicts) => this.receipt(events, verdicts));
  }

  /** A batch with events of erased ids: those are refused, the others judged as ever. */
  private async withoutErased(
    events: readonly SubmittedEvent[],
    inputs: readonly FeedbackInput[],
    receivedAt: number,
    erased: Pick<ErasedIds, 'covers'>,
  ): Promise<FeedbackReceipt> {
    const kept: number[] = [];
    const verdicts: FeedbackVerdict[] = events.map((e, i) => {
      if (!erased.covers(e.customerId)) kept.push(i);
      return ERASED;
    });
    const keptEvents = kept.map((i) => events[i]!);
    const judged = await this.judgeAll(
      keptEvents,
      receivedAt,
      kept.map((i) => inputs[i]!),
    );
    kept.forEach((i, k) => {
      verdicts[i] = judged[k]!;
    });
    return this.receipt(events, verdicts);
  }

  private eventOf(input: FeedbackInput, i: number, receivedAt: number): SubmittedEvent {
    const at = input.timestamp === undefined ? receivedAt : parseTimestamp(input.timestamp);
    // The schema checks the shape; parseDate what a pattern cannot (a 30 February).
    if (at === null)
      throw new BadRequestError(`events/${i}/timestamp is not a valid date: '${input.timestamp}'`);
    if (isOutcomeInput(input)) {
      return {
        eventId: input.eventId,
        customerId: input.customerId,
        type: input.type,
        productId: input.productId ?? null,
        value: input.value ?? null,
        at,
        channel: input.channel ?? null,
        source: input.source ?? null,
      };
    }
    return {
      eventId: input.eventId,
      decisionId: input.decisionId,
      offerId: input.offerId,
      customerId: input.customerId,
      type: input.type,
      value: input.value ?? null,
      at,
    };
  }

  /** Counts the verdicts; every event's own, in the order sent. */
  private receipt(events: readonly SubmittedEvent[], verdicts: readonly FeedbackVerdict[]): FeedbackReceipt {
    this.deps.observer?.judged(verdicts);
    let accepted = 0;
    let queued = 0;
    let duplicates = 0;
    const results = verdicts.map((v, i): FeedbackResult => {
      if (v.status === 'accepted') accepted++;
      else if (v.status === 'queued') queued++;
      else if (v.status === 'duplicate') duplicates++;
      const eventId = events[i]!.eventId;
      return v.reason === null
        ? { eventId, status: v.status }
        : { eventId, status: v.status, reason: v.reason };
    });
    return {
      accepted,
      queued,
      duplicates,
      rejected: events.length - accepted - queued - duplicates,
      results,
    };
  }

  /** Outcomes are checked here first (the log knows no products or customers); the rest go to the log together. */
  private async judgeAll(
    events: readonly SubmittedEvent[],
    receivedAt: number,
    inputs: readonly FeedbackInput[],
  ): Promise<FeedbackVerdict[]> {
    const checks = await Promise.all(
      events.map((e, i) => (isOutcome(e) ? this.checkOutcome(e, receivedAt, inputs[i]!) : null)),
    );
    const passed: number[] = [];
    checks.forEach((c, i) => {
      if (c === null) passed.push(i);
    });
    const judged = await this.judge(
      passed.map((i) => events[i]!),
      receivedAt,
    );
    passed.forEach((i, k) => {
      checks[i] = judged[k]!;
    });
    return checks as FeedbackVerdict[];
  }

  /**
   * Why an outcome cannot be recorded, or null when it can. A lead may come from someone nobody
   * knows yet: it gets a profile of its own (marked `anonymous`), with the contact data it brings.
   */
  private async checkOutcome(
    e: OutcomeEvent,
    receivedAt: number,
    input: FeedbackInput,
  ): Promise<FeedbackVerdict | null> {
    if (e.at > receivedAt + CLOCK_SKEW_MS)
      return { status: 'conflict', reason: 'timestamp is in the future' };
    const product = e.productId;
    // The pool holds every product the ruleset offers (compile interns them) and the loaded data names.
    if (product !== null && knownIndex(product) < 0)
      return {
        status: 'unknown_product',
        reason: `no product '${product}' in the catalog or the loaded data`,
      };
    // Redis away: the id as it is (the customer loop resolves it again when it applies the event).
    const linked = await this.deps.identities?.resolve(e.customerId).catch(() => null);
    const customerId = linked ?? e.customerId;
    if (e.type === 'lead') {
      await this.recordLead(customerId, isOutcomeInput(input) ? (input.attributes ?? {}) : {});
      return null;
    }
    // A store that could not answer (Redis away: null) does not make a customer unknown: the event is kept.
    if ((await this.deps.profiles.exists(customerId)) === false)
      return { status: 'unknown_customer', reason: `no customer '${e.customerId}'` };
    return null;
  }

  /** A lead's contact data onto its profile, created for a person nobody knew (an anonymous visitor). */
  private async recordLead(
    customerId: string,
    attributes: Readonly<Record<string, AttributeValue>>,
  ): Promise<void> {
    await this.deps.profiles.update(customerId, (current) => {
      const base = current ?? { ...anonymousProfile(customerId), attributes: { anonymous: true } };
      return { ...base, attributes: { ...base.attributes, ...attributes } };
    });
    await this.deps.announceProfileChange?.(customerId);
  }

  /**
   * Judges the events; an unknown decision is judged again after short pauses before it is
   * refused. A decision reaches the shared log a moment after its answer, so feedback sent at once
   * through another server (or worker) can arrive first: the soak bench lost 0.01-0.3 % of events
   * that way with two workers. A made-up decision id costs its sender about 1.4 s.
   */
  private judge(events: readonly SubmittedEvent[], receivedAt: number): Promise<FeedbackVerdict[]> {
    // Nothing else to do for almost every batch: the log's health is read only when some decision is unknown.
    return this.deps.feedbackLog
      .submit(events, receivedAt)
      .then((verdicts) =>
        verdicts.some(isUnknownDecision) ? this.judgeAgain(events, receivedAt, verdicts) : verdicts,
      );
  }

  /** judge()'s pauses and second looks for the events whose decision was unknown. */
  private async judgeAgain(
    events: readonly SubmittedEvent[],
    receivedAt: number,
    verdicts: FeedbackVerdict[],
  ): Promise<FeedbackVerdict[]> {
    // The embedded log records decisions before they are answered: no race to wait out.
    if (this.deps.feedbackLog.health().mode === 'embedded') return verdicts;
    for (const pauseMs of UNKNOWN_DECISION_PAUSES_MS) {
      const unknown: number[] = [];
      verdicts.forEach((v, i) => {
        if (v.status === 'unknown_decision') unknown.push(i);
      });
      if (unknown.length === 0) break;
      await sleep(pauseMs);
      // Only against the shared log itself: judged later from a spool, an event whose decision is
      // still unknown would be acknowledged as queued and then refused at replay.
      if (this.deps.feedbackLog.health().mode !== 'direct') break;
      const again = await this.deps.feedbackLog.submit(
        unknown.map((i) => events[i]!),
        receivedAt,
      );
      unknown.forEach((i, k) => {
        verdicts[i] = again[k]!;
      });
    }
    return verdicts;
  }
}
