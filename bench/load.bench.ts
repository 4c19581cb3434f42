// Bulk-load benchmark: `offerloop load` (runLoad, the CLI's own code) of 1,000,000 generated
// customers with 20 affinities each into a local redis-server started here. Run: npm run bench:load
// Targets: ≥ 100,000 customers/s (1 million in < 15 s) and ≤ 200 bytes per customer in Redis.
// Two loads, each into a fresh redis-server (--save "" --appendonly no): one with
// hash-max-listpack-value 512 (docker/redis.conf: buckets stay compact listpacks), the target
// configuration, and one with Redis' default 64, for the cost of the hashtable encoding.
// Prints a table and one JSON line ({"bench":"load",...}); also writes bench/results/load.json.
// Knobs (env): BENCH_LOAD_CUSTOMERS (1000000), BENCH_LOAD_WORKERS (--workers; default: the CLI's
// choice), BENCH_LOAD_DATA_DIR (default bench/results/data-load, generated once, then reused).

import { access, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createClient } from 'redis';
import { runGenerate } from '../src/cli/generate-command.js';
import { runLoad } from '../src/cli/load-command.js';
import { startRedis } from '../test/support/redis.js';
import {
  envNumber,
  machine,
  processCpuMs,
  publishResult,
  RESULTS_DIR,
  round,
  superviseChildren,
  verdict,
} from './support.js';

const CUSTOMERS = Math.floor(envNumber('BENCH_LOAD_CUSTOMERS', 1_000_000));
const WORKERS = process.env.BENCH_LOAD_WORKERS?.trim()
  ? Math.floor(Number(process.env.BENCH_LOAD_WORKERS))
  : null;
const DATA_DIR = path.resolve(process.env.BENCH_LOAD_DATA_DIR ?? path.join(RESULTS_DIR, 'data-load'));
const OFFERS = 500; // 125 products: every customer gets all 20 affinities
const AFFINITIES = 20;
const SEED = '42';
const PREFIX = 'bench';

const TARGET_RATE = 100_000;
const TARGET_SECONDS_1M = 15;
const TARGET_BYTES = 200;
/** Buckets whose MEMORY USAGE is sampled. */
const SAMPLED_BUCKETS = 8;

// ---------------------------------------------------------------------------------------------
// redis-server: test/support/redis.ts (free port, --save "" --appendonly no, its own temp dir,
// killed with the bench), one fresh server per load. SIGINT and SIGTERM end the bench through
// process.exit, whose 'exit' handler kills them.

superviseChildren('load bench');

/** CPU time (user + system) of a process in ms, from /proc; null where there is no /proc. */
// ---------------------------------------------------------------------------------------------
// Data: `offerloop generate --offers 500 --customers N --affinities 20 --baskets 0` once.

interface DataSet {
  readonly file: string;
  readonly bytes: number;
  readonly reused: boolean;
  readonly generateMs: number | null;
}

async function prepareData(): Promise<DataSet> {
  const marker = path.join(DATA_DIR, 'bench-data.json');
  const file = path.join(DATA_DIR, 'profiles.ndjson');
  const want = JSON.stringify({ offers: OFFERS, customers: CUSTOMERS, affinities: AFFINITIES, seed: SEED });
  let generateMs: number | null = null;
  let same = false;
  try {
    same = (await readFile(marker, 'utf8')).trim() === want;
    await access(file);
  } catch {
    same = false;
  }
  if (!same) {
    process.stderr.write(
      `load bench: generating ${CUSTOMERS.toLocaleString('en-US')} customers into ${DATA_DIR}\n`,
    );
    await rm(DATA_DIR, { recursive: true, force: true });
    const started = performance.now();
    const code = await runGenerate(
      [
        ...['--offers', String(OFFERS), '--customers', String(CUSTOMERS), '--affinities', String(AFFINITIES)],
        ...['--baskets', '0', '--seed', SEED, '--out', DATA_DIR],
      ],
      { stdout: process.stderr, stderr: process.stderr },
    );
    if (code !== 0) throw new Error(`offerloop generate failed with exit code ${code}`);
    await writeFile(marker, `${want}\n`);
    generateMs = Math.round(performance.now() - started);
  }
  return { file, bytes: (await stat(file)).size, reused: same, generateMs };
}

// ---------------------------------------------------------------------------------------------
// One load into a fresh redis-server.

interface LoadRun {
  readonly listpackValue: number;
  readonly customers: number;
  readonly seconds: number;
  readonly customersPerSec: number;
  /** What 1,000,000 customers take at this rate. */
  readonly secondsPer1M: number;
  /** CPU of this process (the loader, its worker threads included) and of redis-server, per customer. */
  readonly loaderCpuUsPerCustomer: number;
  readonly redisCpuUsPerCustomer: number | null;
  /** INFO memory used_memory after the load minus before, per customer. */
  readonly bytesPerCustomer: number;
  /** MEMORY USAGE of sampled buckets divided by their HLEN (mean). */
  readonly bucketBytesPerCustomer: number;
  readonly encoding: string;
  readonly buckets: number;
  readonly version: number;
}

