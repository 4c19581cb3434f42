import type { CustomerProfile } from '../../domain/profile.js';
import type { PopulationSource } from '../population-source.js';
import { type PopulationVersion, readCurrentVersion } from './population-version.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

/** Buckets read at once: enough to hide the round trip, few enough not to crowd out decisions. */
const IN_FLIGHT = 4;
/** A bucket of a few thousand profiles is one reply of a few hundred KB: a generous deadline. */
const TIMEOUT_MS = 10_000;

/**
 * The population version current when a walk starts, bucket by bucket (one HGETALL each, a few
 * in flight): a walk sees one version whole, even if a load flips the pointer meanwhile (the old
 * version's keys outlive the flip by a grace period). Profiles are decoded only when kept.
 */
export class RedisPopulation implements PopulationSource {
  readonly kind = 'redis';

  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  async count(): Promise<number> {
    return (await readCurrentVersion(this.redis, this.keys, TIMEOUT_MS))?.meta.customers ?? 0;
  }

  async *pages(keep: (customerId: string) => boolean): AsyncIterable<readonly CustomerProfile[]> {
    const population = await readCurrentVersion(this.redis, this.keys, TIMEOUT_MS);
    if (population === null) return;
    const buckets = population.meta.buckets;
    const reads: Promise<Buffer[]>[] = [];
    let next = 0;
    const more = () => {
      while (reads.length < IN_FLIGHT && next < buckets) reads.push(this.bucket(population, next++));
    };
    more();
    while (reads.length > 0) {
      const flat = await reads.shift()!;
      more();
      const page = decodeKept(population, flat, keep);
      if (page.length > 0) yield page;
    }
  }

  private bucket(population: PopulationVersion, bucket: number): Promise<Buffer[]> {
    const key = population.bucketKey(this.keys, bucket);
    return this.redis.send<Buffer[]>(key, ['HGETALL', key], { buffers: true, timeoutMs: TIMEOUT_MS });
  }
}

function decodeKept(
  population: PopulationVersion,
  flat: readonly Buffer[],
  keep: (customerId: string) => boolean,
): CustomerProfile[] {
  const page: CustomerProfile[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const id = flat[i]!.toString();
    if (keep(id)) page.push(population.codec.decode(id, flat[i + 1]!));
  }
  return page;
}
