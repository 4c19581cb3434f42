import { profileFromRecord } from '../../domain/profile.js';
import { DictionaryBuilder, ProfileCodec } from '../profile-codec.js';
import type { BadLine } from '../profile-file.js';
import type { ParsedLine } from '../profile-lines.js';
import { versionMessage } from './population-sync.js';
import { bucketOf, type PopulationMeta, type PopulationVersion, readVersion } from './population-version.js';
import type { RedisConnection, RedisReply } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

export interface LoadOptions {
  /** Hashes the population is spread over; about 64 customers each keeps them compact. */
  readonly buckets: number;
  /** Where the data came from (a file name), kept in the version's meta. */
  readonly source: string;
  /** A load with more bad lines than this share (and more than 10) is aborted. */
  readonly maxBadShare?: number;
  /** How long the previous version stays readable after the flip, for servers that have not seen it yet. */
  readonly graceMs?: number;
  /** Symbols likely in every profile (product ids), so they get the shortest codes. */
  readonly seedSymbols?: readonly string[];
  readonly onProgress?: (lines: number, bad: number) => void;
}

export interface LoadResult {
  readonly version: number;
  readonly previousVersion: number | null;
  readonly customers: number;
  readonly lines: number;
  readonly badCount: number;
  /** The first bad lines, with their numbers. */
  readonly bad: readonly BadLine[];
  /** Customers changed through the API during the load and carried over into the new version. */
  readonly carriedOver: number;
  /** Keys of older versions deleted after the flip. */
  readonly deletedKeys: number;
}

export class LoadAbortedError extends Error {}

const BATCH = 2000;
const BATCHES_IN_FLIGHT = 4;
const LOCK_MS = 60_000;

/**
 * Loads a whole population as a new version and flips to it when complete: profiles are written
 * into keys of the new version (pipelined), then its meta, then the customers changed through the
 * API meanwhile are carried over, then one SET moves the `current` pointer and a message tells
 * every server. Older versions are deleted after a grace period. A failed or aborted load leaves
 * the current version untouched; its partial keys are removed by the next successful load.
 */
export async function loadPopulation(
  redis: RedisConnection,
  keys: RedisKeys,
  lines: AsyncIterable<ParsedLine>,
  options: LoadOptions,
): Promise<LoadResult> {
  const version = await redis.send<number>(keys.versionCounter(), ['INCR', keys.versionCounter()]);
  const lock = await redis.send<string | null>(keys.loadingVersion(), [
    'SET',
    keys.loadingVersion(),
    String(version),
    'NX',
    'PX',
    String(LOCK_MS),
  ]);
  if (lock === null) {
    const other = await redis.send<string | null>(keys.loadingVersion(), ['GET', keys.loadingVersion()]);
    throw new LoadAbortedError(`another load (version ${other}) is in progress; try again when it is done`);
  }
  const keepLock = setInterval(() => {
    redis.send(keys.loadingVersion(), ['PEXPIRE', keys.loadingVersion(), String(LOCK_MS)]).catch(() => {});
  }, LOCK_MS / 3).unref();
  try {
    const written = await writeProfiles(redis, keys, version, lines, options).catch(async (err: unknown) => {
      await deleteVersions(redis, keys, (v) => v === version).catch(() => {});
      throw err;
    });
    const meta: PopulationMeta = {
      version,
      buckets: options.buckets,
      dictionary: written.dictionary.toJSON(),
      customers: written.customers,
      loadedAt: new Date().toISOString(),
      source: options.source,
    };
    await redis.send(keys.versionMeta(version), ['SET', keys.versionMeta(version), JSON.stringify(meta)], {
      timeoutMs: 0,
    });
    const previous = await currentVersionNumber(redis, keys);
    const population = await readVersion(redis, keys, version, 0);
    let carriedOver = await carryOverChanges(redis, keys, previous, population);
    await redis.send(keys.currentVersion(), ['SET', keys.currentVersion(), String(version)], {
      timeoutMs: 0,
    });
    await redis.publish(keys.events(), versionMessage(version));
    // Servers that have not seen the flip yet still write API changes to the old version: wait, then copy again.
    await sleep(options.graceMs ?? 10_000);
    carriedOver += await carryOverChanges(redis, keys, previous, population);
    const deletedKeys = await deleteVersions(redis, keys, (v) => v !== version);
    return {
      version,
      previousVersion: previous,
      customers: written.customers,
      lines: written.lines,
      badCount: written.badCount,
      bad: written.bad,
      carriedOver,
      deletedKeys,
    };
  } finally {
    clearInterval(keepLock);
    await redis.send(keys.loadingVersion(), ['DEL', keys.loadingVersion()], { timeoutMs: 0 }).catch(() => {});
  }
}

