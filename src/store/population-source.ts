import type { CustomerProfile } from '../domain/profile.js';
import type { MemoryProfileStore } from './memory-profile-store.js';

/**
 * The whole population, read page by page: what a what-if walks (service/what-if-service.ts).
 * Decisions read one customer at a time through ProfileStore; this reads all of them once, in a
 * fixed order, and decodes only the customers `keep` selects by id.
 */
export interface PopulationSource {
  readonly kind: string;
  /** Customers in the population now. */
  count(): Promise<number>;
  pages(keep: (customerId: string) => boolean): AsyncIterable<readonly CustomerProfile[]>;
}

/** Profiles per page of the embedded population: a few milliseconds of decisions. */
const PAGE = 1024;

/** The embedded store's profiles, in the order they were loaded. */
export class MemoryPopulation implements PopulationSource {
  readonly kind = 'embedded';

  constructor(private readonly store: MemoryProfileStore) {}

  count(): Promise<number> {
    return this.store.count();
  }

  async *pages(keep: (customerId: string) => boolean): AsyncIterable<readonly CustomerProfile[]> {
    let page: CustomerProfile[] = [];
    for (const profile of this.store.values()) {
      if (!keep(profile.id)) continue;
      page.push(profile);
      if (page.length === PAGE) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }
}
