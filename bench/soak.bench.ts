// Soak benchmark (issue 8, item 5): the server under a steady mix of its real traffic at about 70 % of
// its capacity for ten minutes, watched window by window for errors, latency drift, memory growth
// and event-loop delay.
// Run: npm run bench:soak (about 15 minutes with the defaults; the first run also generates data, ~7 s)
//  1. Data and server: `offerloop generate --offers 500 --customers BENCH_CUSTOMERS --affinities 20
//     --baskets 0 --seed 42` once into bench/results/data-soak/ (reused while it matches). With Redis
//     (the default) a redis-server on a free port with docker/redis.conf's settings (AOF on, fsync every
//     second, compact hashes, noeviction), the population loaded by `offerloop load` (the CLI, a child
//     process), and our server (a child process) on it with its defaults (cluster workers when the build
//     has them: one per core; learning refresh every 30 s; one in-process feedback consumer), except the
//     memory tier: BENCH_CACHE_MB (64) per process instead of 256, so that it is full by the end of the
//     warm-up (256 MB hold ~116,000 profiles per process, which at 70 % load fill for minutes and would
//     read as memory growth). BENCH_STORE=embedded: no Redis, the server reads the same profiles from the
//     NDJSON file. The API key has the scopes decide, feedback, report and, when this build's config
//     knows it, metrics.
//  2. Capacity: autocannon at full load on POST /v1/decisions (random customers and channels),
//     BENCH_WARMUP s of warm-up, then BENCH_ROUNDS runs of BENCH_DURATION s; capacity is the median of
//     the runs' 2xx responses per second.
//  3. Soak: BENCH_WARMUP_S of warm-up, then BENCH_SOAK_S, all under the same mix:
//     - decisions at BENCH_LOAD × capacity, paced by BENCH_SOAK_CONNECTIONS autocannon instances of one
//       connection each, started evenly over the first second (each fires its per-second budget as its
//       answers come back, so the bursts interleave); every request a new random customer and channel;
//     - feedback: for a BENCH_FEEDBACK_SHARE of the decisions that showed offers, an impression of each
//       shown offer and, for BENCH_ACCEPT_SHARE of them, an accept of the first, with the real decisionId
//       taken from the answer (a ring of the latest 10,000 such decisions), POSTed every
//       BENCH_FEEDBACK_INTERVAL_MS once the decision is BENCH_FEEDBACK_MIN_AGE_MS old, in batches of at
//       most 500 events, at most 4 requests in flight;
//     - BENCH_WS_SESSIONS WebSocket sessions, each subscribed to its agent (agent-1…), and call events
//       at BENCH_CALL_RATE per second (call.started for a free agent and a random customer, call.ended
//       BENCH_CALL_HOLD_S later); each event must push one message to its agent's session within 5 s;
//     - GET /v1/reports/campaigns every BENCH_REPORT_S (first at 15 s).
//     Decisions, feedback and calls are counted by kind into windows of BENCH_SAMPLE_S (the warm-up's
//     windows are shown, not judged). At each window's end the bench reads: decision latency p50/p99/max
//     (every response time, client side, as floats, so the percentiles are exact per window); RSS
//     (VmRSS, /proc/<pid>/status) and CPU of the server's processes (the one started and its cluster
//     workers, summed), of Redis, this process and the rest of the machine (/proc); GET /metrics when
//     the server has it (heap: nodejs_heap_size_used_bytes; event-loop delay:
//     offerloop_event_loop_delay_seconds as a summary with quantile labels or a histogram, or
//     offerloop_event_loop_delay_{p99,max}_seconds, or nodejs_eventloop_lag_{p99,max}_seconds); and a
//     probe loaded into every server process with `node --import` (BENCH_ELD_PROBE, on by default): a
//     perf_hooks.monitorEventLoopDelay histogram (10 ms resolution, reported as delay beyond it) and
//     process.memoryUsage(), read and reset on SIGUSR2 at each window's end, so its figures cover exactly
//     the window. Heap and event-loop delay come from /metrics for a single process, from the probe when
//     there are workers (each worker answers /metrics for itself, whichever gets the connection): heap
//     summed, event-loop delay of the worst process.
// Targets (issue 8): zero errors; memory growth < 5 % after the warm-up: (median RSS of the last 3 soak
// windows − median of the first 3) ÷ the first; p99 drift < 10 %: (median decision p99 of the last third
// of the soak windows − of the first third) ÷ the first third, or no more than the window-to-window noise
// (median relative change of p99 from one window to the next), which is reported. Also: no push lost.
// With fewer than 6 soak windows, the first and last half (memory) or third (p99) are fewer windows.
// Prints a table per window, a verdict table and one JSON line ({"bench":"soak",…}); also writes
// bench/results/soak.json. Exits 1 when any request failed (non-2xx, connection error, timeout, an
// unknown customer or a degraded answer, a feedback event not accepted, a call answer without its
// session), a push was lost, a WebSocket session was closed by the server, the server exited or it
// logged an error line. The memory and drift verdicts are information (PASS/FAIL), as in the other benches.
// Knobs (env): BENCH_STORE (redis | embedded, redis), BENCH_CUSTOMERS (200000), BENCH_LOAD (0.7),
// BENCH_SOAK_S (600), BENCH_WARMUP_S (240), BENCH_SAMPLE_S (30), BENCH_SOAK_CONNECTIONS (32),
// BENCH_CACHE_MB (64), BENCH_FEEDBACK_SHARE (0.25), BENCH_ACCEPT_SHARE (0.1),
// BENCH_FEEDBACK_INTERVAL_MS (100), BENCH_FEEDBACK_MIN_AGE_MS (0), BENCH_WS_SESSIONS (500),
// BENCH_CALL_RATE (5 per s; 0: no calls), BENCH_CALL_HOLD_S (10), BENCH_REPORT_S (60; 0: no reports),
// BENCH_ELD_PROBE (1; 0: no probe); capacity: BENCH_DURATION (s per run, 6), BENCH_ROUNDS (3),
// BENCH_CONNECTIONS (50), BENCH_WARMUP (s, 3); BENCH_SOAK_DATA_DIR (default bench/results/data-soak),
// BENCH_REDIS_SERVER (redis-server binary). The server's own variables pass through (OFFERLOOP_WORKERS …).
// Diagnostics: BENCH_CPU_PROF=DIR (profile our server with node --cpu-prof; written at its exit).

import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import type { RawData, WebSocket } from 'ws';
import { SCOPES } from '../src/config.js';
import { CHANNELS } from '../src/domain/channel.js';
import { Rng } from '../src/sim/random.js';
import { type RedisProcess, redisCommand, startRedis } from '../test/support/redis.js';
import {
  API_KEY,
  CPU_PROF_DIR,
  closeSocket,
  cpuMeter,
  decisionBodies,
  decisionRequests,
  envNumber,
  fire,
  type GeneratedData,
  generatedData,
  HEADERS,
  httpCall,
  httpKnobs,
  latencySummary,
  machine,
  machineMeter,
  median,
  openSocket,
  processCpuMs,
  REDIS_CONF_ARGS,
  REDIS_SERVER,
  RESULTS_DIR,
  type RequestSet,
  ROUTE,
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
  writeResult,
} from './support.js';