async function writeProfiles(
  redis: RedisConnection,
  keys: RedisKeys,
  version: number,
  lines: AsyncIterable<ParsedLine>,
  options: LoadOptions,
) {
  const dictionary = new DictionaryBuilder();
  for (const symbol of options.seedSymbols ?? []) dictionary.add(symbol);
  const codec = new ProfileCodec(dictionary);
  const maxBadShare = options.maxBadShare ?? 0.01;
  const bad: BadLine[] = [];
  let badCount = 0;
  let customers = 0;
  let count = 0;
  let batch: Promise<RedisReply>[] = [];
  const inFlight: Promise<unknown>[] = [];

  for await (const parsed of lines) {
    count = parsed.line;
    if ('error' in parsed) {
      badCount++;
      if (bad.length < 20) bad.push({ line: parsed.line, reason: parsed.error });
      if (badCount > Math.max(10, count * maxBadShare)) {
        await Promise.allSettled(inFlight);
        const first = bad.map((b) => `line ${b.line}: ${b.reason}`).join('; ');
        throw new LoadAbortedError(
          `${badCount} of ${count} lines are not valid profiles, more than ${maxBadShare * 100}%: load aborted, nothing changed (${first})`,
        );
      }
      continue;
    }
    const profile = profileFromRecord(parsed.record);
    dictionary.addProfile(profile);
    const key = keys.bucket(version, bucketOf(profile.id, options.buckets));
    // Not awaited one by one: node-redis writes the commands of one tick as one pipeline.
    batch.push(redis.send(key, ['HSET', key, profile.id, codec.encode(profile)], { timeoutMs: 0 }));
    customers++;
    if (batch.length === BATCH) {
      inFlight.push(Promise.all(batch));
      batch = [];
      if (inFlight.length >= BATCHES_IN_FLIGHT) await inFlight.shift();
      options.onProgress?.(count, badCount);
    }
  }
  inFlight.push(Promise.all(batch));
  await Promise.all(inFlight);
  options.onProgress?.(count, badCount);
  return { dictionary: dictionary.freeze(), customers, lines: count, badCount, bad };
}

async function currentVersionNumber(redis: RedisConnection, keys: RedisKeys): Promise<number | null> {
  const current = await redis.send<string | null>(keys.currentVersion(), ['GET', keys.currentVersion()]);
  return current === null ? null : Number(current);
}

/**
 * Copies the customers changed through the API during the load (listed in the new version's dirty
 * set) from the previous version, re-encoded for the new one, or removes them if they were erased.
 */
async function carryOverChanges(
  redis: RedisConnection,
  keys: RedisKeys,
  previous: number | null,
  next: PopulationVersion,
): Promise<number> {
  if (previous === null) return 0;
  const dirtyKey = keys.versionDirty(next.version);
  const ids = await redis.send<string[]>(dirtyKey, ['SMEMBERS', dirtyKey], { timeoutMs: 0 });
  if (ids.length === 0) return 0;
  const old = await readVersion(redis, keys, previous, 0);
  for (const id of ids) {
    const from = keys.bucket(previous, old.bucketOf(id));
    const to = keys.bucket(next.version, next.bucketOf(id));
    const bytes = await redis.send<Buffer | null>(from, ['HGET', from, id], { buffers: true, timeoutMs: 0 });
    if (bytes === null) await redis.send(to, ['HDEL', to, id], { timeoutMs: 0 });
    else
      await redis.send(to, ['HSET', to, id, next.codec.encode(old.codec.decode(id, bytes))], {
        timeoutMs: 0,
      });
  }
  return ids.length;
}

/** Deletes the keys of the population versions `doomed` selects (after a flip: all but the new one). */
async function deleteVersions(
  redis: RedisConnection,
  keys: RedisKeys,
  doomed: (version: number) => boolean,
): Promise<number> {
  const prefix = keys.versionMeta(0).slice(0, keys.versionMeta(0).indexOf('{'));
  const counts = await redis.eachMaster(async (send) => {
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, found] = (await send(['SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', '1000'])) as [
        string,
        string[],
      ];
      cursor = next;
      const stale = found.filter((key) => doomed(versionOfKey(key, prefix)));
      // One key per UNLINK: keys of one call must share a slot in a cluster. UNLINK frees memory in the background.
      await Promise.all(stale.map((key) => send(['UNLINK', key])));
      deleted += stale.length;
    } while (cursor !== '0');
    return deleted;
  });
  return counts.reduce((a, b) => a + b, 0);
}

/** `p:pop:{12}:meta` and `p:pop:12:b:7` are both of version 12. */
function versionOfKey(key: string, prefix: string): number {
  const rest = key.slice(prefix.length).replace('{', '');
  return Number.parseInt(rest, 10);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
