import { type LearnedFacts, NO_FACTS } from '../learning/profile-learning.js';

/**
 * What outcomes taught about each customer (learning/profile-learning.ts), kept apart from the
 * profile so that a bulk load, which replaces profiles, can have them applied again.
 */
/** Facts as read, with what a compare-and-set compares: opaque to callers. */
export interface VersionedFacts {
  readonly facts: LearnedFacts;
  readonly version: unknown;
}

export interface LearnedFactsStore {
  get(customerId: string): Promise<LearnedFacts>;
  read(customerId: string): Promise<VersionedFacts>;
  /** Writes `next` if the facts are still those `read` saw; false (nothing written) when they changed. */
  replace(customerId: string, read: VersionedFacts, next: LearnedFacts): Promise<boolean>;
  /**
   * Applies `change` atomically: if another writer changed the facts meanwhile, `change` runs
   * again on the newer ones. Returns the facts as stored.
   */
  update(customerId: string, change: (current: LearnedFacts) => LearnedFacts): Promise<LearnedFacts>;
  erase(customerId: string): Promise<void>;
  /** Every customer with facts, for a bulk load to apply them again. */
  each(visit: (customerId: string, facts: LearnedFacts) => Promise<void>): Promise<number>;
}

/** The embedded store's: a map, as long as the process lives (like the embedded profiles). */
export class MemoryLearnedFactsStore implements LearnedFactsStore {
  private readonly byCustomer = new Map<string, LearnedFacts>();

  get(customerId: string): Promise<LearnedFacts> {
    return Promise.resolve(this.byCustomer.get(customerId) ?? NO_FACTS);
  }

  read(customerId: string): Promise<VersionedFacts> {
    const facts = this.byCustomer.get(customerId) ?? NO_FACTS;
    return Promise.resolve({ facts, version: facts });
  }

  replace(customerId: string, read: VersionedFacts, next: LearnedFacts): Promise<boolean> {
    if ((this.byCustomer.get(customerId) ?? NO_FACTS) !== read.version) return Promise.resolve(false);
    this.byCustomer.set(customerId, next);
    return Promise.resolve(true);
  }

  update(customerId: string, change: (current: LearnedFacts) => LearnedFacts): Promise<LearnedFacts> {
    const next = change(this.byCustomer.get(customerId) ?? NO_FACTS);
    if (next !== NO_FACTS) this.byCustomer.set(customerId, next);
    return Promise.resolve(next);
  }

  erase(customerId: string): Promise<void> {
    this.byCustomer.delete(customerId);
    return Promise.resolve();
  }

  async each(visit: (customerId: string, facts: LearnedFacts) => Promise<void>): Promise<number> {
    for (const [id, facts] of this.byCustomer) await visit(id, facts);
    return this.byCustomer.size;
  }
}
