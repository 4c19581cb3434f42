// Redis-tier HTTP benchmark: POST /v1/decisions of our server serving profiles from Redis, with a
// memory tier too small to help (OFFERLOOP_CACHE_MB=1), against the bare Fastify hello server
// (bench/hello-server.ts) with the same JSON bodies, side by side in one run.
// Run: npm run bench:redis-http
// Targets: decisions ≥ 35% of hello's req/s; p99 < 10 ms at about half the maximum decision rate;
// a reload of the whole population under that load fails no request, keeps p99 ≤ 2× the steady p99,
// and every customer is still known afterwards.
// Also reports the memory tier's hits and Redis' used_memory per customer (INFO memory).
// Prints tables and one JSON line ({"bench":"redis-http",...}); also writes bench/results/redis-http.json.
// Knobs (env): BENCH_REDIS_CUSTOMERS (1000000), BENCH_DURATION (s per run, 6), BENCH_ROUNDS (3),
// BENCH_CONNECTIONS (50), BENCH_WARMUP (s, 5), BENCH_LATENCY_DURATION (s, = BENCH_DURATION),
// BENCH_LATENCY_CONNECTIONS (20), BENCH_RELOAD_MARGIN (s of steady load before and after the
// reload; default half the measured load time, at least 3), BENCH_REDIS_DATA_DIR (default
// bench/results/data-redis, generated once, then reused), BENCH_REDIS_SERVER (redis-server binary).
// Diagnostics: BENCH_LOAD_ARGS (extra `offerloop load` arguments, e.g. '--workers 0'),
// BENCH_RELOAD_NICE (run the reload's loader under nice -n N, to tell its CPU from Redis' work),
// BENCH_CPU_PROF=DIR (profile our server with node --cpu-prof; the profile is written at its exit).

import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type autocannon from 'autocannon';
import { type RedisProcess, redisCommand, startRedis } from '../test/support/redis.js';
import {
  API_KEY,
  CPU_PROF_DIR,
  cpuMeter,
  decisionBodies,
  decisionRequests,
  envNumber,
  fire,
  type GeneratedData,
  generatedData,
  HELLO_SCRIPT,
  httpKnobs,
  type LoadResult,
  latencySummary,
  machine,
  machineMeter,
  median,
  pacedGroups,
  pacedRun,
  publishResult,
  REDIS_SERVER,
  RESULTS_DIR,
  round,
  runBench,
  runOfferloopLoad,
  SERVER_SCRIPT,
  type Server,
  sampleDecisions,
  startServer,
  stopServer,
  superviseChildren,
  tableRow,
} from './support.js';

const CUSTOMERS = Math.floor(envNumber('BENCH_REDIS_CUSTOMERS', 1_000_000));
const { DURATION, ROUNDS, CONNECTIONS, WARMUP, LATENCY_DURATION, LATENCY_CONNECTIONS } = httpKnobs({
  rounds: 3,
  warmup: 5,
});
const RELOAD_MARGIN = process.env.BENCH_RELOAD_MARGIN ? envNumber('BENCH_RELOAD_MARGIN', 3) : null;
const DATA_DIR = path.resolve(process.env.BENCH_REDIS_DATA_DIR ?? path.join(RESULTS_DIR, 'data-redis'));
/** Diagnostics: extra arguments for both `offerloop load` runs, and the reload's niceness (0-19). */
const LOAD_ARGS = (process.env.BENCH_LOAD_ARGS ?? '').split(/\s+/).filter((a) => a !== '');
const RELOAD_NICE = Math.min(19, Math.floor(Number(process.env.BENCH_RELOAD_NICE ?? 0) || 0));
const OFFERS = 500;
const AFFINITIES = 20;
const SEED = '42';
const CACHE_MB = 1;
const RELOAD_GRACE = '2s';

/**
 * Paced runs start with this many seconds that are not counted: the groups start 0.1 s apart and
 * each builds its connections' 2,048 request buffers in this process, which delays the responses
 * of the groups already running by a few ms; the first bursts also meet cold connections.
 */
const RAMP_UP_S = 2;

const TARGET_RATIO = 0.35;
const TARGET_P99_MS = 10;
/** p99 while a population is reloaded, as a multiple of the steady p99. */
const TARGET_RELOAD_P99_FACTOR = 2;

/**
 * Bodies per connection; each connection cycles through its own slice. 256 × 2,048 = 524,288 bodies.
 * Each run takes the next slices (hello and decisions of one round the same ones), so that a
 * decision run mostly meets customers no earlier run decided: answers do not shrink from run to run
 * as contact policies suppress offers already shown. Far more customers than the memory tier holds
 * (about 500 in 1 MiB).
 */