/** A number ≥ 0 from the environment (0 switches off what it sets), or the default. */
function envZeroOr(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number ≥ 0, got '${raw}'`);
  return n;
}

/** A share from 0 to 1 from the environment, or the default. */
function envShare(name: string, fallback: number): number {
  const n = envZeroOr(name, fallback);
  if (n > 1) throw new Error(`${name} must be from 0 to 1, got '${n}'`);
  return n;
}

const STORE = (process.env.BENCH_STORE?.trim() || 'redis') as 'redis' | 'embedded';
if (STORE !== 'redis' && STORE !== 'embedded')
  throw new Error(`BENCH_STORE must be redis or embedded, got '${STORE}'`);
const CUSTOMERS = Math.floor(envNumber('BENCH_CUSTOMERS', 200_000));
const LOAD = envNumber('BENCH_LOAD', 0.7);
if (LOAD > 2) throw new Error(`BENCH_LOAD is a share of the capacity (0.7 = 70 %), got ${LOAD}`);
const SOAK_S = envNumber('BENCH_SOAK_S', 600);
// Four minutes: RSS rises that long while the memory tiers, the contact histories and V8's heap fill.
const WARMUP_S = envZeroOr('BENCH_WARMUP_S', 240);
const SAMPLE_S = envNumber('BENCH_SAMPLE_S', 30);
const SOAK_CONNECTIONS = Math.floor(envNumber('BENCH_SOAK_CONNECTIONS', 32));
const FEEDBACK_SHARE = envShare('BENCH_FEEDBACK_SHARE', 0.25);
const ACCEPT_SHARE = envShare('BENCH_ACCEPT_SHARE', 0.1);
const FEEDBACK_INTERVAL_MS = envNumber('BENCH_FEEDBACK_INTERVAL_MS', 100);
const FEEDBACK_MIN_AGE_MS = envZeroOr('BENCH_FEEDBACK_MIN_AGE_MS', 0);
const CACHE_MB = Math.floor(envNumber('BENCH_CACHE_MB', 64));
const WS_SESSIONS = Math.floor(envZeroOr('BENCH_WS_SESSIONS', 500));
const CALL_RATE = WS_SESSIONS > 0 ? envZeroOr('BENCH_CALL_RATE', 5) : 0;
const CALL_HOLD_S = envNumber('BENCH_CALL_HOLD_S', 10);
const REPORT_S = envZeroOr('BENCH_REPORT_S', 60);
const PROBE = envZeroOr('BENCH_ELD_PROBE', 1) > 0;
const { DURATION, ROUNDS, CONNECTIONS, WARMUP } = httpKnobs({ rounds: 3, warmup: 3 });
const DATA_DIR = path.resolve(process.env.BENCH_SOAK_DATA_DIR ?? path.join(RESULTS_DIR, 'data-soak'));

const OFFERS = 500;
const AFFINITIES = 20;
const SEED = '42';
/** The probe's histogram resolution: its figures are the delay beyond this interval. */
const PROBE_RESOLUTION_MS = 10;
/** Decisions kept for feedback; when the feedback falls behind, the oldest are dropped (counted). */
const RING_DECISIONS = 10_000;
const FEEDBACK_BATCH_MAX = 500;
const FEEDBACK_MAX_IN_FLIGHT = 4;
/** A push not read by then counts as lost. */
const PUSH_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** First report request, s after the soak's start (then every REPORT_S). */
const FIRST_REPORT_S = 15;
/** Windows at each end of the soak whose median RSS is compared. */
const MEMORY_WINDOWS = 3;

const TARGET_MEMORY_GROWTH = 0.05;
const TARGET_P99_DRIFT = 0.1;

/** The metrics scope exists only in builds that serve /metrics; older configs reject unknown scopes. */
const METRICS_SCOPE = (SCOPES as readonly string[]).includes('metrics');
const KEY_SCOPES = ['decide', 'feedback', 'report', ...(METRICS_SCOPE ? ['metrics'] : [])];

/** As docker/redis.conf, with room for pub/sub. */
const REDIS_ARGS = [...REDIS_CONF_ARGS, '--client-output-buffer-limit', 'pubsub', '64mb', '16mb', '60'];

superviseChildren('soak bench');

const say = (text: string) => process.stderr.write(`soak bench: ${text}\n`);

// ---------------------------------------------------------------------------------------------
// Data: generated once, reused while the parameters match (as the redis-http bench).

function prepareData(): Promise<GeneratedData> {
  return generatedData('soak bench', DATA_DIR, {
    offers: OFFERS,
    customers: CUSTOMERS,
    affinities: AFFINITIES,
    seed: SEED,
  });
}

/** `offerloop load --redis URL --grace 0s FILE` in a child process; the number of customers loaded. */
async function loadPopulation(redis: RedisProcess, file: string): Promise<{ customers: number; ms: number }> {
  const load = await runOfferloopLoad(redis.url, file, { grace: '0s' });
  const customers = load.result?.customers ?? 0;
  if (load.exitCode !== 0 || customers !== CUSTOMERS)
    throw new Error(
      `offerloop load: exit ${load.exitCode}, ${customers} customers loaded\n${load.tail.join('\n')}`,
    );
  return { customers, ms: load.wallMs };
}

// ---------------------------------------------------------------------------------------------
// What the server says about itself: /proc, the probe, /metrics, /health/ready, Redis' INFO.

/**
 * The server's processes: the one the bench started and, with OFFERLOOP_WORKERS > 1 (one per core by
 * default with Redis), its cluster workers, i.e. its children.
 */
function processTree(pid: number): number[] {
  const pids = [pid];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** VmRSS and RssAnon (MB) of each process, and their sums. */
function treeRss(
  pids: readonly number[],
): { rssMb: number; rssAnonMb: number; perProcessMb: number[] } | null {
  let rss = 0;
  let anon = 0;
  const perProcessMb: number[] = [];
  for (const pid of pids) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (field: string) =>
        Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
      rss += kb('VmRSS');
      anon += kb('RssAnon');
      perProcessMb.push(round(kb('VmRSS') / 1024, 1));
    } catch {
      if (pid === pids[0]) return null;
    }
  }
  return { rssMb: round(rss / 1024, 1), rssAnonMb: round(anon / 1024, 1), perProcessMb };
}

/** CPU time so far (ms) of each process of the tree. */
function treeCpu(pids: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    const ms = processCpuMs(pid);
    if (ms !== null) out.set(pid, ms);
  }
  return out;
}

/**
 * Loaded into the server with `node --import data:…` (cluster workers inherit node's arguments, so
 * every process has one): on SIGUSR2 it prints one JSON line to stderr with its pid, the event-loop
 * delay histogram since the last one (ns) and process.memoryUsage(), then resets the histogram.
 */
const PROBE_SOURCE = `
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
const h = monitorEventLoopDelay({ resolution: ${PROBE_RESOLUTION_MS} });
h.enable();
let majorGcs = 0;
let afterMajorGc = null;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if (e.detail?.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
    majorGcs++;
    afterMajorGc = process.memoryUsage().heapUsed;
  }
}).observe({ entryTypes: ['gc'] });
process.on('SIGUSR2', () => {
  const m = process.memoryUsage();
  process.stderr.write(JSON.stringify({ soakProbe: process.pid, count: h.count, p50: h.percentile(50),
    p99: h.percentile(99), max: h.max, heapUsed: m.heapUsed, heapTotal: m.heapTotal,
    external: m.external, arrayBuffers: m.arrayBuffers, majorGcs, afterMajorGc }) + '\\n');
  h.reset();
});
`;

interface ProbeLine {
  readonly soakProbe: number;
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  /** Major (mark-compact) collections since start, and heapUsed just after the last one (null: none yet). */
  readonly majorGcs: number;
  readonly afterMajorGc: number | null;
}

/** Over the server's processes: the worst event loop, the sum of the heaps. */
interface ProbeFigures {
  readonly processes: number;
  readonly eldP50Ms: number;
  readonly eldP99Ms: number;
  readonly eldMaxMs: number;
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
  readonly externalMb: number;
  /**
   * Heap in use just after each process's last major GC, summed: what the heap really holds (heapUsed
   * also counts garbage not collected yet). Null until every process has had one.
   */
  readonly heapAfterGcMb: number | null;
  /** Major GCs of all processes since they started. */
  readonly majorGcs: number;
  /** Per process (pid order): event-loop delay p99 ms, heap used and after its last major GC, MB. */
  readonly perProcess: readonly {
    pid: number;
    eldP99Ms: number;
    heapUsedMb: number;
    heapAfterGcMb: number | null;
  }[];
}

const mb = (bytes: number) => round(bytes / 1024 / 1024, 1);
/** Delay beyond the probe's sampling interval, in ms. */
const lagMs = (ns: number) => round(Math.max(0, ns / 1e6 - PROBE_RESOLUTION_MS), 2);

class Probe {
  private readonly lines = new Map<number, ProbeLine>();
  private waiting: { pids: Set<number>; done: () => void } | null = null;

  constructor(private readonly server: Server) {
    createInterface({ input: server.proc.stderr! }).on('line', (line) => {
      if (!line.startsWith('{"soakProbe"')) return;
      let p: ProbeLine;
      try {
        p = JSON.parse(line) as ProbeLine;
      } catch {
        return;
      }
      const waiting = this.waiting;
      if (waiting === null || !waiting.pids.has(p.soakProbe)) return;
      this.lines.set(p.soakProbe, p);
      if (this.lines.size === waiting.pids.size) waiting.done();
    });
  }

  /** The figures of `pids` since their last sample; null when none of them answered in time. */
  sample(pids: readonly number[], timeoutMs = 3_000): Promise<ProbeFigures | null> {
    if (this.server.proc.exitCode !== null || this.server.proc.signalCode !== null)
      return Promise.resolve(null);
    this.lines.clear();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting = null;
        const lines = [...this.lines.values()].sort((a, b) => a.soakProbe - b.soakProbe);
        if (lines.length === 0) return resolve(null);
        const sum = (f: (p: ProbeLine) => number) => lines.reduce((a, p) => a + f(p), 0);
        resolve({
          processes: lines.length,
          eldP50Ms: Math.max(...lines.map((p) => lagMs(p.p50))),
          eldP99Ms: Math.max(...lines.map((p) => lagMs(p.p99))),
          eldMaxMs: Math.max(...lines.map((p) => lagMs(p.max))),
          heapUsedMb: mb(sum((p) => p.heapUsed)),
          heapTotalMb: mb(sum((p) => p.heapTotal)),
          externalMb: mb(sum((p) => p.external + p.arrayBuffers)),
          heapAfterGcMb: lines.every((p) => p.afterMajorGc !== null) ? mb(sum((p) => p.afterMajorGc!)) : null,
          majorGcs: sum((p) => p.majorGcs),
          perProcess: lines.map((p) => ({
            pid: p.soakProbe,
            eldP99Ms: lagMs(p.p99),
            heapUsedMb: mb(p.heapUsed),
            heapAfterGcMb: p.afterMajorGc === null ? null : mb(p.afterMajorGc),
          })),
        });
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiting = { pids: new Set(pids), done };
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGUSR2');
        } catch {
          // gone: it does not answer, the others do
        }
      }
    });
  }
}

/** Prometheus text → value by `name` or `name{labels}` as written. */
function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const raw = m[3]!;
    out.set(`${m[1]}${m[2] ?? ''}`, raw === '+Inf' ? Number.POSITIVE_INFINITY : Number(raw));
  }
  return out;
}

const HEAP_METRICS = ['nodejs_heap_size_used_bytes', 'offerloop_heap_used_bytes'];
const ELD_METRIC = 'offerloop_event_loop_delay_seconds';
const ELD_P99_METRICS = ['offerloop_event_loop_delay_p99_seconds', 'nodejs_eventloop_lag_p99_seconds'];
const ELD_MAX_METRICS = ['offerloop_event_loop_delay_max_seconds', 'nodejs_eventloop_lag_max_seconds'];

/**
 * Gauges kept per window as they are (JSON only): the feedback consumers' lag and pending entries
 * (a consumer that falls behind at this load shows here first), and what else holds memory.
 */
const WATCHED_METRICS = [
  'offerloop_feedback_stream_lag',
  'offerloop_feedback_stream_pending',
  'offerloop_profile_cache_bytes',
  'offerloop_websocket_sessions',
  'nodejs_heap_size_total_bytes',
  'nodejs_external_memory_bytes',
];

interface MetricsFigures {
  readonly gauges: Readonly<Record<string, number>>;
  readonly heapUsedMb: number | null;
  readonly heapMetric: string | null;
  readonly eldP99Ms: number | null;
  readonly eldMaxMs: number | null;
  readonly eldMetric: string | null;
}

/** Labelled samples of `name` whose labels include `label`: [key, value]. */
function withLabel(samples: Map<string, number>, name: string, label: string): [string, number][] {
  return [...samples].filter(([k]) => k.startsWith(`${name}{`) && k.includes(label));
}

/** Cumulative histogram buckets of `name` (le → count), ascending. */
function buckets(samples: Map<string, number>, name: string): [number, number][] {
  const out: [number, number][] = [];
  for (const [k, v] of samples) {
    if (!k.startsWith(`${name}_bucket{`)) continue;
    const le = /le="([^"]+)"/.exec(k)?.[1];
    if (le !== undefined) out.push([le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), v]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/**
 * Heap and event-loop delay from a scrape, in whatever form this build publishes them (see the
 * header). A histogram gives the upper bound of the bucket holding the window's p99 (the difference
 * from the previous scrape).
 */
function metricsFigures(samples: Map<string, number>, previous: Map<string, number> | null): MetricsFigures {
  const ms = (s: number | undefined) => (s === undefined || !Number.isFinite(s) ? null : round(s * 1000, 2));
  const gauges = Object.fromEntries(
    WATCHED_METRICS.filter((n) => samples.has(n)).map((n) => [n, samples.get(n)!]),
  );
  const heapMetric = HEAP_METRICS.find((n) => samples.has(n)) ?? null;
  const heapUsedMb = heapMetric === null ? null : mb(samples.get(heapMetric)!);
  const p99 = withLabel(samples, ELD_METRIC, 'quantile="0.99"')[0];
  if (p99 !== undefined) {
    const max = withLabel(samples, ELD_METRIC, 'quantile="1"')[0]?.[1] ?? samples.get(`${ELD_METRIC}_max`);
    return { gauges, heapUsedMb, heapMetric, eldP99Ms: ms(p99[1]), eldMaxMs: ms(max), eldMetric: p99[0] };
  }
  const now = buckets(samples, ELD_METRIC);
  if (now.length > 0) {
    const before = new Map(previous === null ? [] : buckets(previous, ELD_METRIC));
    const delta = now.map(([le, c]) => [le, c - (before.get(le) ?? 0)] as const);
    const total = delta[delta.length - 1]![1];
    const at = delta.find(([, c]) => c >= total * 0.99);
    return {
      gauges,
      heapUsedMb,
      heapMetric,
      eldP99Ms: total > 0 && at !== undefined ? ms(at[0]) : null,
      eldMaxMs: ms(samples.get(`${ELD_METRIC}_max`)),
      eldMetric: `${ELD_METRIC}_bucket`,
    };
  }
  const p99Metric = ELD_P99_METRICS.find((n) => samples.has(n)) ?? null;
  const maxMetric = ELD_MAX_METRICS.find((n) => samples.has(n));
  return {
    gauges,
    heapUsedMb,
    heapMetric,
    eldP99Ms: p99Metric === null ? null : ms(samples.get(p99Metric)),
    eldMaxMs: maxMetric === undefined ? null : ms(samples.get(maxMetric)),
    eldMetric: p99Metric,
  };
}

interface RedisFigures {
  readonly usedMemoryMb: number;
  readonly aofMb: number;
  readonly forks: number;
}

async function redisFigures(redis: RedisProcess): Promise<RedisFigures | null> {
  try {
    const info = await redisCommand(redis.port, 'INFO', 'all');
    const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? Number.NaN);
    return {
      usedMemoryMb: mb(field('used_memory')),
      aofMb: mb(field('aof_current_size')),
      forks: field('total_forks'),
    };
  } catch {
    return null;
  }
}

interface Readiness {
  readonly status?: string;
  readonly websocketSessions?: number;
  readonly memoryTier?: { entries: number; bytes: number; hits: number; misses: number };
  readonly feedback?: { mode?: string; decisionsLost?: number };
}

// ---------------------------------------------------------------------------------------------
// HTTP for everything but the decisions: node's client with keep-alive, timed with performance.now().

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly ms: number;
}

async function call(base: URL, method: 'GET' | 'POST', route: string, body?: string): Promise<Answer> {
  const started = performance.now();
  const answer = await httpCall(base, method, route, { agent, timeoutMs: REQUEST_TIMEOUT_MS, body });
  return { status: answer.status, text: answer.text, ms: answer.at - started };
}

// ---------------------------------------------------------------------------------------------
// Windows: everything that happens is counted into the current one.

class Window {
  readonly dec = {
    responses: 0,
    non2xx: 0,
    errors: 0,
    unknown: 0,
    degraded: 0,
    lat: [] as number[],
    sampled: 0,
    sampledOffers: 0,
  };
  readonly fb = {
    requests: 0,
    non2xx: 0,
    errors: 0,
    events: 0,
    accepted: 0,
    notAccepted: 0,
    /** Events not accepted, by their status (unknown_decision, duplicate …). */
    statuses: {} as Record<string, number>,
    lat: [] as number[],
  };
  readonly calls = {
    requests: 0,
    non2xx: 0,
    errors: 0,
    /** Answers without exactly one session reached, or (call.started) an unknown customer. */
    wrong: 0,
    lat: [] as number[],
    pushesExpected: 0,
    pushesReceived: 0,
    pushesLost: 0,
    pushesUnexpected: 0,
    pushLat: [] as number[],
    noFreeAgent: 0,
  };
  readonly reports = { requests: 0, non2xx: 0, errors: 0, lat: [] as number[] };
  wsCloses = 0;
  wsErrors = 0;
  warnLogs = 0;
  errorLogs = 0;

  /** Every kind of failure with its count (zeros left out). */
  errorsByKind(): Record<string, number> {
    const { dec, fb, calls, reports } = this;
    const all: Record<string, number> = {
      'decision non-2xx': dec.non2xx,
      'decision connection error or timeout': dec.errors,
      'decision degraded': dec.degraded,
      'decision customer unknown': dec.unknown,
      'feedback non-2xx': fb.non2xx,
      'feedback connection error or bad receipt': fb.errors,
      ...Object.fromEntries(Object.entries(fb.statuses).map(([k, v]) => [`feedback event ${k}`, v])),
      'call non-2xx': calls.non2xx,
      'call connection error': calls.errors,
      'call answer without its session or customer': calls.wrong,
      'report non-2xx': reports.non2xx,
      'report connection error': reports.errors,
      'WebSocket closed by the server': this.wsCloses,
      'WebSocket error': this.wsErrors,
    };
    return Object.fromEntries(Object.entries(all).filter(([, v]) => v > 0));
  }

  errorCount(): number {
    return Object.values(this.errorsByKind()).reduce((a, b) => a + b, 0);
  }
}

let current = new Window();

/** What went wrong, by kind (the text with its numbers and ids blanked): the first example and a count. */
const notes = new Map<string, { example: string; count: number }>();
const note = (text: string) => {
  const kind = text.replace(/[0-9a-f]{8}-[0-9a-f-]{27}|\d+/g, '#');
  const seen = notes.get(kind);
  if (seen !== undefined) seen.count++;
  else if (notes.size < 50) notes.set(kind, { example: text, count: 1 });
};

// ---------------------------------------------------------------------------------------------
// Decisions: autocannon instances of one connection each, every request a new random body.

interface ShownDecision {
  readonly decisionId: string;
  readonly customerId: string;
  readonly offers: readonly string[];
  /** performance.now() when the answer was read. */
  readonly at: number;
}

/** The most recent decisions that showed offers, waiting for their feedback; the oldest go first. */
class DecisionRing {
  private readonly items: (ShownDecision | undefined)[];
  private head = 0;
  private size = 0;
  dropped = 0;

  constructor(private readonly capacity: number) {
    this.items = new Array<ShownDecision | undefined>(capacity);
  }

  get length(): number {
    return this.size;
  }

  push(d: ShownDecision): void {
    if (this.size === this.capacity) {
      this.items[this.head] = d;
      this.head = (this.head + 1) % this.capacity;
      this.dropped++;
      return;
    }
    this.items[(this.head + this.size) % this.capacity] = d;
    this.size++;
  }

  peek(): ShownDecision | undefined {
    return this.size === 0 ? undefined : this.items[this.head];
  }

  shift(): ShownDecision | undefined {
    if (this.size === 0) return undefined;
    const d = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
    return d;
  }
}

const ring = new DecisionRing(RING_DECISIONS);
const OFFER_ID = /"offerId":"([^"]+)"/g;

function startDecisions(url: string, rate: number): { stop(): Promise<void>; groups: number } {
  const rng = new Rng(SEED, 'soak-decisions');
  let share = 0;
  const request: autocannon.Request = {
    method: 'POST',
    path: ROUTE,
    headers: HEADERS,
    setupRequest: (req) => {
      req.body = `{"customerId":"cust-${rng.int(1, CUSTOMERS)}","channel":"${rng.pick(CHANNELS)}","limit":3}`;
      return req;
    },
    onResponse: (status, body) => {
      if (status !== 200) return;
      const w = current;
      // A degraded answer is the anonymous fallback: counted once, as degraded.
      if (body.includes('"degraded":true')) w.dec.degraded++;
      else if (!body.includes('"customerKnown":true')) w.dec.unknown++;
      share += FEEDBACK_SHARE;
      if (share < 1) return;
      share -= 1;
      const decisionId = /^\{"decisionId":"([^"]+)","customerId":"([^"]+)"/.exec(body);
      if (decisionId === null) return;
      const offers = [...body.matchAll(OFFER_ID)].map((m) => m[1]!);
      w.dec.sampled++;
      w.dec.sampledOffers += offers.length;
      if (offers.length > 0)
        ring.push({ decisionId: decisionId[1]!, customerId: decisionId[2]!, offers, at: performance.now() });
    },
  };
  const groups = Math.max(1, Math.min(SOAK_CONNECTIONS, rate));
  const instances: autocannon.Instance[] = [];
  const pending: { timer: NodeJS.Timeout; resolve: () => void }[] = [];
  const done: Promise<void>[] = [];
  for (let g = 0; g < groups; g++) {
    const groupRate = Math.floor(rate / groups) + (g < rate % groups ? 1 : 0);
    done.push(
      new Promise<void>((resolve) => {
        const timer = setTimeout(
          () => {
            const instance = autocannon(
              {
                url: `${url}${ROUTE}`,
                method: 'POST',
                headers: { ...HEADERS },
                connections: 1,
                pipelining: 1,
                // Stopped by stop(); this is only a bound.
                duration: 24 * 3600,
                timeout: REQUEST_TIMEOUT_MS / 1000,
                overallRate: groupRate,
                ignoreCoordinatedOmission: true,
                requests: [request],
              },
              () => resolve(),
            );
            instance.on('response', (_client, status, _bytes, ms) => {
              const w = current;
              w.dec.responses++;
              if (status < 200 || status > 299) {
                w.dec.non2xx++;
                note(`decision answered ${status}`);
              } else w.dec.lat.push(ms);
            });
            instance.on('reqError', (err: unknown) => {
              current.dec.errors++;
              note(`decision: ${err instanceof Error ? err.message : String(err)}`);
            });
            instances.push(instance);
          },
          (g * 1000) / groups,
        );
        pending.push({ timer, resolve });
      }),
    );
  }
  return {
    groups,
    async stop() {
      for (const p of pending) clearTimeout(p.timer);
      for (const instance of instances) instance.stop();
      // Groups not started yet (a very short run) have nothing to wait for.
      if (instances.length < groups) for (const p of pending.slice(instances.length)) p.resolve();
      await Promise.all(done);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Feedback: impressions (and some accepts) of the sampled decisions' offers, in batches.

const RECEIPT = /^\{"accepted":(\d+),"queued":(\d+),"duplicates":(\d+),"rejected":(\d+)/;

function startFeedback(base: URL): { stop(): Promise<void>; notSent(): number } {
  const rng = new Rng(SEED, 'soak-accepts');
  const inFlight = new Set<Promise<void>>();
  const event = (d: ShownDecision, offerId: string, type: 'impression' | 'accept') =>
    `{"eventId":"${randomUUID()}","decisionId":"${d.decisionId}","offerId":"${offerId}","customerId":"${d.customerId}","type":"${type}"}`;

  const send = async (events: string[]) => {
    try {
      const answer = await call(base, 'POST', '/v1/feedback', `{"events":[${events.join(',')}]}`);
      const w = current;
      w.fb.requests++;
      w.fb.events += events.length;
      w.fb.lat.push(answer.ms);
      if (answer.status !== 202) {
        w.fb.non2xx++;
        note(`feedback answered ${answer.status}: ${answer.text.slice(0, 200)}`);
        return;
      }
      const m = RECEIPT.exec(answer.text);
      if (m === null) {
        w.fb.errors++;
        note(`feedback receipt not understood: ${answer.text.slice(0, 200)}`);
        return;
      }
      w.fb.accepted += Number(m[1]);
      const not = Number(m[2]) + Number(m[3]) + Number(m[4]);
      if (not > 0) {
        w.fb.notAccepted += not;
        const receipt = JSON.parse(answer.text) as { results?: { status?: string; reason?: string }[] };
        const reasons = new Set<string>();
        for (const r of receipt.results ?? []) {
          if (r.status === 'accepted') continue;
          const status = r.status ?? 'without a status';
          w.fb.statuses[status] = (w.fb.statuses[status] ?? 0) + 1;
          reasons.add(`${status}: ${r.reason ?? ''}`);
        }
        note(`feedback: ${not} of ${events.length} events not accepted (${[...reasons].join('; ')})`);
      }
    } catch (err) {
      current.fb.errors++;
      note(`feedback: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  /** The oldest decision waiting, once it is at least FEEDBACK_MIN_AGE_MS old. */
  const ripe = () => {
    const d = ring.peek();
    return d !== undefined && performance.now() - d.at >= FEEDBACK_MIN_AGE_MS;
  };
  const tick = () => {
    while (ripe() && inFlight.size < FEEDBACK_MAX_IN_FLIGHT) {
      const events: string[] = [];
      while (ripe() && events.length < FEEDBACK_BATCH_MAX) {
        const d = ring.shift()!;
        for (const offerId of d.offers) events.push(event(d, offerId, 'impression'));
        if (rng.chance(ACCEPT_SHARE)) events.push(event(d, d.offers[0]!, 'accept'));
      }
      const work = send(events);
      inFlight.add(work);
      void work.finally(() => inFlight.delete(work));
    }
  };
  const timer = setInterval(tick, FEEDBACK_INTERVAL_MS);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
    },
    notSent: () => ring.length,
  };
}

