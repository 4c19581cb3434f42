// Workers benchmark (issue 8): POST /v1/decisions on Redis with OFFERLOOP_WORKERS=1 against
// OFFERLOOP_WORKERS=2, side by side in one run. Run: npm run bench:workers
// On this two-core machine the load generator (autocannon, in this process) and Redis share the
// cores with the server, so next to decisions per second the bench reports what the server's
// processes (primary and workers) spent: CPU seconds per 100,000 decisions.
// Targets: 2 workers answer more decisions per second than 1, and their CPU per decision does not
// grow (at most 5 % more, the noise of this machine).
// Each round starts from the same state: Redis emptied (FLUSHALL) and the population loaded again
// with `offerloop load`, so that no round inherits the contact history, caps and budgets of the
// ones before; then a fresh server, a warm-up (which also fills the memory tiers), a measured run.
// Rounds alternate 1, 2, 2, 1 … workers so that drift on the machine hits both alike.
// Prints tables and one JSON line ({"bench":"workers",...}); also writes bench/results/workers.json.
// Knobs (env): BENCH_DURATION (s per measured run, 12), BENCH_ROUNDS (8), BENCH_CONNECTIONS (50),
// BENCH_WARMUP (s, 6), BENCH_CUSTOMERS (100000), BENCH_DATA_DIR (default bench/results/data, shared
// with the http bench), BENCH_REDIS_SERVER (redis-server binary).

import path from 'node:path';
import { type RedisProcess, redisCommand, startRedis } from '../test/support/redis.js';
import {
  API_KEY,
  decisionBodies,
  decisionRequests,
  envNumber,
  fire,
  generatedData,
  httpKnobs,
  machine,
  machineMeter,
  median,
  processCpuMs,
  processTree,
  processTreeCpuMs,
  publishResult,
  REDIS_SERVER,
  RESULTS_DIR,
  round,
  runBench,
  runOfferloopLoad,
  SERVER_SCRIPT,
  type Server,
  startServer,
  stopServer,
  superviseChildren,
  verdict,
} from './support.js';

const { DURATION, ROUNDS, CONNECTIONS, WARMUP } = httpKnobs({ rounds: 8, warmup: 6 });
const MEASURE_S = process.env.BENCH_DURATION ? DURATION : 12;
const CUSTOMERS = Math.floor(envNumber('BENCH_CUSTOMERS', 100_000));
const OFFERS = 500;
const SEED = '42';
const DATA_DIR = path.resolve(process.env.BENCH_DATA_DIR ?? path.join(RESULTS_DIR, 'data'));

/** "Does not grow": CPU per decision with 2 workers at most this much above 1 worker's. */
const CPU_TOLERANCE = 1.05;

const BODIES_PER_SLICE = 256;
const SLICES = 64;

superviseChildren('workers bench');
const say = (text: string) => process.stderr.write(`workers bench: ${text}\n`);

const REQUESTS = decisionRequests(decisionBodies('workers-bench', SLICES, BODIES_PER_SLICE, CUSTOMERS));

/** Empties Redis and loads the population again (offerloop load, a child process). */
async function freshPopulation(redis: RedisProcess, profiles: string): Promise<number> {
  await redisCommand(redis.port, 'FLUSHALL');
  // No old version to wait for: Redis was just emptied.
  const load = await runOfferloopLoad(redis.url, profiles, { grace: '0s' });
  if (load.exitCode !== 0)
    throw new Error(`offerloop load failed (exit ${load.exitCode}):\n${load.tail.join('\n')}`);
  return load.wallMs;
}

interface RoundFigures {
  round: number;
  workers: number;
  decisionsPerSec: number;
  decisions: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  /** Primary and workers together, seconds of CPU per 100,000 decisions. */
  serverCpuSPer100k: number;
  redisCpuSPer100k: number | null;
  /** % of one core over the run: the server's processes, Redis, the load generator, the whole machine. */
  serverCpuPct: number;
  /** Of serverCpuPct, the primary's (which only deals connections out); null with 1 worker. */
  primaryCpuPct: number | null;
  redisCpuPct: number | null;
  loadgenCpuPct: number;
  machineBusyPct: number | null;
  /** Processes of the server during the run (1 worker: the server alone; n > 1: primary and n workers). */
  processes: number;
}

