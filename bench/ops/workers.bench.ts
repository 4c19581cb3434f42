// Workers benchmark: POST /v1/decisions on Redis with OFFERLOOP_WORKERS=1 against =2, rounds
// alternating 1, 2, 2, 1 … so that drift on the machine hits both alike. Each round starts from the
// same state: Redis emptied and the population loaded again (no round inherits the contact
// histories, caps and budgets of the ones before), a fresh server, a warm-up, a measured run.
// Run: npm run bench:ops:workers. Targets: 2 workers answer more decisions/s than 1, and their CPU
// per decision (all the server's processes, from /proc) is at most 1.05 × one worker's.
// Knobs: BENCH_DURATION (s per measured run, 12), BENCH_ROUNDS (8), BENCH_CONNECTIONS (50),
// BENCH_CUSTOMERS (100000).

import { redisCommand, startRedis } from '../../test/support/redis.js';
import {
  cpuMeters,
  decisionBodies,
  decisionRequests,
  fire,
  generatedData,
  knob,
  median,
  processTree,
  publishResult,
  round,
  runBench,
  runOfferloopLoad,
  say,
  startOfferloop,
  stopServer,
  tableRow,
} from '../support.js';

const DURATION = knob('DURATION', 12);
const ROUNDS = Math.floor(knob('ROUNDS', 8));
const CONNECTIONS = Math.floor(knob('CONNECTIONS', 50));
const CUSTOMERS = Math.floor(knob('CUSTOMERS', 100_000));
const CPU_TOLERANCE = 1.05;
const label = 'workers';

async function main(): Promise<void> {
  const data = await generatedData(label, 500, CUSTOMERS);
  const requests = decisionRequests(decisionBodies('workers-bench', 64, 256, CUSTOMERS));
  const redis = await startRedis({ args: ['--hash-max-listpack-value', '512'] });
  const statuses = new Map<number, string>();
  const runs: {
    round: number;
    workers: number;
    decisionsPerSec: number;
    serverCpuSPer100k: number;
    failed: number;
    [k: string]: number | null;
  }[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const workers = [1, 2, 2, 1][(r - 1) % 4]!;
    await redisCommand(redis.port, 'FLUSHALL');
    const load = await runOfferloopLoad(redis.url, data.profiles, '0s');
    if (load.exitCode !== 0) throw new Error(`offerloop load failed:\n${load.tail.join('\n')}`);
    const server = await startOfferloop({
      REDIS_URL: redis.url,
      REDIS_PREFIX: 'offerloop',
      OFFERLOOP_WORKERS: String(workers),
      OFFERLOOP_RULES: data.rules,
    });
    say(label, `round ${r}: ${workers} worker(s), warm-up ${DURATION / 2} s, then ${DURATION} s…`);
    await fire(server.url, requests, { duration: DURATION / 2, connections: CONNECTIONS });
    const processes = processTree(server.pid).length;
    // The server's whole process tree (primary and workers), the primary alone, and Redis.
    const meters = cpuMeters([server.pid, redis.pid]);
    const started = performance.now();
    const res = await fire(server.url, requests, { duration: DURATION, connections: CONNECTIONS });
    const cpu = meters.stop();
    const elapsedS = (performance.now() - started) / 1000;
    await stopServer(server);
    if (res.non2xx > 0) statuses.set(r, JSON.stringify(res.statusCodeStats));
    const decisions = res.requests.total;
    const per100k = (ms: number) => round((ms / 1000 / decisions) * 100_000, 2);
    runs.push({
      round: r,
      workers,
      processes,
      decisionsPerSec: Math.round(decisions / elapsedS),
      p99Ms: res.latency.p99,
      failed: res.non2xx + res.errors + res.timeouts,
      serverCpuSPer100k: per100k(cpu.ms[0]!),
      redisCpuSPer100k: per100k(cpu.ms[1]!),
      serverCpuPct: cpu.pct[0]!,
      redisCpuPct: cpu.pct[1]!,
      loadgenCpuPct: cpu.loadgenPct,
      otherCpuPct: cpu.otherPct,
    });
  }
  await redis.stop();

  const med = (workers: number, f: (x: (typeof runs)[number]) => number) =>
    median(runs.filter((x) => x.workers === workers).map(f));
  const rps = [med(1, (x) => x.decisionsPerSec), med(2, (x) => x.decisionsPerSec)] as const;
  const cpu = [med(1, (x) => x.serverCpuSPer100k), med(2, (x) => x.serverCpuSPer100k)] as const;
  const speedUp = round(rps[1] / rps[0], 3);
  const cpuRatio = round(cpu[1] / cpu[0], 3);
  console.table(runs);
  console.table({
    'decisions/s, 1 / 2 workers (median)': tableRow(`${Math.round(rps[0])} / ${Math.round(rps[1])}`),
    'speed-up 2 / 1': tableRow(speedUp, '> 1', speedUp > 1),
    'server CPU s / 100k decisions, 1 / 2 workers': tableRow(`${cpu[0]} / ${cpu[1]}`),
    'CPU ratio 2 / 1': tableRow(cpuRatio, `≤ ${CPU_TOLERANCE}`, cpuRatio <= CPU_TOLERANCE),
  });
  const problems = runs
    .filter((x) => x.failed > 0)
    .map((x) => `round ${x.round}: ${x.failed} requests failed ${statuses.get(x.round) ?? ''}`);
  await publishResult(
    label,
    {
      config: { customers: CUSTOMERS, durationS: DURATION, rounds: ROUNDS, connections: CONNECTIONS },
      runs,
      speedUp,
      cpuRatio,
      problems,
    },
    problems,
  );
}

runBench(label, main);