const BODIES_PER_SLICE = 2048;
const SLICES = 256;

superviseChildren('redis-http bench');

const say = (text: string) => process.stderr.write(`redis-http bench: ${text}\n`);

// ---------------------------------------------------------------------------------------------
// Redis: our own redis-server on a free port (test/support/redis.ts: --save "" --appendonly no, its
// own temp dir, killed with the bench), with compact hashes as docker/redis.conf.
const REDIS_ARGS = ['--hash-max-listpack-value', '512'];

interface RedisMemory {
  readonly usedMemory: number;
  readonly usedMemoryRss: number;
  readonly usedMemoryDataset: number;
  readonly keys: number;
}

async function redisMemory(redis: RedisProcess): Promise<RedisMemory> {
  const info = await redisCommand(redis.port, 'INFO', 'memory');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  const keys = Number(/^:(\d+)/.exec(await redisCommand(redis.port, 'DBSIZE'))?.[1] ?? Number.NaN);
  return {
    usedMemory: field('used_memory'),
    usedMemoryRss: field('used_memory_rss'),
    usedMemoryDataset: field('used_memory_dataset'),
    keys,
  };
}

// ---------------------------------------------------------------------------------------------
// Data: `offerloop generate --offers 500 --customers N --baskets 0` once, reused while the
// parameters match. No baskets: the bench needs only the rules and the profiles.

function prepareData(): Promise<GeneratedData> {
  return generatedData('redis-http bench', DATA_DIR, {
    offers: OFFERS,
    customers: CUSTOMERS,
    affinities: AFFINITIES,
    seed: SEED,
  });
}

// ---------------------------------------------------------------------------------------------
// Loading: `offerloop load --redis URL --grace 2s FILE` (runLoad) in a child process, so that its
// CPU does not stall the event loop that times the responses.

interface LoadFigures {
  readonly ok: boolean;
  readonly exitCode: number | null;
  readonly wallMs: number;
  /** CPU time of the loader process (last /proc sample before it exited). */
  readonly loaderCpuMs: number | null;
  readonly customersPerSec: number;
  readonly result: LoadResult | null;
  readonly tail: readonly string[];
}

async function runLoadChild(
  redis: RedisProcess,
  file: string,
  options: { echo: boolean; nice: number },
): Promise<LoadFigures> {
  const load = await runOfferloopLoad(redis.url, file, {
    grace: RELOAD_GRACE,
    extraArgs: LOAD_ARGS,
    nice: options.nice,
    echo: options.echo,
    meterCpu: true,
  });
  const customers = load.result?.customers ?? 0;
  return {
    ok: load.exitCode === 0 && load.result !== null,
    exitCode: load.exitCode,
    wallMs: load.wallMs,
    loaderCpuMs: load.cpuMs,
    customersPerSec: Math.round(customers / (load.wallMs / 1000)),
    result: load.result,
    tail: load.tail,
  };
}

// ---------------------------------------------------------------------------------------------
// Request bodies: customers drawn uniformly over the whole population, random channels, drawn once,
// identical for both targets.

const drawnCustomers = new Set<number>();

const SLICE_BODIES = decisionBodies('redis-http-bench', SLICES, BODIES_PER_SLICE, CUSTOMERS, drawnCustomers);
const REQUESTS = decisionRequests(SLICE_BODIES);
const DISTINCT_CUSTOMERS = drawnCustomers.size;

/** The first slice of the next run; `take(n)` moves past n slices (wrapping around). */
const sliceCursor = {
  next: 0,
  take(n: number): number {
    const first = this.next;
    this.next = (this.next + n) % SLICES;
    return first;
  },
};

// ---------------------------------------------------------------------------------------------
// What came back: autocannon hands every response body to verifyBody. Ours must say the customer
// is known and not degraded; hello gets a check of the same kind, so the load generator does about
// the same work for both.

class BodyTally {
  known = 0;
  unknown = 0;
  degraded = 0;

  forDecisions(): (body: string | Buffer | undefined) => boolean {
    return (body) => {
      const text = typeof body === 'string' ? body : (body?.toString('utf8') ?? '');
      if (text.includes('"customerKnown":true')) this.known++;
      else this.unknown++;
      if (text.includes('"degraded":true')) this.degraded++;
      return true;
    };
  }