async function runRound(
  roundNo: number,
  workers: number,
  redis: RedisProcess,
  profiles: string,
  rules: string,
): Promise<RoundFigures> {
  const loadMs = await freshPopulation(redis, profiles);
  say(`round ${roundNo}: ${workers} worker(s); population loaded in ${loadMs} ms, starting the server…`);
  const server: Server = await startServer(
    `${workers} worker(s)`,
    SERVER_SCRIPT,
    {
      REDIS_URL: redis.url,
      REDIS_PREFIX: 'offerloop',
      OFFERLOOP_WORKERS: String(workers),
      OFFERLOOP_RULES: rules,
      OFFERLOOP_API_KEYS: `${API_KEY}=decide`,
      OFFERLOOP_WATCH_RULES: 'false',
      OFFERLOOP_LOG_LEVEL: 'info',
    },
    'offerloop ready',
  );
  try {
    say(`round ${roundNo}: warm-up ${WARMUP} s…`);
    await fire(server.url, REQUESTS, { duration: WARMUP, connections: CONNECTIONS });
    const tree = processTree(server.pid);
    const wall = performance.now();
    const serverCpu = processTreeCpuMs(server.pid);
    const primaryCpu = workers > 1 ? processCpuMs(server.pid) : null;
    const redisCpu = processCpuMs(redis.pid);
    const own = process.cpuUsage();
    const all = machineMeter();
    say(`round ${roundNo}: measuring ${MEASURE_S} s…`);
    const r = await fire(server.url, REQUESTS, { duration: MEASURE_S, connections: CONNECTIONS });
    const elapsed = performance.now() - wall;
    const serverMs = processTreeCpuMs(server.pid) - serverCpu;
    const primaryNow = workers > 1 ? processCpuMs(server.pid) : null;
    const primaryMs = primaryCpu !== null && primaryNow !== null ? primaryNow - primaryCpu : null;
    const redisNow = processCpuMs(redis.pid);
    const redisMs = redisCpu !== null && redisNow !== null ? redisNow - redisCpu : null;
    const ownDelta = process.cpuUsage(own);
    const busy = all.stop();
    const decisions = r.requests.total;
    const per100k = (ms: number) => round((ms / 1000 / decisions) * 100_000, 2);
    return {
      round: roundNo,
      workers,
      decisionsPerSec: Math.round(decisions / (elapsed / 1000)),
      decisions,
      p50Ms: r.latency.p50,
      p99Ms: r.latency.p99,
      non2xx: r.non2xx,
      errors: r.errors,
      serverCpuSPer100k: per100k(serverMs),
      redisCpuSPer100k: redisMs === null ? null : per100k(redisMs),
      serverCpuPct: round((serverMs / elapsed) * 100),
      primaryCpuPct: primaryMs === null ? null : round((primaryMs / elapsed) * 100),
      redisCpuPct: redisMs === null ? null : round((redisMs / elapsed) * 100),
      loadgenCpuPct: round(((ownDelta.user + ownDelta.system) / 1000 / elapsed) * 100),
      machineBusyPct: busy.busyPct,
      processes: tree.length,
    };
  } finally {
    await stopServer(server);
  }
}

/** 1, 2, 2, 1, 1, 2, 2, 1 …: each pair of rounds has both, in alternating order. */
function workersOfRound(r: number): number {
  return [1, 2, 2, 1][(r - 1) % 4]!;
}

async function main(): Promise<void> {
  const data = await generatedData('workers bench', DATA_DIR, {
    offers: OFFERS,
    customers: CUSTOMERS,
    seed: SEED,
  });
  say(`starting ${REDIS_SERVER}…`);
  const redis = await startRedis({ args: ['--hash-max-listpack-value', '512'], binary: REDIS_SERVER });
  const runs: RoundFigures[] = [];
  try {
    for (let r = 1; r <= ROUNDS; r++)
      runs.push(await runRound(r, workersOfRound(r), redis, data.profiles, data.rules));
  } finally {
    await redis.stop();
  }

  const of = (workers: number) => runs.filter((x) => x.workers === workers);
  const med = (workers: number, f: (x: RoundFigures) => number) => median(of(workers).map(f));
  const rps1 = med(1, (x) => x.decisionsPerSec);
  const rps2 = med(2, (x) => x.decisionsPerSec);
  const cpu1 = med(1, (x) => x.serverCpuSPer100k);
  const cpu2 = med(2, (x) => x.serverCpuSPer100k);
  const faster = rps2 > rps1;
  const cpuFlat = cpu2 <= cpu1 * CPU_TOLERANCE;

  console.table(runs);
  console.table({
    'decisions/s, 1 worker (median)': { value: Math.round(rps1), target: '', verdict: '' },
    'decisions/s, 2 workers (median)': {
      value: Math.round(rps2),
      target: '> 1 worker',
      verdict: verdict(faster),
    },
    'speed-up 2 / 1': { value: round(rps2 / rps1, 3), target: '> 1', verdict: '' },
    'server CPU s / 100k decisions, 1 worker': { value: cpu1, target: '', verdict: '' },
    'server CPU s / 100k decisions, 2 workers': {
      value: cpu2,
      target: `≤ ${CPU_TOLERANCE} × 1 worker`,
      verdict: verdict(cpuFlat),
    },
    'CPU ratio 2 / 1': { value: round(cpu2 / cpu1, 3), target: '', verdict: '' },
  });

  const problems = runs
    .filter((x) => x.non2xx > 0 || x.errors > 0)
    .map((x) => `round ${x.round} (${x.workers} workers): ${x.non2xx} non-2xx, ${x.errors} errors`);
  await publishResult(
    'workers',
    {
      bench: 'workers',
      ...machine(),
      config: {
        offers: OFFERS,
        customers: CUSTOMERS,
        measureS: MEASURE_S,
        warmupS: WARMUP,
        rounds: ROUNDS,
        connections: CONNECTIONS,
        data: { ...data, dir: path.relative(process.cwd(), data.dir) || '.' },
      },
      runs,
      medians: {
        oneWorker: { decisionsPerSec: Math.round(rps1), serverCpuSPer100k: cpu1 },
        twoWorkers: { decisionsPerSec: Math.round(rps2), serverCpuSPer100k: cpu2 },
      },
      speedUp: { value: round(rps2 / rps1, 3), pass: faster },
      cpuRatio: { value: round(cpu2 / cpu1, 3), tolerance: CPU_TOLERANCE, pass: cpuFlat },
      ok: problems.length === 0,
      problems,
    },
    problems,
  );
}

runBench('workers bench', main);
