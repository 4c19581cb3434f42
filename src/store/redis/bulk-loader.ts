import { availableParallelism } from 'node:os';
import { applyFacts } from '../../learning/profile-learning.js';
import { ErasedIds } from '../erased-ids.js';
import type { SymbolDictionary } from '../profile-codec.js';
import type { BadLine } from '../profile-file.js';
import type { ProfileFormat } from '../profile-lines.js';
import { BucketWriter } from './bucket-writer.js';
import { chunkContext, type EncodedChunk } from './load-chunk.js';
import { versionMessage } from './population-sync.js';
import {
  bucketKey,
  type PopulationMeta,
  type PopulationVersion,
  readCurrentVersionNumber,
  readVersion,
} from './population-version.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import { RedisLearnedFactsStore } from './redis-learned-facts-store.js';
import { phoneBucketOf } from './redis-phone-directory.js';
import { erasureHasherOf, RedisTombstoneStore } from './redis-tombstones.js';
import {
  type ChunkEncoder,
  LineCutter,
  LocalEncoder,
  type Piece,
  Sampler,
  WorkerEncoders,
} from './text-pieces.js';

export interface LoadOptions {
  /** Default: ndjson. */
  readonly format?: ProfileFormat;
  /**
   * Worker threads that parse, validate and encode the lines, so that this thread only talks to
   * Redis; 0 (the default) does everything here. Workers run from the compiled JavaScript only:
   * where load-worker.js is missing (TypeScript run by vitest), the load runs here.
   */
  readonly workers?: number;
  /** Hashes the population is spread over; about 64 customers each keeps them compact. */
  readonly buckets: number;
  /** Where the data came from (a file name), kept in the version's meta. */
  readonly source: string;
  /** A load with more bad lines than this share (and more than 10) is aborted. */
  readonly maxBadShare?: number;
  /** How long the previous version stays readable after the flip, for servers that have not seen it yet. */
  readonly graceMs?: number;
  readonly onProgress?: (lines: number, bad: number) => void;
  /**
   * Customers per second at most (default: as fast as Redis takes them). A load into a Redis that
   * serves decisions competes with them; a slower load keeps their latency down.
   */
  readonly maxRate?: number;
  /** Called once servers are told to switch to the new version, before the grace period. */
  readonly onFlipped?: (flip: LoadFlip) => void;
  /**
   * The servers' OFFERLOOP_ERASURE_PEPPER (default: none, the pepper kept in Redis): erased
   * customers (tombstones) are left out of the load, and a pepper that would not recognise them
   * aborts it (docs/decisions/0009-erasure.md).
   */
  readonly erasurePepper?: string | null;
}

/** The load proper, up to the flip. */
export interface LoadFlip {
  readonly version: number;
  readonly previousVersion: number | null;
  readonly customers: number;
  /** Seconds from the start of the load to the flip (see LoadResult.loadSeconds). */
  readonly loadSeconds: number;
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
  /** Customers of the file left out because they were erased (their tombstone is in force). */
  readonly erased: number;
  /**
   * Customers of the new version whose learned facts (what outcomes taught: holdings, relationship
   * value, lifecycle stage) were applied again on top of the loaded profile.
   */
  readonly relearned: number;
  /** Keys of older versions deleted after the flip. */
  readonly deletedKeys: number;
  /**
   * Seconds from the start of the load to the flip (to the millisecond): writing the profiles, the
   * meta, carrying changes over, moving the pointer. The grace period and the deletion of older
   * versions follow, and are not counted.
   */
  readonly loadSeconds: number;
}

export class LoadAbortedError extends Error {}

const LOCK_MS = 60_000;

/** Worker threads `offerloop load` uses for a big file: one per core, at most 4 (Redis wants a core too). */
export function defaultLoadWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/**
 * Loads a whole population as a new version and flips to it when complete: profiles are written
 * into keys of the new version (pipelined), then its meta, then the customers changed through the
 * API meanwhile are carried over, then one SET moves the `current` pointer and a message tells
 * every server. Just before the flip, what outcomes taught each customer (learned facts) is applied
 * again on top of the loaded profiles, so that a load does not undo it. Older versions are deleted
 * after a grace period. A failed or aborted load leaves
 * the current version untouched and no keys behind.
 *
 * The file comes as its raw bytes (NDJSON or CSV, lines as profileLines() reads them) in chunks of
 * any size, parsed and encoded by worker threads when `workers` > 0. The chunks' memory is handed
 * over: it may be moved to a worker thread, so the caller must not reuse it. The symbol dictionary
 * is learned from the records among the first 10,000 lines (most frequent strings first), then
 * frozen; strings it lacks are written inline. Customers are gathered per bucket, up to 64 to an
 * HSET, sent through RedisConnection.send with a bounded number in flight.
 */