// ---------------------------------------------------------------------------------------------
// WebSocket sessions (an agent desktop each) and the call events that push to them.

interface PushMessage {
  readonly type?: string;
  readonly id?: string;
  readonly event?: string;
  readonly callId?: string;
  readonly agentId?: string;
  readonly result?: { readonly topic?: string };
}

interface Expected {
  readonly agentId: string;
  readonly sentAt: number;
  readonly timer: NodeJS.Timeout;
}

const expectedPushes = new Map<string, Expected>();

function expectPush(callId: string, event: string, agentId: string, sentAt: number): string {
  const key = `${callId}|${event}`;
  const timer = setTimeout(() => {
    expectedPushes.delete(key);
    current.calls.pushesLost++;
    note(`push of ${event} ${callId} to ${agentId} not read in ${PUSH_TIMEOUT_MS} ms`);
  }, PUSH_TIMEOUT_MS);
  expectedPushes.set(key, { agentId, sentAt, timer });
  return key;
}

function cancelPush(key: string): void {
  const e = expectedPushes.get(key);
  if (e === undefined) return;
  clearTimeout(e.timer);
  expectedPushes.delete(key);
}

function onPush(agentId: string, message: PushMessage, at: number): void {
  const e = expectedPushes.get(`${message.callId}|${message.event}`);
  if (e === undefined || e.agentId !== agentId) {
    current.calls.pushesUnexpected++;
    note(`push not expected: ${message.event} ${message.callId} to ${agentId}`);
    return;
  }
  clearTimeout(e.timer);
  expectedPushes.delete(`${message.callId}|${message.event}`);
  current.calls.pushesReceived++;
  current.calls.pushLat.push(at - e.sentAt);
}

