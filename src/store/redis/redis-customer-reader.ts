import type { CustomerRead, CustomerReader } from '../customer-reader.js';
import type { TieredProfileStore } from '../tiered-profile-store.js';
import type { RedisContactHistoryStore } from './redis-contact-history-store.js';
import type { RedisProfileStore } from './redis-profile-store.js';

/**
 * A decision's reads of its customer: the profile (memory tier, else Redis) and the contact history
 * to decide on. The history is this node's last view of it (ADR 0002); when the profile has to come
 * from Redis anyway, the same call checks that view against the history's revision in Redis and
 * brings the newer events when another server (or a feedback consumer) appended meanwhile, so the
 * compare-and-append that follows fails only on a race, not on a stale view: no decision taken twice,
 * no round trip more. A profile from the memory tier costs no round trip, and the history stays
 * the view this node holds, as before. On a cluster the bucket and the history live in different
 * slots: the profile alone is read, as the store does.
 */
export class RedisCustomerReader implements CustomerReader {
  private readonly combined: boolean;

  constructor(
    private readonly tier: TieredProfileStore,
    private readonly profiles: RedisProfileStore,
    private readonly history: RedisContactHistoryStore,
  ) {
    this.combined = profiles.checksHistory;
  }

  read(customerId: string): Promise<CustomerRead> {
    const history = this.history;
    if (!this.combined) {
      return this.tier
        .get(customerId)
        .then((lookup) => ({ lookup, history: history.seenOrNever(customerId) }));
    }
    const seen = history.seenOrNever(customerId);
    const lookup = this.tier.get(customerId, () =>
      this.profiles.getWithHistory(customerId, history.probeOf(customerId, seen)).then((read) => {
        history.adopt(customerId, seen, read.revision, read.events);
        return read.lookup;
      }),
    );
    // This node's view once the profile is here: what the check brought, or what a read in flight
    // for the same customer (single flight), or an append meanwhile, left there.
    return lookup.then((l) => ({ lookup: l, history: history.seenOrNever(customerId) }));
  }
}