export function loadPopulation(
  redis: RedisConnection,
  keys: RedisKeys,
  chunks: AsyncIterable<Uint8Array>,
  options: LoadOptions,
): Promise<LoadResult> {
  return loadVersion(redis, keys, options, (writer, phones, erased) =>
    writeText(chunks, writer, phones, erased, options),
  );
}

/** The tombstones in force, or null when there are none (a load then checks nothing). */
async function tombstonesOf(
  redis: RedisConnection,
  keys: RedisKeys,
  pepper: string | null,
): Promise<ErasedIds | null> {
  const tombstones = await new RedisTombstoneStore(redis, keys).since(0);
  if (tombstones.length === 0) return null;
  const erased = new ErasedIds(await erasureHasherOf(redis, keys, pepper, null));
  erased.addTombstones(tombstones.map((t) => t.tombstone));
  return erased;
}

interface Written {
  readonly dictionary: SymbolDictionary;
  readonly customers: number;
  readonly lines: number;
  readonly badCount: number;
  readonly bad: readonly BadLine[];
  readonly erased: number;
}

async function loadVersion(
  redis: RedisConnection,
  keys: RedisKeys,
  options: LoadOptions,
  writeProfiles: (writer: BucketWriter, phones: BucketWriter, erased: ErasedIds | null) => Promise<Written>,
): Promise<LoadResult> {
  const started = performance.now();
  const erased = await tombstonesOf(redis, keys, options.erasurePepper ?? null);
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
    const placed = { version, buckets: options.buckets, placement: 'slot' } as const;
    const writer = new BucketWriter(redis, (bucket) => bucketKey(keys, placed, bucket), options.maxRate ?? 0);
    // The phone directory is not versioned: an entry written by a load that fails later does no
    // harm, since every lookup is confirmed against the profile in force.
    const phones = new BucketWriter(redis, (bucket) => keys.phoneBucket(bucket), 0);
    const written = await writeProfiles(writer, phones, erased).catch(async (err: unknown) => {
      // HSETs still under way would recreate keys after the delete.
      await Promise.all([writer.settle(), phones.settle()]);
      await deleteVersions(redis, keys, (v) => v === version).catch(() => {});
      throw err;
    });
    const meta: PopulationMeta = {
      version,
      buckets: options.buckets,
      placement: 'slot',
      dictionary: written.dictionary.toJSON(),
      customers: written.customers,
      loadedAt: new Date().toISOString(),
      source: options.source,
    };
    await redis.send(keys.versionMeta(version), ['SET', keys.versionMeta(version), JSON.stringify(meta)], {
      timeoutMs: 0,
    });
    const previous = await readCurrentVersionNumber(redis, keys);
    const population = await readVersion(redis, keys, version, 0);
    let carriedOver = await carryOverChanges(redis, keys, previous, population);
    // After the carry-over: a profile changed through the API during the load gets the facts too.
    const relearned = await applyLearnedFacts(redis, keys, population);
    await redis.send(keys.currentVersion(), ['SET', keys.currentVersion(), String(version)], {
      timeoutMs: 0,
    });
    await redis.publish(keys.events(), versionMessage(version));
    const loadSeconds = Math.round(performance.now() - started) / 1000;
    options.onFlipped?.({ version, previousVersion: previous, customers: written.customers, loadSeconds });
    // Servers that have not seen the flip yet still write API changes to the old version: wait, then
    // copy again. A first load has no old version, so nothing to wait for.
    if (previous !== null) {
      await sleep(options.graceMs ?? 10_000);
      carriedOver += await carryOverChanges(redis, keys, previous, population);
    }
    // Its work is done, and it names customers (an erasure during the load among them).
    const dirty = keys.versionDirty(version);
    await redis.send(dirty, ['DEL', dirty], { timeoutMs: 0 });
    const deletedKeys = await deleteVersions(redis, keys, (v) => v !== version);
    return {
      version,
      previousVersion: previous,
      customers: written.customers,
      lines: written.lines,
      badCount: written.badCount,
      bad: written.bad,
      carriedOver,
      erased: written.erased,
      relearned,
      deletedKeys,
      loadSeconds,
    };
  } finally {
    clearInterval(keepLock);
    await redis.send(keys.loadingVersion(), ['DEL', keys.loadingVersion()], { timeoutMs: 0 }).catch(() => {});
  }
}

