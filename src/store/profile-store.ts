import type { CustomerProfile } from '../domain/profile.js';

export interface ProfileLookup {
  /** Null: nobody by that id; the caller serves the anonymous profile. */
  readonly profile: CustomerProfile | null;
  /** True when the store could not answer fully (e.g. Redis slow) and the answer may be stale or missing. */
  readonly degraded: boolean;
}

/** A change to one profile: the new profile from the current one (null: none), or null to erase it. */
export type ProfileChange = (current: CustomerProfile | null) => CustomerProfile | null;

/**
 * Where customer profiles live: the embedded store, Redis, or Redis behind a memory tier. Routes
 * and services never know which one they talk to.
 */
export interface ProfileStore {
  readonly kind: string;
  get(customerId: string): Promise<ProfileLookup>;
  /**
   * Whether the customer exists, without decoding the profile (outcome intake checks every event's
   * customer); null when the store cannot tell now (Redis unreachable).
   */
  exists(customerId: string): Promise<boolean | null>;
  /**
   * Applies `change` atomically: if another writer changed the profile meanwhile, `change` runs
   * again on the newer profile. Returns the profile as stored (null: erased or never existed).
   */
  update(customerId: string, change: ProfileChange): Promise<CustomerProfile | null>;
  /** Erases the customer; true when there was one. */
  delete(customerId: string): Promise<boolean>;
  count(): Promise<number>;
  close(): Promise<void>;
}
