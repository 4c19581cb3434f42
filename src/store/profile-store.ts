import type { CustomerProfile } from '../domain/profile.js';

export interface ProfileLookup {
  /** Null: nobody by that id; the caller serves the anonymous profile. */
  readonly profile: CustomerProfile | null;
  /** True when the store could not answer fully (e.g. Redis slow) and the answer may be stale or missing. */
  readonly degraded: boolean;
}

/**
 * Where customer profiles live. The embedded store implements it now; the Redis and tiered stores
 * implement the same interface, so routes and services never know which one they talk to.
 */
export interface ProfileStore {
  readonly kind: string;
  get(customerId: string): Promise<ProfileLookup>;
  put(profile: CustomerProfile): Promise<void>;
  /** Erases the customer; true when there was one. */
  delete(customerId: string): Promise<boolean>;
  count(): Promise<number>;
  close(): Promise<void>;
}
