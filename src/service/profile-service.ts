import { knownId } from '../domain/intern.js';
import { type CustomerProfile, type ProfileRecord, profileFromRecord } from '../domain/profile.js';
import { applyPatch, type ProfilePatch } from '../domain/profile-patch.js';
import { NotFoundError } from '../errors.js';
import type { ContactHistoryStore } from '../store/contact-history-store.js';
import type { IdentityStore } from '../store/identity-store.js';
import type { LearnedFactsStore } from '../store/learned-facts-store.js';
import type { PhoneDirectory } from '../store/phone-directory.js';
import type { ProfileStore } from '../store/profile-store.js';

export interface ProfileServiceDeps {
  readonly profiles: ProfileStore;
  readonly history: ContactHistoryStore;
  /** What outcomes taught about the customer: erased with the profile, or a later load would apply it again. */
  readonly learned: LearnedFactsStore;
  /** Erasing a customer erases every anonymous id linked to them, and what those ids did. */
  readonly identities: IdentityStore;
  /** Tells every server to forget its memory copy of the customer (a no-op for the embedded store). */
  readonly announceProfileChange: (customerId: string) => Promise<void>;
  readonly phones: PhoneDirectory;
  /** Lifts an erased id's tombstone: a PUT after an erasure begins a new relationship (ADR 0009). */
  readonly liftTombstone?: ((customerId: string) => Promise<void>) | undefined;
}

/** Real-time profile changes from the CRM, and erasure. */
export class ProfileService {
  constructor(private readonly deps: ProfileServiceDeps) {}

  /** Creates or replaces the whole profile. */
  async replace(customerId: string, record: Omit<ProfileRecord, 'id'>): Promise<CustomerProfile> {
    const profile = profileFromRecord({ ...record, id: customerId }, knownId);
    await this.deps.liftTombstone?.(customerId);
    await this.deps.profiles.update(customerId, () => profile);
    await Promise.all([this.deps.announceProfileChange(customerId), this.deps.phones.record(profile)]);
    return profile;
  }

  /** Changes part of a known profile; 404 for a customer nobody knows. */
  async patch(customerId: string, patch: ProfilePatch): Promise<CustomerProfile> {
    const next = await this.deps.profiles.update(customerId, (current) =>
      current === null ? null : applyPatch(current, patch),
    );
    if (next === null) throw new NotFoundError(`no customer '${customerId}'`);
    await Promise.all([this.deps.announceProfileChange(customerId), this.deps.phones.record(next)]);
    return next;
  }

  /**
   * Erases profile, affinities, contact history and learned facts, and the same of every anonymous
   * id linked to the customer, with the links; afterwards the customer is served as anonymous.
   */
  async erase(customerId: string): Promise<{ erased: boolean }> {
    const linked = await this.deps.identities.erase(customerId);
    const ids = [customerId, ...linked];
    const existed = await Promise.all(ids.map((id) => this.eraseOne(id)));
    return { erased: existed[0]! };
  }

  private async eraseOne(id: string): Promise<boolean> {
    const [existed] = await Promise.all([
      this.deps.profiles.delete(id),
      this.deps.history.erase(id),
      this.deps.learned.erase(id),
    ]);
    await this.deps.announceProfileChange(id);
    return existed;
  }
}
