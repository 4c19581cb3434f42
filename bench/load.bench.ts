// Bulk-load benchmark: `offerloop load` (runLoad, the CLI's own code, in this process) of BENCH_CUSTOMERS
// (1,000,000) generated customers with 20 affinities each into a local redis-server started here.
// Run: npm run bench:load. Targets: ≥ 100,000 customers/s and ≤ 200 bytes per customer in Redis.
// Two loads, each into a fresh redis-server: hash-max-listpack-value 512 (docker/redis.conf: buckets
// stay compact listpacks), the target configuration, and Redis' default 64 (hashtables), for comparison.

import { stat } from 'node:fs/promises';
import { createClient } from 'redis';
import { runLoad } from '../src/cli/load-command.js';
import { startRedis } from '../test/support/redis.js';
import {
  type GeneratedData,
  generatedData,
  knob,
  processCpuMs,
  publishResult,
  round,
  runBench,
  say,
  verdict,
} from './support.js';

const CUSTOMERS = Math.floor(knob('CUSTOMERS', 1_000_000));
const PREFIX = 'bench';
const TARGET_RATE = 100_000;
const TARGET_BYTES = 200;
/** Buckets whose MEMORY USAGE is sampled. */
const SAMPLED_BUCKETS = 8;

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

async function loadOnce(data: GeneratedData, listpackValue: number): Promise<LoadRun> {
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
    say('load', `loading into redis-server with hash-max-listpack-value ${listpackValue}`);
    const started = performance.now();
    const code = await runLoad(
      [...argv, data.profiles],
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
  const data = await generatedData('load', 500, CUSTOMERS);
  const bytes = (await stat(data.profiles)).size;
  const compact = await loadOnce(data, 512);
  const standard = await loadOnce(data, 64);
  const runs = [compact, standard];
  console.table(runs);
  const rate = {
    value: compact.customersPerSec,
    target: TARGET_RATE,
    pass: compact.customersPerSec >= TARGET_RATE,
  };
  const size = {
    value: compact.bytesPerCustomer,
    target: TARGET_BYTES,
    pass: compact.bytesPerCustomer <= TARGET_BYTES,
  };
  console.log(
    `${verdict(rate.pass)}: ${rate.value} customers/s (target ≥ ${TARGET_RATE}); ` +
      `${verdict(size.pass)}: ${size.value} bytes per customer (target ≤ ${TARGET_BYTES})`,
  );
  await publishResult('load', {
    config: { customers: CUSTOMERS, fileBytes: bytes },
    runs,
    checks: { rate, size },
  });
}

runBench('load', main);
