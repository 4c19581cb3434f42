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

// Reads of many customers at once. KEYS: per read its bucket, and for a read that checks the
// customer's contact history too, the history's list and revision. ARGV: per read the customer id
// and the history revision the caller holds ('': no history check). Answers per read the encoded
// profile (false: none) or, with a history check, { profile, revision } when the revision is the
// caller's and { profile, revision, events } when it moved on; { error } for a read that failed alone.
const READ_MANY = new RedisScript(`
local function read(bucket, id, list, rev, seen)
  local profile = redis.call('HGET', bucket, id)
  if seen == '' then return profile end
  local revision = redis.call('GET', rev) or '0'
  if revision == seen then return { profile, revision } end
  return { profile, revision, redis.call('LRANGE', list, 0, -1) }
end
local out = {}
local k = 1
for i = 1, #ARGV, 2 do
  local seen = ARGV[i + 1]
  local ok, reply = pcall(read, KEYS[k], ARGV[i], KEYS[k + 1], KEYS[k + 2], seen)
  if ok then out[#out + 1] = reply else out[#out + 1] = { tostring(reply.err or reply) } end
  if seen == '' then k = k + 1 else k = k + 3 end
end
return out
`);

const MAX_UPDATE_ATTEMPTS = 10;
const NOBODY: ProfileLookup = Object.freeze({ profile: null, degraded: false });
const BUFFERS: SendOptions = { buffers: true };

/**
 * What a read of a profile can check of the customer's contact history in the same call: its two
 * keys, and the revision the caller holds (RedisContactHistoryStore.probeOf()).
 */
export interface HistoryProbe {
  readonly keys: readonly [string, string];
  readonly revision: string;
}

/** A profile read with its history checked: the revision in Redis, and its events when it moved on. */
export interface ProbedLookup {
  readonly lookup: ProfileLookup;
  readonly revision: string;
  /** Null: the revision is the probe's, the caller's history is current. */
  readonly events: string[] | null;
}

interface Read {
  readonly bucket: string;
  readonly customerId: string;
  readonly probe: HistoryProbe | null;
}

/** A read's answer: the encoded profile, or with a probe [profile, revision, events?] (all Buffers). */
type ReadReply = Buffer | null | [Buffer | null, Buffer, Buffer[]?];

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
  private readonly reads: RedisBatch<Read, ReadReply> | null;

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

  /** Whether getWithHistory() can check a history with the profile: on one Redis, not a cluster. */
  get checksHistory(): boolean {
    return this.reads !== null;
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
    if (population === null) return NOBODY;
    const bytes = (await this.read(population, customerId, null)) as Buffer | null;
    return { profile: bytes === null ? null : population.codec.decode(customerId, bytes), degraded: false };
  }

  /**
   * The profile, and in the same call whether the customer's contact history is still at the
   * probe's revision (its events if not): a decision's two reads in one round trip. Only on one
   * Redis (a cluster keeps a bucket and a history in different slots): see RedisCustomerReader.
   */
  async getWithHistory(customerId: string, probe: HistoryProbe): Promise<ProbedLookup> {
    const population = this.population;
    const reply = (await this.read(population, customerId, probe)) as
      | [Buffer | null, Buffer, Buffer[]?]
      | null;
    const bytes = reply?.[0] ?? null;
    return {
      lookup:
        bytes === null || population === null
          ? NOBODY
          : { profile: population.codec.decode(customerId, bytes), degraded: false },
      revision: reply === null ? probe.revision : reply[1].toString('latin1'),
      events: reply?.[2]?.map((e) => e.toString('utf8')) ?? null,
    };
  }

  async exists(customerId: string): Promise<boolean> {
    const population = this.population;
    if (population === null) return false;
    const bucket = population.bucketKeyOf(this.keys, customerId);
    return (await this.redis.send<number>(bucket, ['HEXISTS', bucket, customerId])) === 1;
  }

  async update(customerId: string, change: ProfileChange): Promise<CustomerProfile | null> {
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      this.population ??= await currentOrEmptyVersion(this.redis, this.keys);
      const population = this.population;
      // The mark for a load in progress goes out with the read: one round trip's wait, not two.
      const [before] = await Promise.all([
        this.read(population, customerId, null) as Promise<Buffer | null>,
        this.markChangedDuringLoad(customerId),
      ]);
      const next = change(before === null ? null : population.codec.decode(customerId, before));
      const bucket = population.bucketKeyOf(this.keys, customerId);
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
    const bucket = population.bucketKeyOf(this.keys, customerId);
    return (await this.redis.send<number>(bucket, ['HDEL', bucket, customerId])) === 1;
  }

  count(): Promise<number> {
    return Promise.resolve(this.population?.meta.customers ?? 0);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** A probe without a population still checks the history (there is no profile to read). */
  private read(
    population: PopulationVersion | null,
    customerId: string,
    probe: HistoryProbe | null,
  ): Promise<ReadReply> {
    // A bucket of no version (nothing loaded yet) holds nobody.
    const bucket =
      population === null ? this.keys.bucket(0, 0, null) : population.bucketKeyOf(this.keys, customerId);
    if (this.reads !== null) return this.reads.add({ bucket, customerId, probe });
    if (probe !== null) return Promise.reject(new Error('a read with a history check needs one Redis'));
    return this.redis.send<Buffer | null>(bucket, ['HGET', bucket, customerId], BUFFERS);
  }

  /** One READ_MANY call for a batch of reads (a plain HGET for a read alone). */
  private async readMany(batch: readonly Read[]): Promise<(ReadReply | Error)[]> {
    if (batch.length === 1 && batch[0]!.probe === null) {
      const { bucket, customerId } = batch[0]!;
      return [await this.redis.send<Buffer | null>(bucket, ['HGET', bucket, customerId], BUFFERS)];
    }
    let keys = 0;
    for (const r of batch) keys += r.probe === null ? 1 : 3;
    const command = callOf(keys);
    for (const r of batch) {
      command.push(r.bucket);
      if (r.probe !== null) command.push(r.probe.keys[0], r.probe.keys[1]);
    }
    for (const r of batch) command.push(r.customerId, r.probe?.revision ?? '');
    const replies = await READ_MANY.send<Buffer[]>(this.redis, batch[0]!.bucket, command, BUFFERS);
    const out = replies as unknown as (ReadReply | [Buffer] | Error)[];
    for (let i = 0; i < out.length; i++) {
      const r = out[i];
      // One element: the error of that read alone (a profile is a Buffer, a probed read has two or three).
      if (Array.isArray(r) && r.length === 1) out[i] = new ErrorReply(String(r[0]));
    }
    return out as (ReadReply | Error)[];
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
