import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import pino from 'pino';
import { parseDuration } from '../ruleset/time.js';
import { fileChunks, formatOf } from '../store/profile-lines.js';
import { defaultLoadWorkers, LoadAbortedError, loadPopulation } from '../store/redis/bulk-loader.js';
import { RedisConnection } from '../store/redis/redis-connection.js';
import { RedisKeys } from '../store/redis/redis-keys.js';
import { type CliIo, formatFlags, parseCommand, parseFlags, processIo, UsageError } from './args.js';
import { formatCount, Progress } from './progress.js';
import { REDIS_FLAGS, redisTargetOf } from './redis-flags.js';

const FLAGS = {
  ...REDIS_FLAGS,
  format: { type: 'string', placeholder: 'ndjson|csv', description: 'input format (default: by extension)' },
  buckets: {
    type: 'integer',
    min: 1,
    max: 1 << 24,
    placeholder: 'N',
    description: 'hashes to spread profiles over (default: about 64 customers each)',
  },
  'max-bad': {
    type: 'number',
    default: 0.01,
    min: 0,
    max: 1,
    placeholder: 'SHARE',
    description: 'abort when more than this share of lines is bad',
  },
  workers: {
    type: 'integer',
    min: 0,
    max: 64,
    placeholder: 'N',
    description: 'threads that parse and encode (default: none below 20 MB, else one per core, at most 4)',
  },
  rate: {
    type: 'integer',
    min: 1,
    placeholder: 'N',
    description: 'customers per second at most, to spare a Redis that serves traffic (default: no limit)',
  },
  grace: {
    type: 'string',
    default: '10s',
    placeholder: 'DURATION',
    description: 'how long the old version stays readable after the flip',
  },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
} as const;

/** Files smaller than this are parsed on the main thread unless --workers says otherwise. */
const WORKERS_FROM_BYTES = 20 << 20;

export const LOAD_USAGE = `Usage: offerloop load [--redis URL | --cluster URL,URL] FILE

Loads customer profiles (NDJSON, one profile per line, or CSV with a header) into Redis as a new
population version. Servers switch to it only when it is complete; the old version is deleted
after the grace period. Bad lines are reported with their numbers; too many abort the load.
Erased customers (their tombstones) are left out: set OFFERLOOP_ERASURE_PEPPER as for the servers.

Options:
${formatFlags(FLAGS)}
`;

/** `offerloop load …`; returns the exit code (0 loaded, 1 failed or aborted, 2 usage error). */
export async function runLoad(
  argv: readonly string[],
  io: CliIo = processIo,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  const args = parseCommand(argv, { name: 'load', usage: LOAD_USAGE }, io, () => {
    const { flags, positionals } = parseFlags(argv, FLAGS);
    if (positionals.length !== 1) throw new UsageError('give exactly one FILE to load');
    const graceMs = parseDuration(flags.grace);
    if (graceMs === null)
      throw new UsageError(`--grace must be a duration like 10s or 500ms, got '${flags.grace}'`);
    if (flags.format !== undefined && flags.format !== 'ndjson' && flags.format !== 'csv') {
      throw new UsageError(`--format must be ndjson or csv, got '${flags.format}'`);
    }
    return { flags, file: positionals[0]!, redisConfig: redisTargetOf(flags, env, null), graceMs };
  });
  if (typeof args === 'number') return args;
  const { flags, file, redisConfig, graceMs } = args;

  const log = pino({ level: 'warn' }, pino.destination(2));
  let redis: RedisConnection | null = null;
  try {
    const size = (await stat(file)).size;
    // A busy loader answers pings late: a long deadline, so that it does not think Redis is gone.
    redis = await RedisConnection.open(redisConfig, log, { pingEveryMs: 2000, hungAfterMs: 15_000 });
    await warnIfHashesAreNotCompact(redis, io);
    const buckets = flags.buckets ?? (await estimateBuckets(file, size));
    const progress = new Progress(io.stderr, 'load', { total: size, unit: 'bytes' });
    let read = 0;
    const result = await loadPopulation(
      redis,
      new RedisKeys(redisConfig.prefix),
      fileChunks(file, (bytes) => {
        read = bytes;
      }),
      {
        buckets,
        source: basename(file),
        format: (flags.format as 'ndjson' | 'csv' | undefined) ?? formatOf(file),
        // Threads take ~0.1 s to start: not worth it for a small file.
        workers: flags.workers ?? (size < WORKERS_FROM_BYTES ? 0 : defaultLoadWorkers()),
        maxBadShare: flags['max-bad'],
        ...(flags.rate === undefined ? {} : { maxRate: flags.rate }),
        graceMs,
        // The servers' pepper, so that erased customers (tombstones) stay out of the load.
        erasurePepper: env.OFFERLOOP_ERASURE_PEPPER?.trim() || null,
        onProgress: (lines, bad) => progress.update(read, `${formatCount(lines)} lines, ${bad} bad`),
        // The load proper ends with the flip: the rate leaves out the grace period that follows.
        onFlipped: ({ version, previousVersion, customers, loadSeconds }) => {
          progress.finish(
            `${formatCount(customers)} customers in ${loadSeconds.toFixed(1)} s ` +
              `(${formatCount(Math.round(customers / loadSeconds))}/s), version ${version}`,
          );
          if (previousVersion !== null && graceMs > 0)
            io.stderr.write(
              `load: version ${previousVersion} stays readable for ${formatSeconds(graceMs)} (--grace), then it is deleted\n`,
            );
        },
      },
    );
    for (const b of result.bad) io.stderr.write(`  line ${b.line}: ${b.reason}\n`);
    if (result.badCount > result.bad.length)
      io.stderr.write(`  … ${result.badCount - result.bad.length} more bad lines\n`);
    if (result.deletedKeys > 0)
      io.stderr.write(`load: ${formatCount(result.deletedKeys)} keys of older versions deleted\n`);
    io.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  } catch (err) {
    const message = err instanceof LoadAbortedError ? err.message : `failed: ${(err as Error).message}`;
    io.stderr.write(`\nofferloop load: ${message}\n`);
    return 1;
  } finally {
    redis?.close();
  }
}

/** About 64 customers per hash: small enough for Redis' compact listpack encoding, few enough keys. */
async function estimateBuckets(file: string, size: number): Promise<number> {
  const handle = await open(file, 'r');
  try {
    const sample = Buffer.alloc(Math.min(size, 1 << 18));
    const { bytesRead } = await handle.read(sample, 0, sample.length, 0);
    let lines = 0;
    for (let i = 0; i < bytesRead; i++) if (sample[i] === 10) lines++;
    const customers = lines === 0 ? 1 : (size / bytesRead) * lines;
    return 2 ** Math.max(0, Math.ceil(Math.log2(customers / 64)));
  } finally {
    await handle.close();
  }
}

/** Values longer than hash-max-listpack-value turn a bucket into a hash table, costing ~40 more bytes per customer. */
async function warnIfHashesAreNotCompact(redis: RedisConnection, io: CliIo): Promise<void> {
  try {
    const reply = await redis.send<string[]>(undefined, ['CONFIG', 'GET', 'hash-max-listpack-value']);
    const value = Number(reply[1]);
    if (value < 256) {
      io.stderr.write(
        `offerloop load: note: hash-max-listpack-value is ${value}; set it to 512 (see docker/redis.conf) for about 40 fewer bytes per customer\n`,
      );
    }
  } catch {
    // CONFIG is often disabled on managed Redis; the load works either way.
  }
}

function formatSeconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Number((ms / 1000).toFixed(1))} s`;
}