class AgentSession {
  private closing = false;

  private constructor(
    readonly ws: WebSocket,
    readonly agentId: string,
  ) {
    ws.on('message', (data: RawData) => {
      const at = performance.now();
      const message = JSON.parse(data.toString()) as PushMessage;
      if (message.type === 'call') onPush(agentId, message, at);
    });
    ws.on('error', (err) => {
      current.wsErrors++;
      note(`${agentId} socket: ${err.message}`);
    });
    ws.on('close', (code: number) => {
      if (this.closing) return;
      current.wsCloses++;
      note(`${agentId}: session closed by the server (${code})`);
    });
  }

  /** Opens a session with the key in the Authorization header and subscribes it to its agent. */
  static async open(url: string, agentId: string): Promise<AgentSession> {
    const ws = await openSocket(url, REQUEST_TIMEOUT_MS);
    const answer = new Promise<PushMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer to subscribe')), REQUEST_TIMEOUT_MS);
      const onMessage = (data: RawData) => {
        const message = JSON.parse(data.toString()) as PushMessage;
        if (message.id !== 's') return;
        clearTimeout(timer);
        ws.off('message', onMessage);
        resolve(message);
      };
      ws.on('message', onMessage);
    });
    ws.send(JSON.stringify({ type: 'subscribe', id: 's', agentId }));
    const message = await answer;
    if (message.type !== 'result' || message.result?.topic !== `agent:${agentId}`) {
      ws.terminate();
      throw new Error(`subscribe answered ${JSON.stringify(message)}`);
    }
    return new AgentSession(ws, agentId);
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  close(): Promise<void> {
    this.closing = true;
    return closeSocket(this.ws);
  }
}

