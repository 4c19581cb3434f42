import type { ContactHistory } from './contact-history-store.js';
import type { ProfileLookup } from './profile-store.js';

/** What a decision reads of its customer before it decides. */
export interface CustomerRead {
  readonly lookup: ProfileLookup;
  readonly history: ContactHistory;
}

/**
 * A decision's reads of its customer in one go, where a store can do better than reading the
 * profile and the history apart (Redis: one call that also checks this server's view of the
 * history; store/redis/redis-customer-reader.ts).
 */
export interface CustomerReader {
  read(customerId: string): Promise<CustomerRead>;
}
