import { LRUCache } from 'lru-cache';
import type { CustomerProfile } from '../domain/profile.js';
import type { ProfileChange, ProfileLookup, ProfileStore } from './profile-store.js';

export interface TieredOptions {
  /** Memory budget of the tier in bytes, estimated per profile. */
  readonly maxBytes: number;
}

interface Flight {
  readonly promise: Promise<ProfileLookup>;
}

/**
 * A bounded memory tier in front of a slower store (Redis). Concurrent misses of one customer share
 * one read (single flight); a read that fails or is late answers null with `degraded: true`, and is
 * not cached. invalidate() and clear() are called when another node or a bulk load changed data; a
 * read that was in flight when that happened does not put its (older) answer in the tier.
 */
export class TieredProfileStore implements ProfileStore {
  readonly kind: string;
  /**
   * Settled lookups, kept as the resolved promises get() returns: a hit allocates nothing. Unknown
   * customers are kept too, so unknown visitors do not cost a Redis call each time.
   */
  private readonly cache: LRUCache<string, Promise<ProfileLookup>>;
  private readonly flights = new Map<string, Flight>();
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly backing: ProfileStore,
    options: TieredOptions,
  ) {
    this.kind = `${backing.kind}+memory`;
    this.cache = new LRUCache<string, Promise<ProfileLookup>>({ maxSize: options.maxBytes });
  }

  /**
   * From the tier, else read from the backing store; or, if given, by `read` (a read of the backing
   * store that brings something else along: see RedisCustomerReader), with the same single flight.
   */
  get(customerId: string, read?: () => Promise<ProfileLookup>): Promise<ProfileLookup> {
    const cached = this.cache.get(customerId);
    if (cached !== undefined) {
      this.hits++;
      return cached;
    }
    // Intentionally one shared Promise: concurrent requests for a cold customer share one Redis
    // read. Guarded by redis-tier.int.test.ts "single flight".
    const existing = this.flights.get(customerId);
    if (existing !== undefined) return existing.promise;
    this.misses++;
    const promise = (read === undefined ? this.backing.get(customerId) : read()).then(
      (lookup) => {
        // Only the flight still registered may fill the tier: invalidate() or clear() since it
        // started means its answer may be older than the data now.
        if (this.flights.get(customerId) === flight) {
          this.flights.delete(customerId);
          if (!lookup.degraded) {
            this.cache.set(customerId, promise, { size: estimateBytes(lookup.profile, customerId) });
          }
        }
        return lookup;
      },
      () => {
        if (this.flights.get(customerId) === flight) this.flights.delete(customerId);
        return DEGRADED;
      },
    );
    const flight: Flight = { promise };
    this.flights.set(customerId, flight);
    return promise;
  }

  /** From the tier when it holds the customer (or knows there is none), else asked of the backing store. */
  async exists(customerId: string): Promise<boolean | null> {
    const cached = this.cache.get(customerId);
    if (cached !== undefined) return (await cached).profile !== null;
    try {
      return await this.backing.exists(customerId);
    } catch {
      return null;
    }
  }

  async update(customerId: string, change: ProfileChange): Promise<CustomerProfile | null> {
    const next = await this.backing.update(customerId, change);
    this.invalidate(customerId);
    return next;
  }

  async delete(customerId: string): Promise<boolean> {
    const existed = await this.backing.delete(customerId);
    this.invalidate(customerId);
    return existed;
  }

  /** Forgets one customer, here and in any read in flight. */
  invalidate(customerId: string): void {
    this.cache.delete(customerId);
    this.flights.delete(customerId);
  }

  /** Forgets everything (a new population version, or pub/sub messages possibly missed). */
  clear(): void {
    this.cache.clear();
    this.flights.clear();
  }

  stats(): { entries: number; bytes: number; hits: number; misses: number } {
    return {
      entries: this.cache.size,
      bytes: this.cache.calculatedSize,
      hits: this.hits,
      misses: this.misses,
    };
  }

  count(): Promise<number> {
    return this.backing.count();
  }

  close(): Promise<void> {
    this.clear();
    return this.backing.close();
  }
}

const DEGRADED: ProfileLookup = { profile: null, degraded: true };

/**
 * A rough size of a decoded profile: object headers, the id, and per attribute, holding and
 * affinity. It only needs to be proportional, so that the budget bounds memory.
 */
function estimateBytes(entry: CustomerProfile | null, id: string): number {
  if (entry === null) return 64 + id.length * 2;
  let attributes = 0;
  for (const key in entry.attributes) {
    const value = entry.attributes[key];
    attributes += 48 + key.length + (typeof value === 'string' ? 16 + value.length * 2 : 0);
  }
  return 400 + id.length * 2 + attributes + entry.holdings.size * 40 + entry.affinities.size * 24;
}