async function openSessions(url: string, n: number): Promise<{ sessions: AgentSession[]; failed: number }> {
  const sessions: AgentSession[] = [];
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const agentId = `agent-${++next}`;
      try {
        sessions.push(await AgentSession.open(url, agentId));
      } catch (err) {
        failed++;
        note(`${agentId}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(50, n) }, worker));
  return { sessions, failed };
}

interface CallAnswer {
  readonly sessions?: number;
  readonly customerKnown?: boolean;
}

/** call.started at CALL_RATE for a free agent, call.ended CALL_HOLD_S later; open loop. */
/**
 * `multiProcess`: with cluster workers, a call's answer counts the sessions of the worker that
 * handled it (the others get the push through Redis), so 0 is fine there; the push must arrive all the same.
 */
function startCalls(base: URL, agents: number, t0: number, multiProcess: boolean): { stop(): Promise<void> } {
  const rng = new Rng(SEED, 'soak-calls');
  const free = Array.from({ length: agents }, (_, i) => i + 1);
  const active = new Map<string, { agent: number; timer: NodeJS.Timeout }>();
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  let seq = 0;
  let loop: NodeJS.Timeout | undefined;

  const track = (work: Promise<void>) => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };

  const send = async (callId: string, agent: number, event: 'call.started' | 'call.ended', body: string) => {
    const agentId = `agent-${agent}`;
    const key = expectPush(callId, event, agentId, performance.now());
    try {
      const answer = await call(base, 'POST', '/v1/interactions/calls', body);
      const w = current;
      w.calls.requests++;
      w.calls.lat.push(answer.ms);
      if (answer.status !== 200) {
        cancelPush(key);
        w.calls.non2xx++;
        note(`${event} answered ${answer.status}: ${answer.text.slice(0, 200)}`);
        return false;
      }
      w.calls.pushesExpected++;
      const json = JSON.parse(answer.text) as CallAnswer;
      const sessionsOk = json.sessions === 1 || (multiProcess && json.sessions === 0);
      if (!sessionsOk || (event === 'call.started' && json.customerKnown !== true)) {
        w.calls.wrong++;
        note(`${event} ${callId}: sessions ${json.sessions}, customerKnown ${json.customerKnown}`);
      }
      return true;
    } catch (err) {
      cancelPush(key);
      current.calls.errors++;
      note(`${event} ${callId}: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  };

  const end = (callId: string) => {
    const a = active.get(callId);
    if (a === undefined) return;
    clearTimeout(a.timer);
    active.delete(callId);
    track(
      send(callId, a.agent, 'call.ended', JSON.stringify({ type: 'call.ended', callId })).then(() => {
        free.push(a.agent);
      }),
    );
  };

  const start = () => {
    if (free.length === 0) {
      current.calls.noFreeAgent++;
      return;
    }
    const i = rng.int(0, free.length - 1);
    const agent = free[i]!;
    free[i] = free[free.length - 1]!;
    free.pop();
    const callId = `soak-${++seq}`;
    const body = JSON.stringify({
      type: 'call.started',
      callId,
      agentId: `agent-${agent}`,
      customerId: `cust-${rng.int(1, CUSTOMERS)}`,
    });
    track(
      send(callId, agent, 'call.started', body).then((ok) => {
        if (!ok) {
          free.push(agent);
          return;
        }
        active.set(callId, { agent, timer: setTimeout(() => end(callId), CALL_HOLD_S * 1000) });
        // Answered after stop(): end it now, so that no call is left in the server's registry.
        if (stopped) end(callId);
      }),
    );
  };

  const period = 1000 / CALL_RATE;
  const schedule = (i: number) => {
    if (stopped) return;
    loop = setTimeout(
      () => {
        start();
        schedule(i + 1);
      },
      Math.max(0, t0 + i * period - performance.now()),
    );
  };
  if (CALL_RATE > 0) schedule(0);

  return {
    async stop() {
      stopped = true;
      clearTimeout(loop);
      while (inFlight.size > 0 || active.size > 0) {
        for (const callId of [...active.keys()]) end(callId);
        await Promise.all(inFlight);
      }
    },
  };
}

/** GET /v1/reports/campaigns every REPORT_S, the first FIRST_REPORT_S after t0. */
function startReports(base: URL, t0: number): { stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let work: Promise<void> = Promise.resolve();
  const one = async () => {
    try {
      const answer = await call(base, 'GET', '/v1/reports/campaigns');
      const w = current;
      w.reports.requests++;
      w.reports.lat.push(answer.ms);
      if (answer.status !== 200) {
        w.reports.non2xx++;
        note(`report answered ${answer.status}: ${answer.text.slice(0, 200)}`);
      }
    } catch (err) {
      current.reports.errors++;
      note(`report: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const schedule = (i: number) => {
    if (stopped || REPORT_S <= 0) return;
    const due = t0 + (FIRST_REPORT_S + i * REPORT_S) * 1000;
    timer = setTimeout(
      () => {
        work = one();
        schedule(i + 1);
      },
      Math.max(0, due - performance.now()),
    );
  };
  schedule(0);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await work;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Closing a window: swap the counters, then read the server's state.

type Phase = 'warm-up' | 'soak';

interface WindowRow {
  readonly index: number;
  readonly phase: Phase;
  readonly startS: number;
  readonly endS: number;
  readonly decisions: {
    readonly perSec: number;
    readonly responses: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly maxMs: number;
    readonly offersPerDecision: number;
    readonly non2xx: number;
    readonly errors: number;
    readonly unknown: number;
    readonly degraded: number;
  };
  readonly feedback: {
    readonly requests: number;
    readonly events: number;
    readonly eventsPerSec: number;
    readonly accepted: number;
    readonly notAccepted: number;
    readonly non2xx: number;
    readonly errors: number;
    readonly p99Ms: number;
  };
  readonly calls: {
    readonly requests: number;
    readonly non2xx: number;
    readonly errors: number;
    readonly wrong: number;
    readonly p99Ms: number;
    readonly pushesExpected: number;
    readonly pushesReceived: number;
    readonly pushesLost: number;
    readonly pushesUnexpected: number;
    readonly pushP99Ms: number;
    readonly noFreeAgent: number;
  };
  readonly reports: { readonly requests: number; readonly failed: number; readonly maxMs: number };
  readonly ws: { readonly open: number; readonly closedByServer: number; readonly errors: number };
  readonly errors: number;
  readonly errorsByKind: Readonly<Record<string, number>>;
  readonly serverLogs: { readonly warn: number; readonly error: number };
  readonly server: {
    /** The server's processes: 1, or the cluster primary and its workers. */
    readonly processes: number;
    /** Sums over the processes. */
    readonly rssMb: number | null;
    readonly rssAnonMb: number | null;
    readonly rssPerProcessMb: readonly number[];
    readonly heapUsedMb: number | null;
    readonly heapSource: 'metrics' | 'probe' | null;
    /** The worst process's. */
    readonly eldP99Ms: number | null;
    readonly eldMaxMs: number | null;
    readonly eldSource: 'metrics' | 'probe' | null;
    readonly cpuPct: number | null;
  };
  readonly probe: ProbeFigures | null;
  readonly metrics: MetricsFigures | null;
  readonly redis: (RedisFigures & { readonly cpuPct: number | null }) | null;
  readonly benchCpuPct: number;
  readonly otherCpuPct: number | null;
  readonly stealPct: number | null;
  readonly memoryTier: {
    readonly entries: number;
    readonly mb: number;
    readonly hitRate: number | null;
  } | null;
}

interface CpuFigures {
  /** % of one core: the server (all its processes), Redis, this process, everything else. */
  readonly serverPct: number | null;
  readonly redisPct: number | null;
  readonly benchPct: number;
  readonly otherPct: number | null;
  readonly stealPct: number | null;
}

/** CPU meters from now: the server's process tree, Redis, this process and the whole machine. */
function startMeters(serverPid: number, redis: RedisProcess | null): { stop(): CpuFigures } {
  const wall = performance.now();
  const all = machineMeter();
  const server = treeCpu(processTree(serverPid));
  const r = redis === null ? null : cpuMeter(redis.pid);
  const own = process.cpuUsage();
  return {
    stop() {
      const elapsed = performance.now() - wall;
      const now = treeCpu(processTree(serverPid));
      let serverMs = 0;
      // A worker started meanwhile (a replacement) counts from its start.
      for (const [pid, ms] of now) serverMs += ms - (server.get(pid) ?? 0);
      const serverPct = now.size === 0 ? null : round((serverMs / elapsed) * 100);
      const redisPct = r?.stop().serverPct ?? null;
      const ownDelta = process.cpuUsage(own);
      const benchPct = round(((ownDelta.user + ownDelta.system) / 1000 / elapsed) * 100);
      const machineNow = all.stop();
      return {
        serverPct,
        redisPct,
        benchPct,
        otherPct:
          machineNow.busyPct === null || serverPct === null
            ? null
            : Math.max(0, Math.round(machineNow.busyPct - serverPct - (redisPct ?? 0) - benchPct)),
        stealPct: machineNow.stealPct,
      };
    },
  };
}

interface Observed {
  readonly server: Server;
  readonly redis: RedisProcess | null;
  readonly probe: Probe | null;
  readonly base: URL;
  readonly metricsOn: boolean;
  previousScrape: Map<string, number> | null;
  sessions: readonly AgentSession[];
}

async function scrape(o: Observed): Promise<Map<string, number> | null> {
  if (!o.metricsOn) return null;
  try {
    const answer = await call(o.base, 'GET', '/metrics');
    return answer.status === 200 ? parsePrometheus(answer.text) : null;
  } catch {
    return null;
  }
}

async function readiness(base: URL): Promise<Readiness | null> {
  try {
    return JSON.parse((await call(base, 'GET', '/health/ready')).text) as Readiness;
  } catch {
    return null;
  }
}

async function closeWindow(
  o: Observed,
  w: Window,
  meters: { stop(): CpuFigures },
  index: number,
  phase: Phase,
  startS: number,
  endS: number,
): Promise<WindowRow> {
  const cpu = meters.stop();
  const pids = processTree(o.server.pid);
  const rss = treeRss(pids);
  const [probe, samples, redis, ready] = await Promise.all([
    o.probe?.sample(pids) ?? Promise.resolve(null),
    scrape(o),
    o.redis === null ? Promise.resolve(null) : redisFigures(o.redis),
    readiness(o.base),
  ]);
  const metrics = samples === null ? null : metricsFigures(samples, o.previousScrape);
  if (samples !== null) o.previousScrape = samples;
  const seconds = endS - startS;
  const dec = latencySummary(w.dec.lat);
  const tier = ready?.memoryTier;
  // One process: /metrics covers it, scraped at the window's end. Several (cluster workers): each
  // worker answers /metrics for itself, whichever gets the connection, so the probe (every process)
  // comes first.
  const fromMetrics = metrics === null ? null : { source: 'metrics' as const, ...metrics };
  const fromProbe = probe === null ? null : { source: 'probe' as const, ...probe };
  const order = pids.length === 1 ? [fromMetrics, fromProbe] : [fromProbe, fromMetrics];
  const heap = order.find((x) => x !== null && x.heapUsedMb !== null) ?? null;
  const eld = order.find((x) => x !== null && x.eldP99Ms !== null) ?? null;
  return {
    index,
    phase,
    startS: round(startS, 1),
    endS: round(endS, 1),
    decisions: {
      perSec: Math.round(w.dec.responses / seconds),
      responses: w.dec.responses,
      p50Ms: dec.p50Ms,
      p99Ms: dec.p99Ms,
      maxMs: dec.maxMs,
      offersPerDecision: round(w.dec.sampledOffers / Math.max(1, w.dec.sampled), 2),
      non2xx: w.dec.non2xx,
      errors: w.dec.errors,
      unknown: w.dec.unknown,
      degraded: w.dec.degraded,
    },
    feedback: {
      requests: w.fb.requests,
      events: w.fb.events,
      eventsPerSec: Math.round(w.fb.events / seconds),
      accepted: w.fb.accepted,
      notAccepted: w.fb.notAccepted,
      non2xx: w.fb.non2xx,
      errors: w.fb.errors,
      p99Ms: latencySummary(w.fb.lat).p99Ms,
    },
    calls: {
      requests: w.calls.requests,
      non2xx: w.calls.non2xx,
      errors: w.calls.errors,
      wrong: w.calls.wrong,
      p99Ms: latencySummary(w.calls.lat).p99Ms,
      pushesExpected: w.calls.pushesExpected,
      pushesReceived: w.calls.pushesReceived,
      pushesLost: w.calls.pushesLost,
      pushesUnexpected: w.calls.pushesUnexpected,
      pushP99Ms: latencySummary(w.calls.pushLat).p99Ms,
      noFreeAgent: w.calls.noFreeAgent,
    },
    reports: {
      requests: w.reports.requests,
      failed: w.reports.non2xx + w.reports.errors,
      maxMs: latencySummary(w.reports.lat).maxMs,
    },
    ws: {
      open: o.sessions.filter((s) => s.open).length,
      closedByServer: w.wsCloses,
      errors: w.wsErrors,
    },
    errors: w.errorCount(),
    errorsByKind: w.errorsByKind(),
    serverLogs: { warn: w.warnLogs, error: w.errorLogs },
    server: {
      processes: pids.length,
      rssMb: rss?.rssMb ?? null,
      rssAnonMb: rss?.rssAnonMb ?? null,
      rssPerProcessMb: rss?.perProcessMb ?? [],
      heapUsedMb: heap?.heapUsedMb ?? null,
      heapSource: heap?.source ?? null,
      eldP99Ms: eld?.eldP99Ms ?? null,
      eldMaxMs: eld?.eldMaxMs ?? null,
      eldSource: eld?.source ?? null,
      cpuPct: cpu.serverPct,
    },
    probe,
    metrics,
    redis: redis === null ? null : { ...redis, cpuPct: cpu.redisPct },
    benchCpuPct: cpu.benchPct,
    otherCpuPct: cpu.otherPct,
    stealPct: cpu.stealPct,
    memoryTier:
      tier === undefined
        ? null
        : {
            entries: tier.entries,
            mb: mb(tier.bytes),
            hitRate: tier.hits + tier.misses > 0 ? round(tier.hits / (tier.hits + tier.misses), 3) : null,
          },
  };
}

/** Window ends (s after the soak's start): the warm-up's, then the soak's, every SAMPLE_S. */
function windowPlan(): { phase: Phase; startS: number; endS: number }[] {
  const plan: { phase: Phase; startS: number; endS: number }[] = [];
  const add = (phase: Phase, from: number, to: number) => {
    for (let s = from; s < to - 1e-9; s += SAMPLE_S)
      plan.push({ phase, startS: s, endS: Math.min(to, s + SAMPLE_S) });
  };
  add('warm-up', 0, WARMUP_S);
  add('soak', WARMUP_S, WARMUP_S + SOAK_S);
  return plan;
}

// ---------------------------------------------------------------------------------------------
// Capacity: full load on POST /v1/decisions, the median of ROUNDS runs' 2xx per second.

interface CapacityRun {
  readonly round: number | 'warm-up';
  readonly okPerSec: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly p99Ms: number;
  readonly serverCpuPct: number | null;
  readonly redisCpuPct: number | null;
  readonly benchCpuPct: number;
}

async function capacityRun(
  server: Server,
  redis: RedisProcess | null,
  requests: RequestSet,
  roundNo: CapacityRun['round'],
  duration: number,
  firstSlice: number,
): Promise<CapacityRun> {
  let meters = startMeters(server.pid, redis);
  const r = await fire(server.url, requests, {
    duration,
    connections: CONNECTIONS,
    firstSlice,
    onStart: () => {
      meters = startMeters(server.pid, redis);
    },
  });
  const cpu = meters.stop();
  return {
    round: roundNo,
    okPerSec: Math.round(r['2xx'] / r.duration),
    non2xx: r.non2xx,
    errors: r.errors,
    p99Ms: r.latency.p99,
    serverCpuPct: cpu.serverPct,
    redisCpuPct: cpu.redisPct,
    benchCpuPct: cpu.benchPct,
  };
}

// ---------------------------------------------------------------------------------------------

/** Counts by kind, summed. */
function addKinds(all: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const kinds of all) for (const [k, v] of Object.entries(kinds)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** (last − first) ÷ first. */
const change = (first: number, last: number) => (last - first) / first;
const pct = (x: number) => (Number.isFinite(x) ? `${round(x * 100, 1)} %` : 'n/a');
const orNa = (x: number | null | undefined, digits = 1) =>
  x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : round(x, digits);

let stopping = false;

async function main(): Promise<void> {
  const benchStarted = performance.now();
  if (CALL_RATE * CALL_HOLD_S >= WS_SESSIONS && CALL_RATE > 0)
    throw new Error(
      `BENCH_CALL_RATE × BENCH_CALL_HOLD_S (${CALL_RATE * CALL_HOLD_S} calls at once) must stay below BENCH_WS_SESSIONS (${WS_SESSIONS})`,
    );
  if (SOAK_S < 600) say(`BENCH_SOAK_S=${SOAK_S}: shorter than the 10 minutes issue 8 asks for`);
  const data = await prepareData();

  let redis: RedisProcess | null = null;
  let loadMs: number | null = null;
  if (STORE === 'redis') {
    say(`starting ${REDIS_SERVER} (AOF on) and loading ${CUSTOMERS.toLocaleString('en-US')} customers…`);
    redis = await startRedis({ args: REDIS_ARGS, binary: REDIS_SERVER });
    loadMs = (await loadPopulation(redis, data.profiles)).ms;
  }
  const spoolDir = await mkdtemp(path.join(tmpdir(), 'offerloop-soak-spool-'));

  say(`starting offerloop (${STORE}, key scopes ${KEY_SCOPES.join('+')})…`);
  const serverLogs: string[] = [];
  const nodeArgs = [
    ...(PROBE ? ['--import', `data:text/javascript,${encodeURIComponent(PROBE_SOURCE)}`] : []),
    ...(CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : []),
  ];
  const server = await startServer(
    'offerloop',
    SERVER_SCRIPT,
    {
      ...(redis === null
        ? { OFFERLOOP_PROFILES: data.profiles, REDIS_URL: '', REDIS_CLUSTER_NODES: '' }
        : {
            REDIS_URL: redis.url,
            REDIS_CLUSTER_NODES: '',
            REDIS_PREFIX: 'offerloop',
            OFFERLOOP_CACHE_MB: String(CACHE_MB),
          }),
      OFFERLOOP_RULES: data.rules,
      OFFERLOOP_API_KEYS: `${API_KEY}=${KEY_SCOPES.join('+')};rate=10000000`,
      OFFERLOOP_WATCH_RULES: 'false',
      // 'offerloop ready' is an info line; no request is logged at info.
      OFFERLOOP_LOG_LEVEL: 'info',
      FEEDBACK_SPOOL_DIR: spoolDir,
    },
    'offerloop ready',
    {
      nodeArgs,
      onLog: (log) => {
        const level = log.level ?? 0;
        if (level < 40) return;
        if (level >= 50) current.errorLogs++;
        else current.warnLogs++;
        if (serverLogs.length >= 20) return;
        const err = log.err as { type?: string; message?: string } | undefined;
        const route = typeof log.route === 'string' ? ` on ${log.route}` : '';
        serverLogs.push(
          `${level >= 50 ? 'ERROR' : 'WARN'} ${log.msg ?? ''}${route}${err ? ` (${err.type ?? 'Error'}: ${err.message ?? ''})` : ''}`,
        );
      },
    },
  );
  let serverExit: string | null = null;
  server.proc.once('exit', (code, signal) => {
    if (stopping) return;
    serverExit = `offerloop exited (${code ?? signal}) before the bench stopped it`;
    say(serverExit);
  });
  const base = new URL(server.url);
  const probe = PROBE ? new Probe(server) : null;
  const serverProcesses = processTree(server.pid);
  say(
    `offerloop ready in ${server.spawnToReadyMs} ms, ${serverProcesses.length === 1 ? 'one process' : `a primary and ${serverProcesses.length - 1} workers`}`,
  );

  // /metrics, if this build has it.
  let metricsStatus: number | string = 'not asked';
  try {
    metricsStatus = (await call(base, 'GET', '/metrics')).status;
  } catch (err) {
    metricsStatus = err instanceof Error ? err.message : String(err);
  }
  const metricsOn = metricsStatus === 200;
  const observed: Observed = { server, redis, probe, base, metricsOn, previousScrape: null, sessions: [] };
  const firstScrape = await scrape(observed);
  const firstMetrics = firstScrape === null ? null : metricsFigures(firstScrape, null);
  say(
    metricsOn
      ? `GET /metrics: heap from ${firstMetrics?.heapMetric ?? 'nothing known'}, event-loop delay from ${firstMetrics?.eldMetric ?? 'nothing known'}`
      : `GET /metrics: ${metricsStatus}; heap and event-loop delay from ${PROBE ? 'the probe' : 'nowhere (n/a)'}`,
  );

  const sampleBodies = decisionBodies('soak-sample', 1, 300, CUSTOMERS)[0]!;
  const sample = await sampleDecisions(server, { route: ROUTE, headers: HEADERS }, sampleBodies);
  if (sample.customerKnown !== sample.requests || sample.degraded > 0)
    throw new Error(
      `${sample.customerKnown} of ${sample.requests} sampled customers known, ${sample.degraded} degraded`,
    );

  // Capacity.
  const capacityRequests = decisionRequests(
    decisionBodies('soak-capacity', CONNECTIONS * (ROUNDS + 1), 512, CUSTOMERS),
  );
  say(
    `capacity: warm-up ${WARMUP} s, then ${ROUNDS} × ${DURATION} s at full load (${CONNECTIONS} connections)…`,
  );
  const capacityRuns: CapacityRun[] = [
    await capacityRun(server, redis, capacityRequests, 'warm-up', WARMUP, 0),
  ];
  for (let r = 1; r <= ROUNDS; r++)
    capacityRuns.push(await capacityRun(server, redis, capacityRequests, r, DURATION, r * CONNECTIONS));
  const capacity = median(capacityRuns.filter((r) => r.round !== 'warm-up').map((r) => r.okPerSec));
  const rate = Math.max(1, Math.round(capacity * LOAD));

  // Sessions.
  const wsUrl = `${server.url.replace(/^http/, 'ws')}/v1/ws`;
  say(`opening ${WS_SESSIONS} WebSocket sessions…`);
  const { sessions, failed: sessionsFailed } = await openSessions(wsUrl, WS_SESSIONS);
  observed.sessions = sessions;
  const agents = sessions.length;

  // The soak.
  const plan = windowPlan();
  say(
    `soak: ${rate} decisions/s (${LOAD} × ${Math.round(capacity)}), ${FEEDBACK_SHARE} of them fed back, ` +
      `${agents} sessions, ${CALL_RATE} calls/s; ${WARMUP_S} s warm-up + ${SOAK_S} s in ${plan.length} windows…`,
  );
  current = new Window();
  await probe?.sample(processTree(server.pid));
  if (metricsOn) observed.previousScrape = await scrape(observed);
  const t0 = performance.now();
  let meters = startMeters(server.pid, redis);
  const decisions = startDecisions(server.url, rate);
  const feedback = startFeedback(base);
  const calls = startCalls(base, agents, t0, serverProcesses.length > 1);
  const reports = startReports(base, t0);
  const rows: WindowRow[] = [];
  for (const [i, w] of plan.entries()) {
    const wait = t0 + w.endS * 1000 - performance.now();
    if (wait > 0) await sleep(wait);
    const ended = current;
    const endedMeters = meters;
    current = new Window();
    meters = startMeters(server.pid, redis);
    const row = await closeWindow(observed, ended, endedMeters, i + 1, w.phase, w.startS, w.endS);
    rows.push(row);
    say(
      `window ${i + 1}/${plan.length} (${w.phase}, ${row.endS} s): ${row.decisions.perSec} decisions/s, ` +
        `p99 ${row.decisions.p99Ms} ms, ${row.feedback.eventsPerSec} events/s, pushes ${row.calls.pushesReceived}/${row.calls.pushesExpected}, ` +
        `RSS ${row.server.rssMb} MB, loop p99 ${orNa(row.server.eldP99Ms, 2)} ms, errors ${row.errors}`,
    );
  }

  // Drain: stop sending, end the calls in progress, wait for what is in flight and the last pushes.
  say('draining…');
  const drain = current;
  await decisions.stop();
  await Promise.all([feedback.stop(), calls.stop(), reports.stop()]);
  const drainDeadline = performance.now() + PUSH_TIMEOUT_MS + 1_000;
  while (expectedPushes.size > 0 && performance.now() < drainDeadline) await sleep(50);
  const feedbackNotSent = feedback.notSent();
  const endReady = await readiness(base);
  const endRedis = redis === null ? null : await redisFigures(redis);
  const serverCpuMs = [...treeCpu(processTree(server.pid)).values()].reduce((a, b) => a + b, 0);

  stopping = true;
  await Promise.all(sessions.map((s) => s.close()));
  await stopServer(server);
  await redis?.stop();
  await rm(spoolDir, { recursive: true, force: true });
  agent.destroy();
  const benchSeconds = round((performance.now() - benchStarted) / 1000, 1);

  // -------------------------------------------------------------------------------------------
  const soak = rows.filter((r) => r.phase === 'soak');
  const n = soak.length;
  const k = Math.max(1, Math.min(MEMORY_WINDOWS, Math.floor(n / 2)));
  const third = Math.max(1, Math.floor(n / 3));
  const medianOf = (xs: readonly WindowRow[], f: (r: WindowRow) => number | null) => {
    const vs = xs.map(f).filter((v): v is number => v !== null && Number.isFinite(v));
    return vs.length > 0 ? median(vs) : Number.NaN;
  };
  const rssFirst = medianOf(soak.slice(0, k), (r) => r.server.rssMb);
  const rssLast = medianOf(soak.slice(-k), (r) => r.server.rssMb);
  const memoryGrowth = change(rssFirst, rssLast);
  const heapFirst = medianOf(soak.slice(0, k), (r) => r.server.heapUsedMb);
  const heapLast = medianOf(soak.slice(-k), (r) => r.server.heapUsedMb);
  const liveFirst = medianOf(soak.slice(0, k), (r) => r.probe?.heapAfterGcMb ?? null);
  const liveLast = medianOf(soak.slice(-k), (r) => r.probe?.heapAfterGcMb ?? null);
  const majorGcs = (soak[soak.length - 1]?.probe?.majorGcs ?? 0) - (soak[0]?.probe?.majorGcs ?? 0);
  const p99First = medianOf(soak.slice(0, third), (r) => r.decisions.p99Ms);
  const p99Last = medianOf(soak.slice(-third), (r) => r.decisions.p99Ms);
  const p99Drift = change(p99First, p99Last);
  const p99Noise =
    n >= 2
      ? median(soak.slice(1).map((r, i) => Math.abs(change(soak[i]!.decisions.p99Ms, r.decisions.p99Ms))))
      : Number.NaN;
  const driftOk = p99Drift < TARGET_P99_DRIFT || p99Drift <= p99Noise;
  const eldFirst = medianOf(soak.slice(0, third), (r) => r.server.eldP99Ms);
  const eldLast = medianOf(soak.slice(-third), (r) => r.server.eldP99Ms);
  const eldWorst = Math.max(...soak.map((r) => r.server.eldP99Ms ?? Number.NEGATIVE_INFINITY));
  const eldMax = Math.max(...soak.map((r) => r.server.eldMaxMs ?? Number.NEGATIVE_INFINITY));
  const ratesGot = soak.map((r) => r.decisions.perSec);

  const sum = (f: (r: WindowRow) => number) => rows.reduce((a, r) => a + f(r), 0);
  const totals = {
    decisions: sum((r) => r.decisions.responses) + drain.dec.responses,
    feedbackRequests: sum((r) => r.feedback.requests) + drain.fb.requests,
    feedbackEvents: sum((r) => r.feedback.events) + drain.fb.events,
    feedbackAccepted: sum((r) => r.feedback.accepted) + drain.fb.accepted,
    callEvents: sum((r) => r.calls.requests) + drain.calls.requests,
    reports: sum((r) => r.reports.requests) + drain.reports.requests,
    pushesExpected: sum((r) => r.calls.pushesExpected) + drain.calls.pushesExpected,
    pushesReceived: sum((r) => r.calls.pushesReceived) + drain.calls.pushesReceived,
    pushesLost: sum((r) => r.calls.pushesLost) + drain.calls.pushesLost + expectedPushes.size,
    pushesUnexpected: sum((r) => r.calls.pushesUnexpected) + drain.calls.pushesUnexpected,
    errors: sum((r) => r.errors) + drain.errorCount(),
    errorsByKind: addKinds([...rows.map((r) => r.errorsByKind), drain.errorsByKind()]),
    serverWarnLogs: server.warnLogs,
    serverErrorLogs: server.errorLogs,
  };
  const requestsTotal = totals.decisions + totals.feedbackRequests + totals.callEvents + totals.reports;

  console.table(
    capacityRuns.map((r) => ({
      round: r.round,
      '2xx/s': r.okPerSec,
      'p99 ms': r.p99Ms,
      'non2xx/errors': `${r.non2xx}/${r.errors}`,
      'srv/redis/bench %': `${orNa(r.serverCpuPct, 0)}/${orNa(r.redisCpuPct, 0)}/${r.benchCpuPct}`,
    })),
  );
  console.table(
    rows.map((r) => ({
      window: `${r.index}${r.phase === 'warm-up' ? ' warm-up' : ''}`,
      'end s': r.endS,
      'dec/s': r.decisions.perSec,
      'dec p50/p99/max ms': `${r.decisions.p50Ms} / ${r.decisions.p99Ms} / ${r.decisions.maxMs}`,
      'offers/dec': r.decisions.offersPerDecision,
      'fb ev/s': r.feedback.eventsPerSec,
      calls: r.calls.requests,
      'pushes exp/got': `${r.calls.pushesExpected}/${r.calls.pushesReceived}`,
      reports: r.reports.requests,
      errors: r.errors,
      'RSS MB': orNa(r.server.rssMb),
      'heap MB': orNa(r.server.heapUsedMb),
      'after GC MB': orNa(r.probe?.heapAfterGcMb),
      'loop p99/max ms': `${orNa(r.server.eldP99Ms, 2)} / ${orNa(r.server.eldMaxMs, 2)}`,
      'srv/redis/bench/other %': `${orNa(r.server.cpuPct, 0)}/${orNa(r.redis?.cpuPct, 0)}/${r.benchCpuPct}/${orNa(r.otherCpuPct, 0)}`,
      'redis MB': orNa(r.redis?.usedMemoryMb),
      'fb lag': orNa(r.metrics?.gauges.offerloop_feedback_stream_lag, 0),
      'tier MB': orNa(r.memoryTier?.mb),
    })),
  );
  // Where the soak windows' figures came from (see closeWindow), with the metric's name.
  const sourceOf = (key: 'eldSource' | 'heapSource', metric: string | null | undefined) => {
    const used = [...new Set(soak.map((r) => r.server[key]))];
    return used.map((x) => (x === 'metrics' ? `/metrics ${metric ?? ''}`.trim() : (x ?? 'n/a'))).join(' + ');
  };
  const eldSource = sourceOf('eldSource', firstMetrics?.eldMetric);
  const heapSource = sourceOf('heapSource', firstMetrics?.heapMetric);
  console.table({
    [`capacity decisions/s (median of ${ROUNDS} × ${DURATION} s)`]: tableRow(Math.round(capacity)),
    'soak decisions/s asked / got (median of windows, min–max)': tableRow(
      `${rate} / ${n > 0 ? Math.round(median(ratesGot)) : 'n/a'} (${Math.min(...ratesGot)}–${Math.max(...ratesGot)})`,
      `${LOAD} × capacity`,
    ),
    'requests: decisions / feedback (events) / calls / reports': tableRow(
      `${totals.decisions} / ${totals.feedbackRequests} (${totals.feedbackEvents}) / ${totals.callEvents} / ${totals.reports}`,
    ),
    'errors (all kinds, warm-up and drain included)': tableRow(totals.errors, '0', totals.errors === 0),
    ...Object.fromEntries(
      Object.entries(totals.errorsByKind).map(([kind, count]) => [`… ${kind}`, tableRow(count)]),
    ),
    [`server RSS MB, first → last ${k} soak windows (median)`]: tableRow(
      `${orNa(rssFirst)} → ${orNa(rssLast)}`,
    ),
    'memory growth after warm-up': tableRow(
      pct(memoryGrowth),
      `< ${TARGET_MEMORY_GROWTH * 100} %`,
      Number.isFinite(memoryGrowth) ? memoryGrowth < TARGET_MEMORY_GROWTH : undefined,
    ),
    [`heap MB first → last ${k} windows (${heapSource})`]: tableRow(
      `${orNa(heapFirst)} → ${orNa(heapLast)} (${pct(change(heapFirst, heapLast))})`,
      'info',
    ),
    [`heap after major GC MB first → last ${k} windows (probe; ${majorGcs} major GCs in the soak)`]: tableRow(
      `${orNa(liveFirst)} → ${orNa(liveLast)} (${pct(change(liveFirst, liveLast))})`,
      'info',
    ),
    [`decision p99 ms, first → last third (${third} windows, median)`]: tableRow(`${p99First} → ${p99Last}`),
    'p99 drift': tableRow(
      pct(p99Drift),
      `< ${TARGET_P99_DRIFT * 100} % or ≤ noise`,
      Number.isFinite(p99Drift) ? driftOk : undefined,
    ),
    'p99 window-to-window noise (median relative change)': tableRow(pct(p99Noise), 'info'),
    [`event-loop delay p99 ms first → last third; worst window; max (${eldSource})`]: tableRow(
      `${orNa(eldFirst, 2)} → ${orNa(eldLast, 2)}; ${orNa(eldWorst, 2)}; ${orNa(eldMax, 2)}`,
      'info',
    ),
    'pushes expected / received / lost': tableRow(
      `${totals.pushesExpected} / ${totals.pushesReceived} / ${totals.pushesLost}`,
      '0 lost',
      totals.pushesLost === 0,
    ),
    'WebSocket sessions opened / failed': tableRow(
      `${sessions.length} / ${sessionsFailed}`,
      `${WS_SESSIONS} / 0`,
      sessionsFailed === 0,
    ),
    'server log lines warn / error': tableRow(
      `${server.warnLogs} / ${server.errorLogs}`,
      '– / 0',
      server.errorLogs === 0,
    ),
    'feedback: decisions dropped from the ring / left unsent': tableRow(
      `${ring.dropped} / ${feedbackNotSent}`,
      'info',
    ),
    'bench time s': tableRow(benchSeconds),
  });

  const problems: string[] = [];
  if (totals.errors > 0) problems.push(`${totals.errors} errors: ${JSON.stringify(totals.errorsByKind)}`);
  if (totals.pushesLost > 0) problems.push(`${totals.pushesLost} pushes lost`);
  if (totals.pushesUnexpected > 0) problems.push(`${totals.pushesUnexpected} pushes not expected`);
  if (sessionsFailed > 0) problems.push(`${sessionsFailed} WebSocket sessions failed to open`);
  if (server.errorLogs > 0)
    problems.push(`offerloop logged ${server.errorLogs} error lines: ${serverLogs.join(' | ')}`);
  if (serverExit !== null) problems.push(serverExit);
  if (endReady?.feedback?.decisionsLost)
    problems.push(`the feedback log lost ${endReady.feedback.decisionsLost} decisions`);

  const summary = {
    bench: 'soak',
    ...machine(),
    config: {
      store: STORE,
      customers: CUSTOMERS,
      offers: OFFERS,
      load: LOAD,
      soakS: SOAK_S,
      warmupS: WARMUP_S,
      sampleS: SAMPLE_S,
      soakConnections: SOAK_CONNECTIONS,
      cacheMb: STORE === 'redis' ? CACHE_MB : null,
      feedbackMinAgeMs: FEEDBACK_MIN_AGE_MS,
      decisionGroups: decisions.groups,
      feedbackShare: FEEDBACK_SHARE,
      acceptShare: ACCEPT_SHARE,
      feedbackIntervalMs: FEEDBACK_INTERVAL_MS,
      wsSessions: WS_SESSIONS,
      callRate: CALL_RATE,
      callHoldS: CALL_HOLD_S,
      reportS: REPORT_S,
      probe: PROBE,
      keyScopes: KEY_SCOPES,
      serverProcesses: serverProcesses.length,
      capacity: { durationS: DURATION, rounds: ROUNDS, connections: CONNECTIONS, warmupS: WARMUP },
      redisArgs: redis === null ? null : REDIS_ARGS,
    },
    data: { ...data, dir: path.relative(process.cwd(), data.dir) || '.' },
    loadMs,
    startup: { spawnToReadyMs: server.spawnToReadyMs, readyInMs: server.readyInMs },
    metrics: { status: metricsStatus, first: firstMetrics, heapSource, eldSource },
    sample,
    capacity: { decisionsPerSec: Math.round(capacity), runs: capacityRuns },
    rate,
    windows: rows,
    drain: { errors: drain.errorCount(), pushesLost: drain.calls.pushesLost },
    totals: { ...totals, requests: requestsTotal },
    verdicts: {
      errors: { value: totals.errors, target: 0, pass: totals.errors === 0 },
      memoryGrowth: {
        value: round(memoryGrowth, 4),
        firstMb: rssFirst,
        lastMb: rssLast,
        windows: k,
        target: TARGET_MEMORY_GROWTH,
        pass: memoryGrowth < TARGET_MEMORY_GROWTH,
      },
      heapGrowth: { value: round(change(heapFirst, heapLast), 4), firstMb: heapFirst, lastMb: heapLast },
      heapAfterMajorGcGrowth: {
        value: round(change(liveFirst, liveLast), 4),
        firstMb: liveFirst,
        lastMb: liveLast,
        majorGcs,
      },
      p99Drift: {
        value: round(p99Drift, 4),
        firstMs: p99First,
        lastMs: p99Last,
        windows: third,
        noise: round(p99Noise, 4),
        target: TARGET_P99_DRIFT,
        pass: driftOk,
      },
      eventLoopDelay: {
        source: eldSource,
        firstThirdP99Ms: eldFirst,
        lastThirdP99Ms: eldLast,
        worstWindowP99Ms: eldWorst,
        maxMs: eldMax,
      },
      pushesLost: { value: totals.pushesLost, target: 0, pass: totals.pushesLost === 0 },
    },
    end: { readiness: endReady, redis: endRedis, serverCpuMs },
    feedbackRing: { dropped: ring.dropped, notSent: feedbackNotSent },
    sessions: { opened: sessions.length, failed: sessionsFailed },
    serverLogs,
    notes: [...notes.values()],
    benchSeconds,
    ok: problems.length === 0,
    problems,
  };
  console.log(JSON.stringify(summary));
  const file = await writeResult('soak', summary);
  say(`wrote ${file} after ${benchSeconds} s`);
  if (notes.size > 0)
    say(
      `what went wrong (count × first example):\n  ${[...notes.values()].map((x) => `${x.count} × ${x.example}`).join('\n  ')}`,
    );
  if (problems.length > 0) {
    say(`FAILED:\n  ${problems.join('\n  ')}`);
    process.exitCode = 1;
  }
}

runBench('soak bench', main);
