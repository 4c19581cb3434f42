import { LRUCache } from 'lru-cache';
import type { ContactHistoryStore } from '../../store/contact-history-store.js';
import {
  ACCEPTED,
  type AttributionWindows,
  CLOCK_SKEW_MS,
  type DecisionFacts,
  judge,
  type OfferFacts,
  TERMINAL,
} from '../attribution.js';
import { contactEventOf, countersOf, FeedbackStats } from '../feedback-effects.js';
import {
  type DecisionLogEntry,
  type FeedbackEvent,
  type FeedbackVerdict,
  isOutcome,
  type LogEntry,
  type OutcomeEvent,
  type SubmittedEvent,
} from '../feedback-event.js';
import { type CustomerLoop, concernsCustomer } from './customer-loop.js';
import type { FeedbackLog, FeedbackLogHealth } from './feedback-log.js';
import type { PseudonymOf } from './log-erasure.js';

/**
 * A decision as the embedded log remembers it. Decisions are many and feedback is rare, so a
 * record holds the logged entry itself, and what attribution needs is built at the first event.
 */
interface DecisionRecord {
  readonly entry: DecisionLogEntry;
  facts: DecisionFacts | null;
  reactions: Reactions | null;
}

/** What was recorded against a decision. */
interface Reactions {
  readonly events: Set<string>;
  /** Offer id → its terminal reaction. */
  readonly terminal: Map<string, FeedbackEvent['type']>;
  /** `offerId|type` of the non-terminal reactions recorded. */
  readonly once: Set<string>;
}

export interface MemoryFeedbackLogOptions {
  readonly windows: AttributionWindows;
  /** Decisions remembered for attribution; the oldest are forgotten first. */
  readonly maxDecisions: number;
  /** Log entries kept for inspection, newest. */
  readonly maxEntries: number;
  readonly clock: () => number;
  /** What outcomes and conversions do to their customer; none: counters and contact history only. */
  readonly loop?: CustomerLoop | undefined;
}

const HEALTH: FeedbackLogHealth = Object.freeze({
  mode: 'embedded',
  spool: Object.freeze({ segments: 0, bytes: 0, openLines: 0 }),
  decisionsLost: 0,
});

/**
 * The feedback log of the embedded store (the demo and single-node trials): the same judgement
 * (attribution.ts) and the same effects (feedback-effects.ts) as with Redis, applied at once in
 * memory. Bounded, and gone with the process, like the embedded store itself.
 */
export class MemoryFeedbackLog implements FeedbackLog {
  readonly stats = new FeedbackStats();
  private readonly decisions: LRUCache<string, DecisionRecord>;
  /** Outcome event ids seen, for the conversion window (like the Redis intake's records). */
  private readonly outcomeIds: LRUCache<string, true>;
  /** The newest entries, a ring: `next` is where the next one goes (over the oldest, once full). */
  private readonly recent: LogEntry[] = [];
  private next = 0;

  constructor(
    private readonly history: ContactHistoryStore,
    private readonly options: MemoryFeedbackLogOptions,
  ) {
    this.decisions = new LRUCache({ max: options.maxDecisions, ttlAutopurge: false });
    this.outcomeIds = new LRUCache({
      max: options.maxDecisions,
      ttl: options.windows.conversionMs + CLOCK_SKEW_MS,
      ttlAutopurge: false,
      perf: { now: options.clock },
    });
  }

  recordDecision(entry: DecisionLogEntry): void {
    // Like a Redis decision record: remembered until the conversion window of its decision ends.
    const ttl = entry.at + this.options.windows.conversionMs + CLOCK_SKEW_MS - this.options.clock();
    if (entry.offers.length + entry.heldOut.length > 0 && ttl > 0) {
      this.decisions.set(entry.decisionId, { entry, facts: null, reactions: null }, { ttl });
    }
    this.apply({ kind: 'decision', decision: entry });
  }

