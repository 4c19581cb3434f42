import { ErrorReply } from 'redis';
import type { CustomerProfile } from '../../domain/profile.js';
import type { ProfileChange, ProfileLookup, ProfileStore } from '../profile-store.js';
import {
  currentOrEmptyVersion,
  type PopulationVersion,
  readCurrentVersion,
  readCurrentVersionNumber,
  readVersion,
} from './population-version.js';
import type { RedisConnection, SendOptions } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import { callOf, RedisBatch, RedisScript } from './redis-script.js';

// KEYS: bucket. ARGV: customer id, expected value ('' = absent), new value ('' = erase).
// Writes only if the profile is still what the caller read: 1 if written, 0 if not.
const SET_IF_UNCHANGED = new RedisScript(`
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (current or '') ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1
`);

// KEYS: buckets. ARGV: a customer id per bucket. The encoded profile of each (false: none), or
// { error } for a read that failed alone.
const READ_MANY = new RedisScript(`
local out = {}
for i = 1, #KEYS do
  local ok, value = pcall(redis.call, 'HGET', KEYS[i], ARGV[i])
  if ok then out[i] = value else out[i] = { tostring(value.err or value) } end
end
return out
`);

const MAX_UPDATE_ATTEMPTS = 10;
const BUFFERS: SendOptions = { buffers: true };

interface Read {
  readonly bucket: string;
  readonly customerId: string;
}

/**
 * Profiles in Redis, in the population version that is current. The version is read at start and
 * swapped by refresh() when a load flips the pointer; a lookup uses the version it started with,
 * whose keys outlive the flip by a grace period, so it never sees a half-loaded population.
 * Errors (Redis down or late) are thrown: the tiered store in front decides what to answer.
 */
export class RedisProfileStore implements ProfileStore {
  readonly kind = 'redis';

  /**
   * Reads of concurrent lookups, one script call per turn of the event loop, on one Redis; on a
   * cluster the buckets of a batch live on different nodes, so each read is an HGET of its own.
   */
  private readonly reads: RedisBatch<Read, Buffer | null> | null;

  private constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
    private population: PopulationVersion | null,
  ) {
    this.reads = redis.isCluster ? null : new RedisBatch((batch) => this.readMany(batch), 'immediate');
  }

  static async open(redis: RedisConnection, keys: RedisKeys): Promise<RedisProfileStore> {
    return new RedisProfileStore(redis, keys, await readCurrentVersion(redis, keys, 0));
  }

  get version(): number | null {
    return this.population?.version ?? null;
  }

  /** Re-reads the version pointer; true when the version changed (the memory tier must be dropped). */
  async refresh(): Promise<boolean> {
    // Polled every few seconds: read the pointer, and the meta (and its dictionary) only when it moved.
    const current = await readCurrentVersionNumber(this.redis, this.keys);
    if (current === null || current === this.population?.version) return false;
    this.population = await readVersion(this.redis, this.keys, current);
    return true;
  }

  async get(customerId: string): Promise<ProfileLookup> {
    const population = this.population;
    if (population === null) return { profile: null, degraded: false };
    const bytes = await this.read(population, customerId);
    return { profile: bytes === null ? null : population.codec.decode(customerId, bytes), degraded: false };
  }

  async exists(customerId: string): Promise<boolean> {
    const population = this.population;
    if (population === null) return false;
    const bucket = this.keys.bucket(population.version, population.bucketOf(customerId));
    return (await this.redis.send<number>(bucket, ['HEXISTS', bucket, customerId])) === 1;
  }

  async update(customerId: string, change: ProfileChange): Promise<CustomerProfile | null> {
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      this.population ??= await currentOrEmptyVersion(this.redis, this.keys);
      const population = this.population;
      // The mark for a load in progress goes out with the read: one round trip's wait, not two.
      const [before] = await Promise.all([
        this.read(population, customerId),
        this.markChangedDuringLoad(customerId),
      ]);
      const next = change(before === null ? null : population.codec.decode(customerId, before));
      const bucket = this.keys.bucket(population.version, population.bucketOf(customerId));
      const written = await SET_IF_UNCHANGED.run<number>(
        this.redis,
        [bucket],
        [customerId, before ?? '', next === null ? '' : population.codec.encode(next)],
      );
      if (written === 1) return next;
    }
    throw new Error(`profile ${customerId} kept changing under ${MAX_UPDATE_ATTEMPTS} attempts to update it`);
  }

  async delete(customerId: string): Promise<boolean> {
    const population = this.population;
    if (population === null) return false;
    await this.markChangedDuringLoad(customerId);
    const bucket = this.keys.bucket(population.version, population.bucketOf(customerId));
    return (await this.redis.send<number>(bucket, ['HDEL', bucket, customerId])) === 1;
  }

  count(): Promise<number> {
    return Promise.resolve(this.population?.meta.customers ?? 0);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private read(population: PopulationVersion, customerId: string): Promise<Buffer | null> {
    const bucket = this.keys.bucket(population.version, population.bucketOf(customerId));
    if (this.reads !== null) return this.reads.add({ bucket, customerId });
    return this.redis.send<Buffer | null>(bucket, ['HGET', bucket, customerId], BUFFERS);
  }

  private async readMany(batch: readonly Read[]): Promise<(Buffer | null | Error)[]> {
    if (batch.length === 1) {
      const { bucket, customerId } = batch[0]!;
      return [await this.redis.send<Buffer | null>(bucket, ['HGET', bucket, customerId], BUFFERS)];
    }
    const command = callOf(batch.length);
    for (const r of batch) command.push(r.bucket);
    for (const r of batch) command.push(r.customerId);
    const replies = await READ_MANY.send<(Buffer | null | [Buffer])[]>(
      this.redis,
      batch[0]!.bucket,
      command,
      BUFFERS,
    );
    return replies.map((r) => (Array.isArray(r) ? new ErrorReply(String(r[0])) : r));
  }

  /**
   * A bulk load in progress writes a file taken before this change; it copies the customers named
   * here from the current version before it flips, so the change is not lost.
   */
  private async markChangedDuringLoad(customerId: string): Promise<void> {
    const loading = await this.redis.send<string | null>(this.keys.loadingVersion(), [
      'GET',
      this.keys.loadingVersion(),
    ]);
    if (loading === null) return;
    const dirty = this.keys.versionDirty(Number(loading));
    await this.redis.send(dirty, ['SADD', dirty, customerId]);
  }
}
