import type { CustomerProfile } from '../domain/profile.js';
import type { ProfileChange, ProfileLookup, ProfileStore } from './profile-store.js';

/** The embedded store: every profile in one Map. It is the data, not a cache of it, so nothing is evicted. */
export class MemoryProfileStore implements ProfileStore {
  readonly kind = 'embedded';
  private readonly profiles = new Map<string, CustomerProfile>();

  constructor(profiles: Iterable<CustomerProfile> = []) {
    for (const p of profiles) this.profiles.set(p.id, p);
  }

  get(customerId: string): Promise<ProfileLookup> {
    return Promise.resolve({ profile: this.profiles.get(customerId) ?? null, degraded: false });
  }

  exists(customerId: string): Promise<boolean> {
    return Promise.resolve(this.profiles.has(customerId));
  }

  update(customerId: string, change: ProfileChange): Promise<CustomerProfile | null> {
    // Synchronous between read and write, so no other writer can interleave.
    const next = change(this.profiles.get(customerId) ?? null);
    if (next === null) this.profiles.delete(customerId);
    else this.profiles.set(customerId, next);
    return Promise.resolve(next);
  }

  delete(customerId: string): Promise<boolean> {
    return Promise.resolve(this.profiles.delete(customerId));
  }

  count(): Promise<number> {
    return Promise.resolve(this.profiles.size);
  }

  /** Every profile, in the order they were first stored (a what-if walks the population). */
  values(): IterableIterator<CustomerProfile> {
    return this.profiles.values();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
