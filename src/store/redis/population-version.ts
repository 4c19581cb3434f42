import { stableHash32 } from '../../domain/stable-hash.js';
import { ProfileCodec, SymbolDictionary } from '../profile-codec.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import { bucketTag, slotBucketOf } from './slot-placement.js';

/** What a bulk load writes next to its profiles, and servers read when they switch to it. */
export interface PopulationMeta {
  readonly version: number;
  /** Profiles are spread over this many hashes. */
  readonly buckets: number;
  /**
   * How a customer's bucket is chosen: `slot`, along the cluster slots, next to the customer's
   * other keys (slot-placement.ts); absent (versions loaded before it), a hash of the id.
   */
  readonly placement?: 'slot';
  /** Symbols the profiles of this version are encoded with; fixed once the version is served. */
  readonly dictionary: readonly string[];
  readonly customers: number;
  readonly loadedAt: string;
  readonly source: string;
}

/** A population version as a server uses it: where each customer is and how to decode them. */
export class PopulationVersion {
  readonly codec: ProfileCodec;

  constructor(readonly meta: PopulationMeta) {
    this.codec = new ProfileCodec(SymbolDictionary.from(meta.dictionary));
  }

  get version(): number {
    return this.meta.version;
  }

  bucketOf(customerId: string): number {
    const { buckets, placement } = this.meta;
    return placement === 'slot' ? slotBucketOf(customerId, buckets) : bucketOf(customerId, buckets);
  }

  /** The key of the bucket that holds `customerId`. */
  bucketKeyOf(keys: RedisKeys, customerId: string): string {
    return this.bucketKey(keys, this.bucketOf(customerId));
  }

  /** The key of bucket `bucket`. */
  bucketKey(keys: RedisKeys, bucket: number): string {
    return bucketKey(keys, this.meta, bucket);
  }
}

/** The key of bucket `bucket` of a version: tagged into its first slot, or untagged before placement. */
export function bucketKey(
  keys: RedisKeys,
  meta: Pick<PopulationMeta, 'version' | 'buckets' | 'placement'>,
  bucket: number,
): string {
  const tag = meta.placement === 'slot' ? bucketTag(bucket, meta.buckets) : null;
  return keys.bucket(meta.version, bucket, tag);
}

/** A hash of the id into `buckets`: phone buckets, and the buckets of versions loaded before slot placement. */
export function bucketOf(customerId: string, buckets: number): number {
  return stableHash32(customerId) % buckets;
}

/** Buckets of an empty population created by the first API write before any bulk load. */
const EMPTY_POPULATION_BUCKETS = 1024;

/** The number of the version servers should serve now, or null before the first load. */
export async function readCurrentVersionNumber(
  redis: RedisConnection,
  keys: RedisKeys,
  timeoutMs?: number,
): Promise<number | null> {
  const pointer = keys.currentVersion();
  const current = await redis.send<string | null>(
    pointer,
    ['GET', pointer],
    timeoutMs === undefined ? {} : { timeoutMs },
  );
  return current === null ? null : Number(current);
}

/** The version servers should serve now, or null before the first load. */
export async function readCurrentVersion(
  redis: RedisConnection,
  keys: RedisKeys,
  timeoutMs?: number,
): Promise<PopulationVersion | null> {
  const current = await readCurrentVersionNumber(redis, keys, timeoutMs);
  return current === null ? null : readVersion(redis, keys, current, timeoutMs);
}

export async function readVersion(
  redis: RedisConnection,
  keys: RedisKeys,
  version: number,
  timeoutMs?: number,
): Promise<PopulationVersion> {
  const metaKey = keys.versionMeta(version);
  const options = timeoutMs === undefined ? {} : { timeoutMs };
  const json = await redis.send<string | null>(metaKey, ['GET', metaKey], options);
  if (json === null) throw new Error(`population version ${version} has no meta (${metaKey})`);
  return new PopulationVersion(JSON.parse(json) as PopulationMeta);
}

/**
 * The version to write an API change to: the current one, or a new empty one when nothing was
 * ever loaded (SET NX, so that two servers doing this at once agree on one).
 */
export async function currentOrEmptyVersion(
  redis: RedisConnection,
  keys: RedisKeys,
): Promise<PopulationVersion> {
  const existing = await readCurrentVersion(redis, keys);
  if (existing !== null) return existing;
  const version = await redis.send<number>(keys.versionCounter(), ['INCR', keys.versionCounter()]);
  const meta: PopulationMeta = {
    version,
    buckets: EMPTY_POPULATION_BUCKETS,
    placement: 'slot',
    dictionary: [],
    customers: 0,
    loadedAt: new Date().toISOString(),
    source: 'api',
  };
  await redis.send(keys.versionMeta(version), ['SET', keys.versionMeta(version), JSON.stringify(meta)]);
  await redis.send(keys.currentVersion(), ['SET', keys.currentVersion(), String(version), 'NX']);
  return (await readCurrentVersion(redis, keys)) ?? new PopulationVersion(meta);
}
