import type { CustomerProfile } from '../domain/profile.js';

/**
 * Phone numbers of customers (the profile attribute `phone`), so that telephony can name a caller by
 * number. Entries are never trusted alone: a lookup is confirmed against the profile (see
 * CallService), so an entry left behind by a changed or erased profile does no harm.
 */
export interface PhoneDirectory {
  /** The customer last recorded with this (normalised) number, or null. */
  lookup(phone: string): Promise<string | null>;
  /** Records the profile's number, if it has one. */
  record(profile: CustomerProfile): Promise<void>;
  /** Erasure: removes the number if it names one of `customerIds` (and, in memory, any number that does). */
  forget(phone: string | null, customerIds: readonly string[]): Promise<void>;
}

const PHONE = /^\+?\d{4,20}$/;
const SEPARATORS = /[\s().-]/g;

/** `+1 (555) 000-0042` → `+15550000042`; null for something that is no phone number. */
export function normalizePhone(raw: string): string | null {
  const phone = raw.replace(SEPARATORS, '');
  return PHONE.test(phone) ? phone : null;
}

/** The profile's normalised number, or null. */
export function phoneOf(profile: CustomerProfile): string | null {
  const phone = profile.attributes.phone;
  return typeof phone === 'string' ? normalizePhone(phone) : null;
}

export class MemoryPhoneDirectory implements PhoneDirectory {
  private readonly numbers = new Map<string, string>();

  constructor(profiles: Iterable<CustomerProfile> = []) {
    for (const profile of profiles) this.add(profile);
  }

  lookup(phone: string): Promise<string | null> {
    return Promise.resolve(this.numbers.get(phone) ?? null);
  }

  record(profile: CustomerProfile): Promise<void> {
    this.add(profile);
    return Promise.resolve();
  }

  forget(_phone: string | null, customerIds: readonly string[]): Promise<void> {
    const ids = new Set(customerIds);
    for (const [phone, id] of this.numbers) if (ids.has(id)) this.numbers.delete(phone);
    return Promise.resolve();
  }

  private add(profile: CustomerProfile): void {
    const phone = phoneOf(profile);
    if (phone !== null) this.numbers.set(phone, profile.id);
  }
}