async function loadOnce(data: DataSet, listpackValue: number): Promise<LoadRun> {
  const server = await startRedis({ args: ['--hash-max-listpack-value', String(listpackValue)] });
  const client = createClient({ url: server.url });
  client.on('error', () => {});
  await client.connect();
  try {
    const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
    const memoryBefore = await usedMemory();
    const redisCpuBefore = processCpuMs(server.pid);
    const cpuBefore = process.cpuUsage();
    let stdout = '';
    const argv = ['--redis', server.url, '--prefix', PREFIX, '--grace', '0s'];
    if (WORKERS !== null) argv.push('--workers', String(WORKERS));
    process.stderr.write(
      `load bench: loading into redis-server with hash-max-listpack-value ${listpackValue}\n`,
    );
    const started = performance.now();
    const code = await runLoad(
      [...argv, data.file],
      { stdout: { write: (text: string) => (stdout += text) }, stderr: process.stderr },
      {},
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const redisCpuAfter = processCpuMs(server.pid);
    if (code !== 0) throw new Error(`offerloop load failed with exit code ${code}`);
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { customers: number; version: number };
    const memoryAfter = await usedMemory();
    const meta = JSON.parse((await client.get(`${PREFIX}:pop:{${result.version}}:meta`))!) as {
      buckets: number;
    };

    let sampledBytes = 0;
    let sampledCustomers = 0;
    const encodings = new Set<string>();
    for (let i = 0; i < SAMPLED_BUCKETS; i++) {
      const key = `${PREFIX}:pop:${result.version}:b:${Math.floor((i * meta.buckets) / SAMPLED_BUCKETS)}`;
      sampledBytes += (await client.memoryUsage(key, { SAMPLES: 0 })) ?? 0;
      sampledCustomers += await client.hLen(key);
      encodings.add((await client.objectEncoding(key)) ?? 'missing');
    }
    const customers = result.customers;
    return {
      listpackValue,
      customers,
      seconds: round(seconds, 2),
      customersPerSec: Math.round(customers / seconds),
      secondsPer1M: round((1_000_000 * seconds) / customers, 2),
      loaderCpuUsPerCustomer: round((cpu.user + cpu.system) / customers, 2),
      redisCpuUsPerCustomer:
        redisCpuBefore === null || redisCpuAfter === null
          ? null
          : round(((redisCpuAfter - redisCpuBefore) * 1000) / customers, 2),
      bytesPerCustomer: round((memoryAfter - memoryBefore) / customers, 1),
      bucketBytesPerCustomer: round(sampledBytes / sampledCustomers, 1),
      encoding: [...encodings].join(','),
      buckets: meta.buckets,
      version: result.version,
    };
  } finally {
    client.destroy();
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const data = await prepareData();
  process.stderr.write(
    `load bench: ${path.relative(process.cwd(), data.file)}, ${(data.bytes / 2 ** 20).toFixed(0)} MiB, ` +
      `${Math.round(data.bytes / CUSTOMERS)} bytes per line\n`,
  );
  const compact = await loadOnce(data, 512);
  const standard = await loadOnce(data, 64);
  const runs = [compact, standard];

  console.table(
    runs.map((r) => ({
      'hash-max-listpack-value': r.listpackValue,
      customers: r.customers,
      seconds: r.seconds,
      'customers/s': r.customersPerSec,
      's per 1M': r.secondsPer1M,
      'loader CPU µs/cust': r.loaderCpuUsPerCustomer,
      'redis CPU µs/cust': r.redisCpuUsPerCustomer,
      'bytes/cust (used_memory)': r.bytesPerCustomer,
      'bytes/cust (MEMORY USAGE)': r.bucketBytesPerCustomer,
      encoding: r.encoding,
    })),
  );
  const checks = {
    rate: {
      value: compact.customersPerSec,
      target: TARGET_RATE,
      pass: compact.customersPerSec >= TARGET_RATE,
    },
    secondsPer1M: {
      value: compact.secondsPer1M,
      target: TARGET_SECONDS_1M,
      pass: compact.secondsPer1M < TARGET_SECONDS_1M,
    },
    bytesPerCustomer: {
      value: compact.bytesPerCustomer,
      target: TARGET_BYTES,
      pass: compact.bytesPerCustomer <= TARGET_BYTES,
    },
  };
  console.table({
    'customers/s (listpack 512)': {
      value: checks.rate.value,
      target: `≥ ${TARGET_RATE}`,
      verdict: verdict(checks.rate.pass),
    },
    's per 1M customers': {
      value: checks.secondsPer1M.value,
      target: `< ${TARGET_SECONDS_1M}`,
      verdict: verdict(checks.secondsPer1M.pass),
    },
    'bytes per customer (used_memory)': {
      value: checks.bytesPerCustomer.value,
      target: `≤ ${TARGET_BYTES}`,
      verdict: verdict(checks.bytesPerCustomer.pass),
    },
    'bytes per customer, listpack 64': { value: standard.bytesPerCustomer, target: 'info', verdict: '' },
  });

  const summary = {
    bench: 'load',
    ...machine(),
    config: {
      customers: CUSTOMERS,
      offers: OFFERS,
      affinities: AFFINITIES,
      seed: SEED,
      workers: WORKERS ?? 'default',
      fileBytes: data.bytes,
      bytesPerLine: Math.round(data.bytes / CUSTOMERS),
    },
    data: {
      dir: path.relative(process.cwd(), DATA_DIR) || '.',
      reused: data.reused,
      generateMs: data.generateMs,
    },
    runs,
    checks,
  };
  await publishResult('load', summary);
}

main().catch((err: unknown) => {
  process.stderr.write(`load bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1); // its 'exit' handler kills redis-server
});
