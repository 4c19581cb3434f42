import { LRUCache } from 'lru-cache';
import type { ContactEvent } from '../domain/contact.js';

/** Contact history per customer, read by contact policy on every decision. */
export interface ContactHistoryStore {
  recent(customerId: string): Promise<readonly ContactEvent[]>;
  record(customerId: string, events: readonly ContactEvent[]): Promise<void>;
  erase(customerId: string): Promise<void>;
}

export interface MemoryHistoryOptions {
  /** Customers whose history is kept; the least recently contacted are forgotten first. */
  readonly maxCustomers: number;
  /** Events kept per customer, newest. Policies look back weeks, not years. */
  readonly maxEventsPerCustomer: number;
}

const NONE: readonly ContactEvent[] = Object.freeze([]);

/**
 * The embedded contact history. Bounded (an LRU over customers, a cap per customer) because an
 * embedded server must not grow without limit; Redis keeps the durable history in production.
 */
export class MemoryContactHistoryStore implements ContactHistoryStore {
  private readonly byCustomer: LRUCache<string, ContactEvent[]>;

  constructor(
    private readonly options: MemoryHistoryOptions = { maxCustomers: 1_000_000, maxEventsPerCustomer: 100 },
  ) {
    this.byCustomer = new LRUCache({ max: options.maxCustomers });
  }

  recent(customerId: string): Promise<readonly ContactEvent[]> {
    // peek: reading must not reorder the LRU; only new contacts make a customer recent.
    return Promise.resolve(this.byCustomer.peek(customerId) ?? NONE);
  }

  record(customerId: string, events: readonly ContactEvent[]): Promise<void> {
    const list = [...(this.byCustomer.peek(customerId) ?? []), ...events].sort((a, b) => a.at - b.at);
    this.byCustomer.set(customerId, list.slice(-this.options.maxEventsPerCustomer));
    return Promise.resolve();
  }

  erase(customerId: string): Promise<void> {
    this.byCustomer.delete(customerId);
    return Promise.resolve();
  }
}
