import { LRUCache } from 'lru-cache';
import type { ContactEvent } from '../domain/contact.js';
import type { ContactLookback } from '../ruleset/snapshot.js';

/** A customer's recent contacts as read at one revision. */
export interface ContactHistory {
  readonly events: readonly ContactEvent[];
  /** Changes with every append; compare-and-append checks it. Opaque: only compared for equality. */
  readonly revision: string;
  /** True when the store could not be read and this is only what this node saw. */
  readonly degraded: boolean;
}

/** What became of a compare-and-append. */
export type AppendOutcome =
  /** Appended; `degraded`: only to this node's memory, because the shared store was unreachable. */
  | { readonly appended: true; readonly degraded: boolean }
  /** Someone appended since `seen`: nothing was written; decide again on `newer`. */
  | { readonly appended: false; readonly newer: ContactHistory };

/**
 * How long a customer's contact history lives: as long as contact policy looks back (the ruleset in
 * force), and at least a conversion window, for attribution by customer to find the touches.
 */
export function historyRetention(
  lookback: () => ContactLookback,
  conversionMs: number,
): () => ContactLookback {
  return () => {
    const { impressionsMs, reactionsMs } = lookback();
    return {
      impressionsMs: Math.max(impressionsMs, conversionMs),
      reactionsMs: Math.max(reactionsMs, conversionMs),
    };
  };
}

/** Contacts kept per customer, newest: policies look back weeks, not years. */
export const CONTACT_EVENTS_KEPT = 100;

export const APPENDED: AppendOutcome = Object.freeze({ appended: true, degraded: false });

/**
 * Contact history per customer, read by contact policy on every decision. Shown offers are added
 * with compare-and-append: the write succeeds only if nobody appended since the decision read
 * the history, so that two nodes deciding for one customer at once cannot both take the last
 * contact a cap allows; the loser decides again on the newer history.
 */
export interface ContactHistoryStore {
  read(customerId: string): Promise<ContactHistory>;
  /**
   * The history as this node saw it last, without a round trip where the store can avoid one. It
   * may be stale: a decision starts from it, and appendIfUnchanged catches the difference.
   */
  lastSeen(customerId: string): Promise<ContactHistory>;
  /** Appends if the history is still at `seen.revision`; otherwise writes nothing and returns the newer history. */
  appendIfUnchanged(
    customerId: string,
    seen: ContactHistory,
    events: readonly ContactEvent[],
  ): Promise<AppendOutcome>;
  /**
   * Appends whatever the revision (reactions from the feedback log), skipping events already held,
   * so that a redelivered reaction is added once. Rejects when the shared store is unreachable:
   * the feedback consumer then leaves the entry unacknowledged and tries again.
   */
  append(customerId: string, events: readonly ContactEvent[]): Promise<void>;
  erase(customerId: string): Promise<void>;
}

export interface MemoryHistoryOptions {
  /** Customers whose history is kept; the least recently contacted are forgotten first. */
  readonly maxCustomers: number;
  /** Events kept per customer, newest. Policies look back weeks, not years. */
  readonly maxEventsPerCustomer: number;
}

const EMPTY: ContactHistory = Object.freeze({ events: Object.freeze([]), revision: '0', degraded: false });

/**
 * The embedded contact history, and the Redis store's fallback while Redis is down. Bounded (an
 * LRU over customers, a cap per customer) because it must not grow without limit.
 */
export class MemoryContactHistoryStore implements ContactHistoryStore {
  private readonly byCustomer: LRUCache<string, ContactHistory>;

  constructor(
    private readonly options: MemoryHistoryOptions = {
      maxCustomers: 1_000_000,
      maxEventsPerCustomer: CONTACT_EVENTS_KEPT,
    },
  ) {
    this.byCustomer = new LRUCache({ max: options.maxCustomers });
  }

  read(customerId: string): Promise<ContactHistory> {
    // peek: reading must not reorder the LRU; only new contacts make a customer recent.
    return Promise.resolve(this.byCustomer.peek(customerId) ?? EMPTY);
  }

  lastSeen(customerId: string): Promise<ContactHistory> {
    return this.read(customerId);
  }

  appendIfUnchanged(
    customerId: string,
    seen: ContactHistory,
    events: readonly ContactEvent[],
  ): Promise<AppendOutcome> {
    const current = this.byCustomer.peek(customerId) ?? EMPTY;
    if (current.revision !== seen.revision) return Promise.resolve({ appended: false, newer: current });
    this.add(customerId, current, events);
    return Promise.resolve(APPENDED);
  }

  /**
   * Skips events equal to one already held: reactions come from an at-least-once log, and a
   * redelivered accept must not be held twice. Guarded by memory-stores.test.ts "blind append".
   */
  append(customerId: string, events: readonly ContactEvent[]): Promise<void> {
    const current = this.byCustomer.peek(customerId) ?? EMPTY;
    const fresh: ContactEvent[] = [];
    for (const e of events) {
      if (!current.events.some((h) => sameEvent(h, e)) && !fresh.some((h) => sameEvent(h, e))) fresh.push(e);
    }
    if (fresh.length > 0) this.add(customerId, current, fresh);
    return Promise.resolve();
  }

  erase(customerId: string): Promise<void> {
    this.byCustomer.delete(customerId);
    return Promise.resolve();
  }

  /** Keeps the events in time order, the newest `maxEventsPerCustomer`. */
  private add(customerId: string, current: ContactHistory, events: readonly ContactEvent[]): void {
    // A decision appends its touches at its time, after everything held: one copy, no sort.
    let list = inOrderAfter(current.events, events)
      ? current.events.concat(events)
      : [...current.events, ...events].sort((a, b) => a.at - b.at);
    const max = this.options.maxEventsPerCustomer;
    if (list.length > max) list = list.slice(-max);
    this.byCustomer.set(customerId, {
      events: list,
      revision: String(Number(current.revision) + 1),
      degraded: false,
    });
  }
}

/** `events` are in time order and none is older than the last of `held`. */
function inOrderAfter(held: readonly ContactEvent[], events: readonly ContactEvent[]): boolean {
  let last = held.length === 0 ? Number.NEGATIVE_INFINITY : held[held.length - 1]!.at;
  for (const e of events) {
    if (e.at < last) return false;
    last = e.at;
  }
  return true;
}

function sameEvent(a: ContactEvent, b: ContactEvent): boolean {
  return (
    a.at === b.at &&
    a.offerId === b.offerId &&
    a.outcome === b.outcome &&
    a.channel === b.channel &&
    a.campaignId === b.campaignId &&
    a.productId === b.productId &&
    a.placement === b.placement
  );
}