/** A chunk's phone numbers into the phone directory's buckets: number → customer id (none of the erased). */
function writePhones(pairs: readonly string[], phones: BucketWriter, erased: ErasedIds | null): void {
  if (pairs.length === 0) return;
  const data = Buffer.from(pairs.join(''));
  let start = 0;
  for (let i = 0; i < pairs.length; i += 2) {
    const idStart = start + Buffer.byteLength(pairs[i]!);
    const end = idStart + Buffer.byteLength(pairs[i + 1]!);
    if (erased === null || !erased.has(pairs[i + 1]!))
      phones.add(phoneBucketOf(pairs[i]!), data, start, idStart, end);
    start = end;
  }
}

/** Counts bad lines, keeps the first ones, and aborts the load when there are too many. */
class BadLines {
  count = 0;
  readonly first: BadLine[] = [];

  constructor(private readonly maxShare: number) {}

  /** Bad line number `line`; throws LoadAbortedError when more than maxShare of the lines so far are bad. */
  add(line: number, reason: string | undefined): void {
    this.count++;
    if (this.first.length < 20) this.first.push({ line, reason: reason ?? 'bad line' });
    if (this.count > Math.max(10, line * this.maxShare)) {
      const first = this.first.map((b) => `line ${b.line}: ${b.reason}`).join('; ');
      throw new LoadAbortedError(
        `${this.count} of ${line} lines are not valid profiles, more than ${this.maxShare * 100}%: load aborted, nothing changed (${first})`,
      );
    }
  }
}

