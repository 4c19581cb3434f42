import type { ContactEvent } from '../domain/contact.js';
import {
  APPENDED,
  type AppendOutcome,
  type ContactHistory,
  type ContactHistoryStore,
} from './contact-history-store.js';
import type { ErasedIds } from './erased-ids.js';

/**
 * The contact history, with nothing appended for an erased id or a pseudonym: a decision or a
 * reaction in flight when its customer was erased must not create their keys again
 * (docs/decisions/0009-erasure.md). Every writer of contacts (decisions, feedback consumers, the
 * customer loop) is given this one. Reads pass through.
 */
export class ErasureGuardedHistory implements ContactHistoryStore {
  constructor(
    private readonly inner: ContactHistoryStore,
    private readonly erased: ErasedIds,
  ) {}

  read(customerId: string): Promise<ContactHistory> {
    return this.inner.read(customerId);
  }

  lastSeen(customerId: string): Promise<ContactHistory> {
    return this.inner.lastSeen(customerId);
  }

  appendIfUnchanged(
    customerId: string,
    seen: ContactHistory,
    events: readonly ContactEvent[],
  ): Promise<AppendOutcome> {
    if (this.erased.covers(customerId)) return Promise.resolve(APPENDED);
    return this.inner.appendIfUnchanged(customerId, seen, events);
  }

  append(customerId: string, events: readonly ContactEvent[]): Promise<void> {
    if (this.erased.covers(customerId)) return Promise.resolve();
    return this.inner.append(customerId, events);
  }

  erase(customerId: string): Promise<void> {
    return this.inner.erase(customerId);
  }
}