  forHello(): (body: string | Buffer | undefined) => boolean {
    return (body) => {
      const text = typeof body === 'string' ? body : (body?.toString('utf8') ?? '');
      if (text.includes('"ok":true')) this.known++;
      else this.unknown++;
      return true;
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Runs.

interface RunFigures {
  round: number | 'warm-up';
  target: string;
  reqPerSec: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Decisions: answers without `customerKnown: true` (hello: without `ok: true`). */
  unknown: number;
  degraded: number;
  /** Server CPU time per response: less disturbed by other load on the machine than req/s. */
  serverCpuUsPerReq: number | null;
  /** Redis' CPU time per response (0 for hello, which does not use it). */
  redisCpuUsPerReq: number | null;
  serverCpuPct: number | null;
  redisCpuPct: number | null;
  loadgenCpuPct: number;
  /** CPU of everything else on the machine (other jobs, kernel time not charged to a process), % of one core. */
  otherCpuPct: number | null;
  bytesPerResponse: number;
}

async function measure(
  server: Server,
  redis: RedisProcess,
  roundNo: RunFigures['round'],
  duration: number,
  firstSlice: number,
): Promise<RunFigures> {
  const tally = new BodyTally();
  let meters = startMeters(server, redis);
  const r = await fire(server.url, REQUESTS, {
    duration,
    connections: CONNECTIONS,
    firstSlice,
    verifyBody: server.name === 'hello' ? tally.forHello() : tally.forDecisions(),
    // Not the set-up of the clients: CPU from when the requests start.
    onStart: () => {
      meters = startMeters(server, redis);
    },
  });
  const { cpu, redisCpu, all } = meters.stop();
  if (r.non2xx > 0 || r.errors > 0 || tally.unknown > 0 || tally.degraded > 0) {
    say(
      `${server.name} round ${roundNo}: ${r.non2xx} non-2xx, ${r.errors} errors, ${tally.unknown} unknown, ` +
        `${tally.degraded} degraded ${JSON.stringify(r.statusCodeStats)}`,
    );
  }
  const perReq = (ms: number | null) =>
    ms !== null && r.requests.total > 0 ? round((ms * 1000) / r.requests.total, 1) : null;
  return {
    round: roundNo,
    target: server.name,
    reqPerSec: Math.round(r.requests.average),
    requests: r.requests.total,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    unknown: tally.unknown,
    degraded: tally.degraded,
    serverCpuUsPerReq: perReq(cpu.serverMs),
    redisCpuUsPerReq: perReq(redisCpu.serverMs),
    serverCpuPct: cpu.serverPct,
    redisCpuPct: redisCpu.serverPct,
    loadgenCpuPct: cpu.loadgenPct,
    otherCpuPct: otherCpu(all.busyPct, cpu.serverPct, redisCpu.serverPct, cpu.loadgenPct),
    bytesPerResponse: r.requests.total > 0 ? Math.round(r.throughput.total / r.requests.total) : 0,
  };
}

interface LatencyFigures {
  targetRate: number;
  achievedRate: number;
  connections: number;
  groups: number;
  durationS: number;
  /** Seconds before durationS, not counted in the figures. */
  rampUpS: number;
  responses: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  unknown: number;
  degraded: number;
  serverCpuPct: number | null;
  redisCpuPct: number | null;
  loadgenCpuPct: number;
  /** CPU of everything else on the machine (other jobs, kernel time not charged to a process), % of one core. */
  otherCpuPct: number | null;
}

/** CPU meters of our server, Redis, this process and the whole machine, started now. */
function startMeters(server: Server, redis: RedisProcess) {
  const machine = machineMeter();
  const meter = cpuMeter(server.pid);
  const redisMeter = cpuMeter(redis.pid);
  return {
    stop: () => ({ cpu: meter.stop(), redisCpu: redisMeter.stop(), all: machine.stop() }),
  };
}

/** Machine busy % minus what the processes we know about used. */
function otherCpu(busyPct: number | null, ...known: (number | null)[]): number | null {
  if (busyPct === null || known.some((x) => x === null)) return null;
  return Math.max(0, Math.round(busyPct - (known as number[]).reduce((a, b) => a + b, 0)));
}

const sumOf = (results: readonly autocannon.Result[], f: (r: autocannon.Result) => number) =>
  results.reduce((acc, r) => acc + f(r), 0);

async function latencyRun(server: Server, redis: RedisProcess, rate: number): Promise<LatencyFigures> {
  const times: number[] = [];
  const tally = new BodyTally();
  const counted = performance.now() + RAMP_UP_S * 1000;
  let meters = startMeters(server, redis);
  // CPU from the end of the ramp-up, like the latencies.
  const restart = setTimeout(() => {
    meters = startMeters(server, redis);
  }, RAMP_UP_S * 1000);
  const results = await pacedRun(server.url, REQUESTS, {
    duration: RAMP_UP_S + LATENCY_DURATION,
    connections: LATENCY_CONNECTIONS,
    firstSlice: sliceCursor.take(LATENCY_CONNECTIONS),
    rate,
    onResponse: (ms) => {
      if (performance.now() >= counted) times.push(ms);
    },
    // Every answer is checked, the ramp-up's too.
    verifyBody: tally.forDecisions(),
  });
  clearTimeout(restart);
  const { cpu, redisCpu, all } = meters.stop();
  return {
    targetRate: rate,
    // Each group runs the full duration at its share of the rate, only its start is offset.
    achievedRate: Math.round(times.length / LATENCY_DURATION),
    connections: LATENCY_CONNECTIONS,
    groups: pacedGroups(LATENCY_CONNECTIONS, rate),
    durationS: LATENCY_DURATION,
    rampUpS: RAMP_UP_S,
    responses: times.length,
    ...latencySummary(times),
    non2xx: sumOf(results, (r) => r.non2xx),
    errors: sumOf(results, (r) => r.errors),
    unknown: tally.unknown,
    degraded: tally.degraded,
    serverCpuPct: cpu.serverPct,
    redisCpuPct: redisCpu.serverPct,
    loadgenCpuPct: cpu.loadgenPct,
    otherCpuPct: otherCpu(all.busyPct, cpu.serverPct, redisCpu.serverPct, cpu.loadgenPct),
  };
}

// ---------------------------------------------------------------------------------------------
// Reload under load: decisions at the latency run's rate; after `margin` s a second `offerloop
// load` of the population starts (the same file, a new version); `margin` s after it finished
// (flip and grace included) the load stops. Responses are split by when they arrived.

type Phase = 'ramp-up' | 'before' | 'during' | 'after';
const PHASES: readonly Phase[] = ['ramp-up', 'before', 'during', 'after'];

interface PhaseFigures {
  phase: Phase;
  seconds: number;
  responses: number;
  ratePerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  unknown: number;
  degraded: number;
}

interface ReloadFigures {
  rate: number;
  marginS: number;
  rampUpS: number;
  durationS: number;
  load: LoadFigures;
  /** When the server logged 'serving a new population version', after the load started. */
  flipSeenAfterLoadStartMs: number | null;
  /** When the server logged 'serving a new population version', before the load ended. */
  flipSeenBeforeLoadEndMs: number | null;
  phases: PhaseFigures[];
  non2xx: number;
  errors: number;
  timeouts: number;
  serverCpuPct: number | null;
  redisCpuPct: number | null;
  loadgenCpuPct: number;
  /** CPU of everything else on the machine (other jobs, kernel time not charged to a process), % of one core. */
  otherCpuPct: number | null;
  /** Highest Redis used_memory seen while both versions existed (sampled each second). */
  peakUsedMemory: number;
  /** Per second of the run: responses, p99 and max in ms, and the phase. */
  timeline: { s: number; phase: Phase; n: number; p99Ms: number; maxMs: number }[];
}

async function reloadRun(
  server: Server,
  redis: RedisProcess,
  data: GeneratedData,
  rate: number,
  margin: number,
  flips: number[],
): Promise<ReloadFigures> {
  const started = performance.now();
  const counted = started + RAMP_UP_S * 1000;
  let loadStart = Number.POSITIVE_INFINITY;
  let loadEnd = Number.POSITIVE_INFINITY;
  const phaseAt = (t: number): Phase =>
    t < counted ? 'ramp-up' : t < loadStart ? 'before' : t < loadEnd ? 'during' : 'after';
  const times = Object.fromEntries(PHASES.map((p) => [p, [] as number[]])) as Record<Phase, number[]>;
  const tallies = Object.fromEntries(PHASES.map((p) => [p, new BodyTally()])) as Record<Phase, BodyTally>;
  const checks = Object.fromEntries(PHASES.map((p) => [p, tallies[p].forDecisions()])) as Record<
    Phase,
    (body: string | Buffer | undefined) => boolean
  >;
  const seconds: number[][] = [];
  const secondPhase: Phase[] = [];

  const stop = new AbortController();
  const meters = startMeters(server, redis);
  let peakUsedMemory = 0;
  const memoryPoll = setInterval(() => {
    redisMemory(redis).then(
      (m) => {
        peakUsedMemory = Math.max(peakUsedMemory, m.usedMemory);
      },
      () => {},
    );
  }, 1_000);
  const run = pacedRun(server.url, REQUESTS, {
    firstSlice: sliceCursor.take(LATENCY_CONNECTIONS),
    // Long enough for any load; stopped by `stop` once the load is done and the margin has passed.
    duration: 3_600,
    connections: LATENCY_CONNECTIONS,
    rate,
    signal: stop.signal,
    onResponse: (ms) => {
      const now = performance.now();
      const phase = phaseAt(now);
      times[phase].push(ms);
      const s = Math.floor((now - started) / 1000);
      const bucket = seconds[s] ?? [];
      seconds[s] = bucket;
      bucket.push(ms);
      secondPhase[s] = phase === 'during' || secondPhase[s] === undefined ? phase : secondPhase[s];
    },
    verifyBody: (body) => checks[phaseAt(performance.now())](body),
  });

  await sleep((RAMP_UP_S + margin) * 1000);
  say(`reload: offerloop load of ${path.basename(data.profiles)} while deciding at ${rate}/s…`);
  loadStart = performance.now();
  const flipsBefore = flips.length;
  const load = await runLoadChild(redis, data.profiles, { echo: false, nice: RELOAD_NICE });
  loadEnd = performance.now();
  if (!load.ok) say(`reload: the load failed (exit ${load.exitCode}):\n  ${load.tail.join('\n  ')}`);
  await sleep(margin * 1000);
  stop.abort();
  const results = await run;
  const ended = performance.now();
  clearInterval(memoryPoll);
  const { cpu, redisCpu, all } = meters.stop();

  const flip = flips.length > flipsBefore ? flips[flipsBefore]! : null;
  const span: Record<Phase, number> = {
    'ramp-up': counted - started,
    before: loadStart - counted,
    during: loadEnd - loadStart,
    after: ended - loadEnd,
  };
  return {
    rate,
    marginS: margin,
    rampUpS: RAMP_UP_S,
    durationS: round((ended - started) / 1000, 1),
    load,
    flipSeenAfterLoadStartMs: flip === null ? null : Math.round(flip - loadStart),
    flipSeenBeforeLoadEndMs: flip === null ? null : Math.round(loadEnd - flip),
    phases: PHASES.map((phase) => {
      const summary = latencySummary(times[phase]);
      return {
        phase,
        seconds: round(span[phase] / 1000, 1),
        responses: times[phase].length,
        ratePerSec: Math.round(times[phase].length / (span[phase] / 1000)),
        p50Ms: summary.p50Ms,
        p99Ms: summary.p99Ms,
        maxMs: summary.maxMs,
        unknown: tallies[phase].unknown,
        degraded: tallies[phase].degraded,
      };
    }),
    non2xx: sumOf(results, (r) => r.non2xx),
    errors: sumOf(results, (r) => r.errors),
    timeouts: sumOf(results, (r) => r.timeouts),
    serverCpuPct: cpu.serverPct,
    redisCpuPct: redisCpu.serverPct,
    loadgenCpuPct: cpu.loadgenPct,
    otherCpuPct: otherCpu(
      all.busyPct,
      cpu.serverPct,
      redisCpu.serverPct,
      cpu.loadgenPct,
      load.loaderCpuMs === null ? 0 : round((load.loaderCpuMs / (ended - started)) * 100),
    ),
    peakUsedMemory,
    timeline: seconds.map((xs, s) => {
      const summary = latencySummary(xs ?? []);
      return {
        s,
        phase: secondPhase[s] ?? 'ramp-up',
        n: xs?.length ?? 0,
        p99Ms: summary.p99Ms,
        maxMs: summary.maxMs,
      };
    }),
  };
}

// ---------------------------------------------------------------------------------------------

interface Readiness {
  readonly status?: string;
  readonly populationVersion?: number | null;
  readonly customers?: number;
  readonly memoryTier?: { entries: number; bytes: number; hits: number; misses: number };
}

async function readiness(server: Server): Promise<Readiness> {
  const res = await fetch(`${server.url}/health/ready`);
  return (await res.json()) as Readiness;
}

function failures(
  runs: readonly { non2xx: number; errors: number; unknown: number; degraded: number; target?: string }[],
): string[] {
  return runs
    .filter((r) => r.non2xx > 0 || r.errors > 0 || r.unknown > 0 || r.degraded > 0)
    .map(
      (r) =>
        `${r.target ?? 'latency run'}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.unknown} without customerKnown, ${r.degraded} degraded`,
    );
}

const mib = (bytes: number) => round(bytes / 1024 / 1024, 1);

async function main(): Promise<void> {
  const data = await prepareData();

  say(`starting ${REDIS_SERVER}…`);
  const redis = await startRedis({ args: REDIS_ARGS, binary: REDIS_SERVER });
  const emptyMemory = await redisMemory(redis);

  say(`loading ${CUSTOMERS.toLocaleString('en-US')} customers with offerloop load…`);
  const firstLoad = await runLoadChild(redis, data.profiles, { echo: true, nice: 0 });
  if (!firstLoad.ok)
    throw new Error(`offerloop load failed (exit ${firstLoad.exitCode}):\n${firstLoad.tail.join('\n')}`);
  const loadedMemory = await redisMemory(redis);
  const loaded = firstLoad.result?.customers ?? 0;
  if (loaded !== CUSTOMERS)
    throw new Error(`offerloop load loaded ${loaded} customers, expected ${CUSTOMERS}`);
  const bytesPerCustomer = (loadedMemory.usedMemory - emptyMemory.usedMemory) / loaded;
  say(
    `loaded in ${(firstLoad.wallMs / 1000).toFixed(1)} s; Redis used_memory ${mib(loadedMemory.usedMemory)} MiB, ` +
      `${Math.round(bytesPerCustomer)} B/customer`,
  );

  // Ours first and alone, so that its start-up time is not shared with anything else.
  say('starting offerloop…');
  const flips: number[] = [];
  const offerloop = await startServer(
    'decisions',
    SERVER_SCRIPT,
    {
      REDIS_URL: redis.url,
      REDIS_CLUSTER_NODES: '',
      REDIS_PREFIX: 'offerloop',
      OFFERLOOP_CACHE_MB: String(CACHE_MB),
      // One process, as hello is one: its CPU is what the meters read (workers: bench:workers).
      OFFERLOOP_WORKERS: '1',
      OFFERLOOP_RULES: data.rules,
      OFFERLOOP_API_KEYS: `${API_KEY}=decide+admin`,
      OFFERLOOP_WATCH_RULES: 'false',
      // 'offerloop ready' and 'serving a new population version' are info lines; no request is logged at info.
      OFFERLOOP_LOG_LEVEL: 'info',
    },
    'offerloop ready',
    {
      nodeArgs: CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : [],
      onLog: (log, at) => {
        if (log.msg === 'serving a new population version') flips.push(at);
      },
    },
  );
  const hello = await startServer('hello', HELLO_SCRIPT, {}, 'hello ready');
  say(`offerloop ready in ${offerloop.spawnToReadyMs} ms, hello in ${hello.spawnToReadyMs} ms`);

  // The last slice: the runs start with the first ones.
  const sample = await sampleDecisions(offerloop, REQUESTS, SLICE_BODIES[SLICES - 1]!.slice(0, 500));
  if (sample.customerKnown !== sample.requests || sample.degraded > 0) {
    throw new Error(
      `${sample.customerKnown} of ${sample.requests} sampled customers are known, ${sample.degraded} degraded: profiles not in Redis?`,
    );
  }
  const tierAtStart = await readiness(offerloop);

  say(`warm-up ${WARMUP} s each…`);
  const warmupSlice = sliceCursor.take(CONNECTIONS);
  const warmups = [
    await measure(hello, redis, 'warm-up', WARMUP, warmupSlice),
    await measure(offerloop, redis, 'warm-up', WARMUP, warmupSlice),
  ];
  const runs: RunFigures[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    // Both targets of a round get the same bodies.
    const firstSlice = sliceCursor.take(CONNECTIONS);
    for (const server of [hello, offerloop]) {
      say(`round ${r}/${ROUNDS} ${server.name} (${DURATION} s)…`);
      runs.push(await measure(server, redis, r, DURATION, firstSlice));
    }
  }
  const medianOf = (name: string, f: (x: RunFigures) => number | null) => {
    const xs = runs.filter((x) => x.target === name).map(f);
    return xs.every((x) => x !== null) ? median(xs as number[]) : null;
  };
  const helloRps = medianOf('hello', (x) => x.reqPerSec)!;
  const decisionsRps = medianOf('decisions', (x) => x.reqPerSec)!;
  const ratio = decisionsRps / helloRps;
  const helloCpu = medianOf('hello', (x) => x.serverCpuUsPerReq);
  const decisionsCpu = medianOf('decisions', (x) => x.serverCpuUsPerReq);
  const decisionsRedisCpu = medianOf('decisions', (x) => x.redisCpuUsPerReq);
  // Per decision, the CPU of both processes that serve it: our server and Redis.
  const decisionsTotalCpu =
    decisionsCpu !== null && decisionsRedisCpu !== null ? decisionsCpu + decisionsRedisCpu : null;
  const cpuRatio = helloCpu !== null && decisionsTotalCpu !== null ? helloCpu / decisionsTotalCpu : null;

  const rate = Math.max(1, Math.round(decisionsRps / 2));
  say(`latency run at ${rate} decisions/s (${LATENCY_DURATION} s)…`);
  const latency = await latencyRun(offerloop, redis, rate);
  const tierSteady = await readiness(offerloop);
  const trafficMemory = await redisMemory(redis);

  const margin = RELOAD_MARGIN ?? Math.max(3, Math.ceil(firstLoad.wallMs / 2000));
  const reload = await reloadRun(offerloop, redis, data, rate, margin, flips);
  // UNLINK frees the old version in the background: give it a moment before reading memory.
  await sleep(1_000);
  const reloadedMemory = await redisMemory(redis);
  const tierAfter = await readiness(offerloop);
  const sampleAfter = await sampleDecisions(offerloop, REQUESTS, SLICE_BODIES[SLICES - 1]!.slice(-500));

  await Promise.all([stopServer(hello), stopServer(offerloop)]);
  await redis.stop();

  const reloadDuring = reload.phases.find((p) => p.phase === 'during')!;
  const reloadFailed = reload.non2xx + reload.errors;
  const reloadFactor = reloadDuring.p99Ms / latency.p99Ms;
  const newVersion = reload.load.result?.version ?? null;
  const hitRate = (t: Readiness) =>
    t.memoryTier && t.memoryTier.hits + t.memoryTier.misses > 0
      ? round(t.memoryTier.hits / (t.memoryTier.hits + t.memoryTier.misses), 4)
      : null;

  console.table([...warmups, ...runs]);
  console.table(
    reload.phases.map((p) => ({
      ...p,
      'p99 / steady p99': round(p.p99Ms / latency.p99Ms, 2),
    })),
  );
  console.table({
    'hello (median req/s)': tableRow(Math.round(helloRps)),
    'decisions (median req/s)': tableRow(Math.round(decisionsRps)),
    'ratio decisions / hello': tableRow(round(ratio, 3), `≥ ${TARGET_RATIO}`, ratio >= TARGET_RATIO),
    'server CPU µs/req hello (median)': tableRow(helloCpu ?? Number.NaN),
    'server CPU µs/req decisions (median)': tableRow(decisionsCpu ?? Number.NaN),
    'Redis CPU µs/req decisions (median)': tableRow(decisionsRedisCpu ?? Number.NaN),
    'CPU ratio hello µs / (server + Redis) µs': tableRow(
      cpuRatio === null ? Number.NaN : round(cpuRatio, 3),
      'info',
    ),
    [`latency p50 ms @ ${latency.achievedRate}/s`]: tableRow(latency.p50Ms),
    [`latency p99 ms @ ${latency.achievedRate}/s`]: tableRow(
      latency.p99Ms,
      `< ${TARGET_P99_MS}`,
      latency.p99Ms < TARGET_P99_MS,
    ),
    [`latency max ms @ ${latency.achievedRate}/s`]: tableRow(latency.maxMs),
    'reload: failed requests': tableRow(reloadFailed, '0', reloadFailed === 0),
    'reload: p99 ms during the load': tableRow(reloadDuring.p99Ms),
    'reload: p99 during / steady p99': tableRow(
      round(reloadFactor, 2),
      `≤ ${TARGET_RELOAD_P99_FACTOR}`,
      reloadFactor <= TARGET_RELOAD_P99_FACTOR,
    ),
    'reload: known after (sample)': tableRow(
      `${sampleAfter.customerKnown}/${sampleAfter.requests}`,
      'all',
      sampleAfter.customerKnown === sampleAfter.requests,
    ),
    'reload: load s (idle → under load)': tableRow(
      `${(firstLoad.wallMs / 1000).toFixed(1)} → ${(reload.load.wallMs / 1000).toFixed(1)}`,
    ),
    'memory tier hit rate (steady)': tableRow(hitRate(tierSteady) ?? Number.NaN, 'info'),
    'Redis used_memory B/customer': tableRow(Math.round(bytesPerCustomer), 'info'),
    'Redis used_memory MiB loaded / peak reload / after': tableRow(
      `${mib(loadedMemory.usedMemory)} / ${mib(reload.peakUsedMemory)} / ${mib(reloadedMemory.usedMemory)}`,
    ),
    'start-up: spawn → ready ms': tableRow(offerloop.spawnToReadyMs, 'info'),
  });

  const problems = failures([...warmups, ...runs, latency]);
  if (reloadFailed > 0) problems.push(`reload: ${reload.non2xx} non-2xx, ${reload.errors} errors`);
  for (const p of reload.phases) {
    if (p.unknown > 0 || p.degraded > 0)
      problems.push(`reload ${p.phase}: ${p.unknown} without customerKnown, ${p.degraded} degraded`);
  }
  if (!reload.load.ok) problems.push(`reload: offerloop load failed (exit ${reload.load.exitCode})`);
  if (newVersion !== null && tierAfter.populationVersion !== newVersion)
    problems.push(
      `after the reload the server serves version ${tierAfter.populationVersion}, not ${newVersion}`,
    );
  if (sampleAfter.customerKnown !== sampleAfter.requests || sampleAfter.degraded > 0)
    problems.push(
      `after the reload ${sampleAfter.customerKnown} of ${sampleAfter.requests} sampled customers are known, ${sampleAfter.degraded} degraded`,
    );
  if (offerloop.errorLogs > 0) problems.push(`offerloop logged ${offerloop.errorLogs} error lines`);

  const summary = {
    bench: 'redis-http',
    ...machine(),
    config: {
      offers: OFFERS,
      customers: CUSTOMERS,
      affinities: AFFINITIES,
      cacheMb: CACHE_MB,
      durationS: DURATION,
      rounds: ROUNDS,
      connections: CONNECTIONS,
      pipelining: 1,
      warmupS: WARMUP,
      latencyConnections: LATENCY_CONNECTIONS,
      distinctBodies: SLICES * BODIES_PER_SLICE,
      distinctCustomers: DISTINCT_CUSTOMERS,
      reloadGrace: RELOAD_GRACE,
      loadArgs: LOAD_ARGS,
      reloadNice: RELOAD_NICE,
    },
    data: { ...data, dir: path.relative(process.cwd(), data.dir) || '.' },
    load: {
      wallMs: firstLoad.wallMs,
      customersPerSec: firstLoad.customersPerSec,
      loaderCpuMs: firstLoad.loaderCpuMs,
      result: firstLoad.result,
    },
    redisMemory: {
      empty: emptyMemory,
      loaded: loadedMemory,
      afterTraffic: trafficMemory,
      peakDuringReload: reload.peakUsedMemory,
      afterReload: reloadedMemory,
      bytesPerCustomer: Math.round(bytesPerCustomer),
      rssBytesPerCustomer: Math.round((loadedMemory.usedMemoryRss - emptyMemory.usedMemoryRss) / loaded),
    },
    startup: { spawnToReadyMs: offerloop.spawnToReadyMs, readyInMs: offerloop.readyInMs },
    memoryTier: {
      atStart: tierAtStart.memoryTier ?? null,
      steady: tierSteady.memoryTier ?? null,
      steadyHitRate: hitRate(tierSteady),
      afterReload: tierAfter.memoryTier ?? null,
    },
    sample,
    warmups,
    runs,
    medians: { helloReqPerSec: Math.round(helloRps), decisionsReqPerSec: Math.round(decisionsRps) },
    ratio: { value: round(ratio, 3), target: TARGET_RATIO, pass: ratio >= TARGET_RATIO },
    cpuUsPerReq: {
      hello: helloCpu,
      decisionsServer: decisionsCpu,
      decisionsRedis: decisionsRedisCpu,
      ratio: cpuRatio === null ? null : round(cpuRatio, 3),
    },
    latency: { ...latency, target: TARGET_P99_MS, pass: latency.p99Ms < TARGET_P99_MS },
    reload: {
      ...reload,
      failedRequests: reloadFailed,
      p99Factor: round(reloadFactor, 2),
      targetP99Factor: TARGET_RELOAD_P99_FACTOR,
      pass: reloadFailed === 0 && reloadFactor <= TARGET_RELOAD_P99_FACTOR,
      servedVersionAfter: tierAfter.populationVersion ?? null,
      sampleAfter,
    },
    serverWarnLogs: offerloop.warnLogs,
    serverErrorLogs: offerloop.errorLogs,
    ok: problems.length === 0,
    problems,
  };
  await publishResult('redis-http', summary, problems);
}

runBench('redis-http bench', main);