async function writeText(
  chunks: AsyncIterable<Uint8Array>,
  writer: BucketWriter,
  phones: BucketWriter,
  erased: ErasedIds | null,
  options: LoadOptions,
): Promise<Written> {
  const format = options.format ?? 'ndjson';
  // Started first: they load their modules while this thread reads the sample.
  const workers = (options.workers ?? 0) > 0 ? WorkerEncoders.start(options.workers!) : null;
  let encoder: ChunkEncoder | null = workers;
  const iterator = chunks[Symbol.asyncIterator]();
  let exhausted = false;
  const next = async (): Promise<Uint8Array | null> => {
    const item = await iterator.next();
    if (item.done) exhausted = true;
    return item.done ? null : item.value;
  };
  try {
    const cutter = new LineCutter();
    const sampler = new Sampler(format);
    while (!sampler.complete) {
      const chunk = await next();
      const piece = chunk === null ? cutter.end() : cutter.push(chunk);
      if (piece !== null) sampler.read(piece);
      if (chunk === null) break;
    }
    const dictionary = sampler.counter.dictionary();
    if (workers !== null) {
      workers.setup({
        type: 'setup',
        dictionary: dictionary.toJSON(),
        buckets: options.buckets,
        csvHeader: sampler.header,
      });
    } else {
      encoder = new LocalEncoder(chunkContext(dictionary, options.buckets, sampler.csv));
    }

    const bad = new BadLines(options.maxBadShare ?? 0.01);
    let customers = 0;
    let skipped = 0;
    let lines = 0;
    /** Lines before the piece being written. */
    let base = 0;
    const write = (chunk: EncodedChunk) => {
      for (let i = 0; i < chunk.badLines.length; i++) bad.add(base + chunk.badLines[i]!, chunk.badReasons[i]);
      if (chunk.lastLine > 0) lines = base + chunk.lastLine;
      base += chunk.lines;
      const data = Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength);
      const { ends, buckets } = chunk;
      let start = 0;
      for (let i = 0; i < chunk.count; i++) {
        const end = ends[2 * i + 1]!;
        // Erased customers stay out (an HMAC per customer, only while there are tombstones).
        if (erased?.has(data.toString('utf8', start, ends[2 * i]!))) skipped++;
        else writer.add(buckets[i]!, data, start, ends[2 * i]!, end);
        start = end;
      }
      customers += chunk.count;
      writePhones(chunk.phones, phones, erased);
    };

    const queue: Promise<EncodedChunk>[] = [];
    const inFlight = workers === null ? 1 : 3 * options.workers!;
    const submit = async (piece: Piece) => {
      const encoded = encoder!.encode(piece);
      encoded.catch(() => {}); // awaited below, in order; this only keeps a rejection from being "unhandled"
      queue.push(encoded);
      while (queue.length >= inFlight) {
        write(await queue.shift()!);
        await writer.room();
        await phones.room();
        options.onProgress?.(lines, bad.count);
      }
    };
    for (const piece of sampler.pieces) await submit(piece);
    while (!exhausted) {
      const chunk = await next();
      const piece = chunk === null ? cutter.end() : cutter.push(chunk);
      if (piece !== null) await submit(piece);
    }
    while (queue.length > 0) {
      write(await queue.shift()!);
      await writer.room();
      await phones.room();
    }
    await Promise.all([writer.finish(), phones.finish()]);
    options.onProgress?.(lines, bad.count);
    return {
      dictionary,
      customers: customers - skipped,
      lines,
      badCount: bad.count,
      bad: bad.first,
      erased: skipped,
    };
  } finally {
    if (!exhausted) await iterator.return?.();
    await encoder?.close();
  }
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
    const from = old.bucketKeyOf(keys, id);
    const to = next.bucketKeyOf(keys, id);
    const bytes = await redis.send<Buffer | null>(from, ['HGET', from, id], { buffers: true, timeoutMs: 0 });
    if (bytes === null) await redis.send(to, ['HDEL', to, id], { timeoutMs: 0 });
    else
      await redis.send(to, ['HSET', to, id, next.codec.encode(old.codec.decode(id, bytes))], {
        timeoutMs: 0,
      });
  }
  return ids.length;
}

/**
 * Applies every customer's learned facts again to their profile in the new version (re-encoded for
 * it), so that a load, which replaces profiles, keeps what outcomes taught. Customers with facts
 * but without a profile in the new version are left out: the load decides who exists. Facts learned
 * after this pass change the profile through the API and are carried over like any other change.
 */
async function applyLearnedFacts(
  redis: RedisConnection,
  keys: RedisKeys,
  next: PopulationVersion,
): Promise<number> {
  let applied = 0;
  await new RedisLearnedFactsStore(redis, keys).each(async (id, facts) => {
    const key = next.bucketKeyOf(keys, id);
    const bytes = await redis.send<Buffer | null>(key, ['HGET', key, id], { buffers: true, timeoutMs: 0 });
    if (bytes === null) return;
    const profile = applyFacts(next.codec.decode(id, bytes), facts);
    await redis.send(key, ['HSET', key, id, next.codec.encode(profile)], { timeoutMs: 0 });
    applied++;
  });
  return applied;
}

/** Deletes the keys of the population versions `doomed` selects (after a flip: all but the new one). */
async function deleteVersions(
  redis: RedisConnection,
  keys: RedisKeys,
  doomed: (version: number) => boolean,
): Promise<number> {
  const prefix = keys.versionMeta(0).slice(0, keys.versionMeta(0).indexOf('{'));
  let deleted = 0;
  await redis.scan(`${prefix}*`, async (found, send) => {
    const stale = found.filter((key) => doomed(versionOfKey(key, prefix)));
    // One key per UNLINK: keys of one call must share a slot in a cluster. UNLINK frees memory in the background.
    await Promise.all(stale.map((key) => send(['UNLINK', key])));
    deleted += stale.length;
  });
  return deleted;
}

/** `p:pop:{12}:meta` and `p:pop:12:b:7` are both of version 12. */
function versionOfKey(key: string, prefix: string): number {
  const rest = key.slice(prefix.length).replace('{', '');
  return Number.parseInt(rest, 10);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