  async submit(events: readonly SubmittedEvent[], receivedAt: number): Promise<FeedbackVerdict[]> {
    const verdicts: FeedbackVerdict[] = [];
    for (const event of events) {
      if (isOutcome(event)) {
        verdicts.push(await this.submitOutcome(event));
        continue;
      }
      const record = this.decisions.get(event.decisionId) ?? null;
      const facts = record === null ? null : factsOfRecord(record);
      const reactions = record?.reactions ?? null;
      const verdict = judge(
        event,
        facts,
        {
          seen: reactions?.events.has(event.eventId) ?? false,
          terminal: reactions?.terminal.get(event.offerId) ?? null,
          repeated: reactions?.once.has(`${event.offerId}|${event.type}`) ?? false,
        },
        this.options.windows,
        receivedAt,
      );
      verdicts.push(verdict);
      if (verdict.status !== 'accepted' || record === null || facts === null) continue;
      const recorded = reactionsOfRecord(record);
      recorded.events.add(event.eventId);
      if (TERMINAL.has(event.type)) recorded.terminal.set(event.offerId, event.type);
      else recorded.once.add(`${event.offerId}|${event.type}`);
      const offer = facts.offers.get(event.offerId)!;
      const entry: LogEntry = { kind: 'feedback', event, attribution: { channel: facts.channel, ...offer } };
      await this.applyContact(entry);
      await this.applyToCustomer(entry);
      this.apply(entry);
    }
    return verdicts;
  }

  private async submitOutcome(event: OutcomeEvent): Promise<FeedbackVerdict> {
    if (this.outcomeIds.has(event.eventId))
      return { status: 'duplicate', reason: `event ${event.eventId} was recorded before` };
    this.outcomeIds.set(event.eventId, true);
    const entry: LogEntry = { kind: 'outcome', event };
    await this.applyToCustomer(entry);
    this.apply(entry);
    return ACCEPTED;
  }

  private async applyToCustomer(entry: LogEntry): Promise<void> {
    if (this.options.loop !== undefined && concernsCustomer(entry))
      this.stats.add(await this.options.loop.apply(entry));
  }

  /** The newest log entries, oldest first. */
  entries(): readonly LogEntry[] {
    return [...this.recent.slice(this.next), ...this.recent.slice(0, this.next)];
  }

  health(): FeedbackLogHealth {
    return HEALTH;
  }

  /**
   * Erasure (docs/decisions/0009-erasure.md): the person's decision records go (nothing may be
   * attributed to them any more), and their entries kept for inspection get the pseudonym. The
   * counters hold no ids and stay. Answers how many entries and records were changed.
   */
  forget(pseudonymOf: PseudonymOf): number {
    const doomed: string[] = [];
    for (const [decisionId, record] of this.decisions.entries()) {
      if (pseudonymOf(record.entry.customerId) !== null) doomed.push(decisionId);
    }
    for (const decisionId of doomed) this.decisions.delete(decisionId);
    let changed = doomed.length;
    for (let i = 0; i < this.recent.length; i++) {
      const entry = this.recent[i]!;
      const customerId = entry.kind === 'decision' ? entry.decision.customerId : entry.event.customerId;
      const pseudonym = pseudonymOf(customerId);
      if (pseudonym === null) continue;
      this.recent[i] = pseudonymised(entry, pseudonym);
      changed++;
    }
    return changed;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private apply(entry: LogEntry): void {
    this.stats.add(countersOf(entry));
    this.recent[this.next] = entry;
    this.next = (this.next + 1) % this.options.maxEntries;
  }

  private async applyContact(entry: LogEntry): Promise<void> {
    const contact = contactEventOf(entry);
    if (contact === null) return;
    const customerId = (await this.options.loop?.resolve(contact.customerId)) ?? contact.customerId;
    await this.history.append(customerId, [contact.event]);
  }
}

function pseudonymised(entry: LogEntry, customerId: string): LogEntry {
  if (entry.kind === 'decision') return { ...entry, decision: { ...entry.decision, customerId } };
  if (entry.kind === 'outcome') return { ...entry, event: { ...entry.event, customerId } };
  return { ...entry, event: { ...entry.event, customerId } };
}

function factsOf(entry: DecisionLogEntry): DecisionFacts {
  const offers = new Map<string, OfferFacts>();
  // A test's arm goes with each offer into the attribution, as the Redis intake copies it from the tag.
  const arm = entry.arm === undefined ? {} : { arm: entry.arm };
  for (const o of entry.offers)
    offers.set(o.offerId, { campaignId: o.campaignId, segmentId: o.segmentId, heldOut: false, ...arm });
  for (const o of entry.heldOut)
    offers.set(o.offerId, { campaignId: o.campaignId, segmentId: o.segmentId, heldOut: true, ...arm });
  return { customerId: entry.customerId, channel: entry.channel, at: entry.at, offers };
}

function factsOfRecord(record: DecisionRecord): DecisionFacts {
  if (record.facts === null) record.facts = factsOf(record.entry);
  return record.facts;
}

function reactionsOfRecord(record: DecisionRecord): Reactions {
  if (record.reactions === null)
    record.reactions = { events: new Set(), terminal: new Map(), once: new Set() };
  return record.reactions;
}
