// Feedback intake benchmark: POST /v1/feedback of our server on Redis (AOF on, fsync every second,
// as docker/redis.conf), with the in-process consumer running (FEEDBACK_CONSUMERS=1, the default
// deployment), against the bare Fastify hello server (bench/hello-server.ts), side by side in one run.
// Every event refers to a real decision: the bench first makes decisions for anonymous web visitors
// (POST /v1/decisions, about 350,000 with the defaults) and sends each shown offer's impression,
// click, convert and accept once, so that every event is new and counts. "Accepted" is read from the
// answers and checked against the growth of the log stream.
// Each round runs, one after the other: hello with a one-event body, single-event requests, hello
// with a 100-event body, batches of 100. After each of ours the bench waits until the consumer has
// processed everything (lag and pending 0) and reports how long that took and its CPU.
// Run: npm run bench:feedback (about 6 minutes)
// Targets: ≥ 50,000 events accepted per second in batches of 100; ≥ 10,000 single-event requests
// per second. Also reports hello's req/s and the ratios to it, p50/p99 at half the maximum rate,
// server and Redis CPU per event, and whether the consumer kept up (stream lag, pending, catch-up).
// Prints tables and one JSON line ({"bench":"feedback",...}); also writes bench/results/feedback.json.
// Exits 1 when a request failed, an event was not accepted (queued, duplicate, rejected), the log
// did not grow by what was accepted, the consumer did not catch up, or the server logged an error.
// Knobs (env): BENCH_DURATION (s per run, 6), BENCH_ROUNDS (3), BENCH_CONNECTIONS (50),
// BENCH_WARMUP (s, 3), BENCH_LATENCY_DURATION (s, = BENCH_DURATION), BENCH_LATENCY_CONNECTIONS (20),
// BENCH_BATCH (events per batch request, 100), BENCH_HEADROOM (events prepared per run, as a multiple
// of what the warm-up's rate, or half the target if more, would use in the run; 1.5),
// BENCH_FEEDBACK_CONSUMERS (in-process consumers, 1; 0 measures the intake alone),
// BENCH_FEEDBACK_SHARDS (1), BENCH_RULES (rules directory, default rules/), BENCH_REDIS_SERVER.
// Diagnostics: BENCH_CPU_PROF=DIR (profile our server with node --cpu-prof; written at its exit).

import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { Rng } from '../src/sim/random.js';
import { RedisKeys } from '../src/store/redis/redis-keys.js';
import { type RedisProcess, redisCommand, startRedis } from '../test/support/redis.js';
import {
  API_KEY,
  CPU_PROF_DIR,
  cpuMeter,
  envNumber,
  HEADERS,
  HELLO_SCRIPT,
  httpKnobs,
  latencySummary,
  machine,
  machineMeter,
  median,
  pacedGroups,
  pacedRun,
  publishResult,
  REDIS_CONF_ARGS,
  REDIS_SERVER,
  REPO_ROOT,
  type RequestSet,
  round,
  runBench,
  SERVER_SCRIPT,
  type Server,
  startServer,
  stopServer,
  superviseChildren,
  tableRow,
} from './support.js';

const { DURATION, ROUNDS, CONNECTIONS, WARMUP, LATENCY_DURATION, LATENCY_CONNECTIONS } = httpKnobs({
  rounds: 3,
  warmup: 3,
});
const BATCH = Math.min(1000, Math.floor(envNumber('BENCH_BATCH', 100)));
const HEADROOM = envNumber('BENCH_HEADROOM', 1.5);
const CONSUMERS = Math.floor(Number(process.env.BENCH_FEEDBACK_CONSUMERS ?? 1));
const SHARDS = Math.floor(envNumber('BENCH_FEEDBACK_SHARDS', 1));
const RULES = path.resolve(process.env.BENCH_RULES ?? path.join(REPO_ROOT, 'rules'));
if (!Number.isInteger(CONSUMERS) || CONSUMERS < 0) throw new Error('BENCH_FEEDBACK_CONSUMERS must be ≥ 0');

const TARGET_EVENTS_PER_SEC = 50_000;
const TARGET_SINGLE_PER_SEC = 10_000;

/** As docker/redis.conf. */
const REDIS_ARGS = REDIS_CONF_ARGS;
const PREFIX = 'offerloop';
const KEYS = new RedisKeys(PREFIX);
/** The consumers' group (RedisFeedbackConsumer's default); the only group on the stream. */
const GROUP = 'offerloop';
const FEEDBACK_ROUTE = '/v1/feedback';
const DECISIONS_ROUTE = '/v1/decisions';
/** Hello has one route; it gets bodies of the same shape and size as ours (see helloSlices). */
const HELLO_ROUTE = '/v1/decisions';
/** Every shown offer gets each of these once: all count (accept excludes only reject and dismiss). */
const TYPES = ['impression', 'click', 'convert', 'accept'] as const;
/** Paced runs: seconds not counted at their start (see redis-http.bench.ts). */
const RAMP_UP_S = 2;
/** After a run, the consumer must have processed everything within this long. */
const CATCH_UP_TIMEOUT_MS = 120_000;
const LAG_POLL_MS = 100;

superviseChildren('feedback bench');

const say = (text: string) => process.stderr.write(`feedback bench: ${text}\n`);

// ---------------------------------------------------------------------------------------------
// Redis: the stream(s) of the feedback log, the consumer group's lag, and a few INFO fields.

interface GroupState {
  /** Entries in the streams (XLEN, all shards). */
  readonly length: number;
  /** Entries not yet delivered to the group (XINFO GROUPS lag), null when Redis cannot tell. */
  readonly lag: number | null;
  /** Delivered to a consumer and not acknowledged yet. */
  readonly pending: number;
}

const respInt = (reply: string): number => Number(/^:(-?\d+)/.exec(reply)?.[1] ?? Number.NaN);

async function groupState(redis: RedisProcess): Promise<GroupState> {
  let length = 0;
  let lag: number | null = 0;
  let pending = 0;
  for (let s = 0; s < SHARDS; s++) {
    const key = KEYS.feedbackLog(s);
    const shardLength = respInt(await redisCommand(redis.port, 'XLEN', key));
    length += shardLength;
    const info = await redisCommand(redis.port, 'XINFO', 'GROUPS', key).catch(() => '');
    // RESP2: one flat list of name/value pairs per group; ours is the only group.
    const p = /\$7\r\npending\r\n:(\d+)/.exec(info);
    const l = /\$3\r\nlag\r\n:(\d+)/.exec(info);
    if (p === null || !info.includes(`\r\n${GROUP}\r\n`)) {
      // No group (no consumer, or not started yet) or no stream: nothing was delivered.
      lag = lag === null ? null : lag + shardLength;
      continue;
    }
    pending += Number(p[1]);
    lag = lag === null || l === null ? null : lag + Number(l[1]);
  }
  return { length, lag, pending };
}

async function redisInfo(redis: RedisProcess): Promise<Record<string, number>> {
  const text = await redisCommand(redis.port, 'INFO', 'all');
  const out: Record<string, number> = {};
  for (const name of ['used_memory', 'total_forks', 'latest_fork_usec', 'aof_current_size', 'aof_rewrites']) {
    const m = new RegExp(`^${name}:(\\d+)`, 'm').exec(text);
    if (m) out[name] = Number(m[1]);
  }
  return out;
}

/** Waits until the group has processed every entry; the ms it took, or null after the timeout. */
async function waitCaughtUp(redis: RedisProcess, timeoutMs = CATCH_UP_TIMEOUT_MS): Promise<number | null> {
  const started = performance.now();
  for (;;) {
    const state = await groupState(redis);
    if (CONSUMERS === 0) return 0;
    if (state.lag === 0 && state.pending === 0) return Math.round(performance.now() - started);
    if (performance.now() - started > timeoutMs) return null;
    await sleep(50);
  }
}

interface LagFigures {
  /** At the last sample before `end` (the last response of a run). */
  readonly lagAtEnd: number | null;
  readonly pendingAtEnd: number | null;
  /** The largest lag sampled before `end`. */
  readonly maxLag: number | null;
  /** The first sample after `end` with lag and pending 0, when it was taken (performance.now()). */
  readonly caughtUpAt: number | null;
}

/** Samples the group's lag every LAG_POLL_MS until stopped; `at` is when Redis had answered. */
function lagPoller(redis: RedisProcess) {
  const samples: { at: number; lag: number | null; pending: number }[] = [];
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    groupState(redis)
      .then((s) => samples.push({ at: performance.now(), lag: s.lag, pending: s.pending }))
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, LAG_POLL_MS);
  return {
    stop(end: number): LagFigures {
      clearInterval(timer);
      const upTo = samples.filter((s) => s.at <= end);
      const last = upTo[upTo.length - 1] ?? null;
      const lags = upTo.map((s) => s.lag).filter((l): l is number => l !== null);
      const done = samples.find((s) => s.at > end && s.lag === 0 && s.pending === 0);
      return {
        lagAtEnd: last?.lag ?? null,
        pendingAtEnd: last?.pending ?? null,
        maxLag: lags.length > 0 ? Math.max(...lags) : null,
        caughtUpAt: done?.at ?? null,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Load: autocannon, each connection with its own slice of bodies, and (for ours) at most that slice:
// a connection that has sent every one of its bodies stops rather than sending them again, which
// would turn them into duplicates. The run then ends early, which its figures say (`exhausted`).

interface LoadSpec {
  readonly route: string;
  /** One slice per connection. */
  readonly slices: readonly (readonly string[])[];
  readonly duration: number;
  /** Each connection sends its slice once at most (ours); otherwise it cycles through it (hello). */
  readonly once: boolean;
  readonly onBody: (body: string) => void;
  readonly onStart?: () => void;
  /** Response times in ms (float). */
  readonly times?: number[];
}

interface LoadOutcome {
  readonly result: autocannon.Result;
  /** From the first request to the last response. */
  readonly seconds: number;
  readonly startedAt: number;
  readonly lastResponseAt: number;
}

function load(url: string, spec: LoadSpec): Promise<LoadOutcome> {
  const perConnection = Math.min(...spec.slices.map((s) => s.length));
  let next = 0;
  let startedAt = 0;
  let lastResponseAt = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${url}${spec.route}`,
        method: 'POST',
        headers: { ...HEADERS },
        body: spec.slices[0]![0]!,
        connections: spec.slices.length,
        pipelining: 1,
        duration: spec.duration,
        timeout: 10,
        ...(spec.once ? { maxConnectionRequests: perConnection } : {}),
        setupClient: (client) => {
          const bodies = spec.slices[next++ % spec.slices.length]!;
          client.setRequests(
            bodies.map((body) => ({ method: 'POST', path: spec.route, headers: HEADERS, body })),
          );
        },
        verifyBody: (body) => {
          spec.onBody(typeof body === 'string' ? body : (body?.toString('utf8') ?? ''));
          return true;
        },
      },
      (err: unknown, result) => {
        if (err) reject(err instanceof Error ? err : new Error(String(err)));
        else
          resolve({
            result,
            seconds: Math.max(1e-3, (lastResponseAt - startedAt) / 1000),
            startedAt,
            lastResponseAt,
          });
      },
    );
    const times = spec.times;
    instance.on('response', (_client, _status, _bytes, ms) => {
      lastResponseAt = performance.now();
      times?.push(ms);
    });
    instance.once('start', () => {
      startedAt = performance.now();
      spec.onStart?.();
    });
  });
}

/** Deals `bodies` into `n` slices of equal length (the remainder is dropped). */
function deal(bodies: readonly string[], n: number): string[][] {
  const per = Math.floor(bodies.length / n);
  if (per === 0) throw new Error(`${bodies.length} bodies cannot feed ${n} connections`);
  return Array.from({ length: n }, (_, i) => bodies.slice(i * per, (i + 1) * per));
}

// ---------------------------------------------------------------------------------------------
// Decisions for anonymous web visitors, and the events about their offers.

interface ShownOffer {
  readonly decisionId: string;
  readonly offerId: string;
  readonly customerId: string;
  /** decidedAt of the decision (ISO): the events' timestamp. */
  readonly at: string;
}

interface DecisionAnswer {
  readonly decisionId?: string;
  readonly customerId?: string;
  readonly decidedAt?: string;
  readonly offers?: readonly { readonly offerId?: string }[];
}

/**
 * The events still to send: every shown offer × TYPES, shuffled (seeded) within each harvest, so
 * that a batch mixes decisions and types as a channel's batches would. Taken once, never reused.
 */
class EventPool {
  private readonly offers: ShownOffer[] = [];
  private codes: number[] = [];
  private next = 0;
  private readonly rng = new Rng('42', 'feedback-bench');
  decisions = 0;
  emptyDecisions = 0;

  add(offers: readonly ShownOffer[], decisions: number, empty: number): void {
    const base = this.offers.length;
    for (const o of offers) this.offers.push(o);
    const fresh: number[] = [];
    for (let i = 0; i < offers.length; i++)
      for (let t = 0; t < TYPES.length; t++) fresh.push((base + i) * TYPES.length + t);
    this.codes = this.codes.slice(this.next).concat(this.rng.shuffle(fresh));
    this.next = 0;
    this.decisions += decisions;
    this.emptyDecisions += empty;
  }

  get remaining(): number {
    return this.codes.length - this.next;
  }

  get offersPerDecision(): number {
    return this.decisions === 0 ? 0 : this.offers.length / this.decisions;
  }

  /** The JSON of the next `n` events. */
  take(n: number): string[] {
    if (n > this.remaining) throw new Error(`asked for ${n} events, ${this.remaining} left`);
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const code = this.codes[this.next++]!;
      out[i] = eventJson(this.offers[Math.floor(code / TYPES.length)]!, TYPES[code % TYPES.length]!);
    }
    return out;
  }
}

function eventJson(o: ShownOffer, type: (typeof TYPES)[number]): string {
  return JSON.stringify({
    eventId: randomUUID(),
    decisionId: o.decisionId,
    offerId: o.offerId,
    customerId: o.customerId,
    type,
    ...(type === 'convert' ? { value: 49.9 } : {}),
    timestamp: o.at,
  });
}

const batchBody = (events: readonly string[]): string => `{"events":[${events.join(',')}]}`;

/** Bodies of `perRequest` events: `total` events, as many whole bodies as fit. */
function bodiesOf(pool: EventPool, total: number, perRequest: number): string[] {
  const bodies: string[] = [];
  const n = Math.floor(total / perRequest);
  for (let i = 0; i < n; i++) bodies.push(batchBody(pool.take(perRequest)));
  return bodies;
}

let visitorSeq = 0;

interface HarvestFigures {
  readonly decisions: number;
  readonly seconds: number;
  readonly perSec: number;
  readonly failed: number;
}

/** Makes `count` decisions for new anonymous visitors (channel web) and adds their offers to the pool. */
async function harvest(server: Server, redis: RedisProcess, pool: EventPool, count: number) {
  const perConnection = Math.max(1, Math.ceil(count / CONNECTIONS));
  const bodies = Array.from({ length: perConnection * CONNECTIONS }, () =>
    JSON.stringify({ customerId: `visitor-${++visitorSeq}`, channel: 'web' }),
  );
  const offers: ShownOffer[] = [];
  let decisions = 0;
  let empty = 0;
  let failed = 0;
  const before = (await groupState(redis)).length;
  const outcome = await load(server.url, {
    route: DECISIONS_ROUTE,
    slices: deal(bodies, CONNECTIONS),
    duration: 3600,
    once: true,
    onBody: (text) => {
      let d: DecisionAnswer;
      try {
        d = JSON.parse(text) as DecisionAnswer;
      } catch {
        failed++;
        return;
      }
      if (typeof d.decisionId !== 'string' || typeof d.customerId !== 'string' || !d.decidedAt) {
        failed++;
        return;
      }
      decisions++;
      const shown = d.offers ?? [];
      if (shown.length === 0) empty++;
      for (const o of shown) {
        if (typeof o.offerId !== 'string') continue;
        offers.push({
          decisionId: d.decisionId,
          offerId: o.offerId,
          customerId: d.customerId,
          at: d.decidedAt,
        });
      }
    },
  });
  const r = outcome.result;
  failed += r.non2xx + r.errors + r.timeouts;
  // Every decision is appended to the log (without waiting for it): wait until all are there, so
  // that no event arrives before its decision.
  const deadline = performance.now() + 30_000;
  while ((await groupState(redis)).length - before < decisions) {
    if (performance.now() > deadline) throw new Error('decisions did not reach the feedback log in 30 s');
    await sleep(50);
  }
  pool.add(offers, decisions, empty);
  return {
    decisions,
    seconds: round(outcome.seconds, 2),
    perSec: Math.round(decisions / outcome.seconds),
    failed,
  } satisfies HarvestFigures;
}

/** Enough decisions for `events` more events than the pool holds now. */
async function ensureEvents(server: Server, redis: RedisProcess, pool: EventPool, events: number) {
  const figures: HarvestFigures[] = [];
  while (pool.remaining < events) {
    const perDecision = pool.decisions > 0 ? pool.offersPerDecision * TYPES.length : TYPES.length;
    if (pool.decisions > 1000 && perDecision === 0) throw new Error('the decisions show no offers');
    const missing = events - pool.remaining;
    const count = Math.max(2 * CONNECTIONS, Math.ceil((missing / Math.max(perDecision, 0.5)) * 1.03));
    say(`making ${count.toLocaleString('en-US')} decisions for ${missing.toLocaleString('en-US')} events…`);
    const h = await harvest(server, redis, pool, count);
    figures.push(h);
    if (h.failed > 0) throw new Error(`${h.failed} decision requests failed`);
  }
  return figures;
}

// ---------------------------------------------------------------------------------------------
// Tallies of what came back.

class Tally {
  responses = 0;
  accepted = 0;
  queued = 0;
  duplicates = 0;
  rejected = 0;
  malformed = 0;
  /** Statuses other than accepted, with their reasons (the first few). */
  readonly reasons = new Map<string, number>();

  /** Our receipts: `{"accepted":n,"queued":n,"duplicates":n,"rejected":n,"results":[…]}`. */
  forFeedback(): (body: string) => void {
    return (body) => {
      this.responses++;
      const m = /^\{"accepted":(\d+),"queued":(\d+),"duplicates":(\d+),"rejected":(\d+)/.exec(body);
      if (m === null) {
        this.malformed++;
        return;
      }
      this.accepted += Number(m[1]);
      this.queued += Number(m[2]);
      this.duplicates += Number(m[3]);
      this.rejected += Number(m[4]);
      if (m[2] !== '0' || m[3] !== '0' || m[4] !== '0') this.noteReasons(body);
    };
  }

  forHello(): (body: string) => void {
    return (body) => {
      this.responses++;
      if (!body.includes('"ok":true')) this.malformed++;
    };
  }

  private noteReasons(body: string): void {
    if (this.reasons.size >= 20) return;
    try {
      const receipt = JSON.parse(body) as { results?: { status?: string; reason?: string }[] };
      for (const r of receipt.results ?? []) {
        if (r.status === 'accepted') continue;
        const key = `${r.status}: ${r.reason ?? ''}`;
        this.reasons.set(key, (this.reasons.get(key) ?? 0) + 1);
      }
    } catch {
      this.malformed++;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Runs.

type Target = 'hello' | 'single' | 'hello-batch' | 'batch';

interface Meters {
  stop(): {
    cpu: ReturnType<ReturnType<typeof cpuMeter>['stop']>;
    redisCpu: ReturnType<ReturnType<typeof cpuMeter>['stop']>;
    all: ReturnType<ReturnType<typeof machineMeter>['stop']>;
  };
}

function startMeters(pid: number, redis: RedisProcess): Meters {
  const all = machineMeter();
  const cpu = cpuMeter(pid);
  const redisCpu = cpuMeter(redis.pid);
  return { stop: () => ({ cpu: cpu.stop(), redisCpu: redisCpu.stop(), all: all.stop() }) };
}

/** Machine busy % minus what the processes we know about used. */
function otherCpu(busyPct: number | null, ...known: (number | null)[]): number | null {
  if (busyPct === null || known.some((x) => x === null)) return null;
  return Math.max(0, Math.round(busyPct - (known as number[]).reduce((a, b) => a + b, 0)));
}

interface RunFigures {
  round: number | 'warm-up';
  target: Target;
  eventsPerRequest: number;
  /** First request to last response. */
  seconds: number;
  requests: number;
  reqPerSec: number;
  /** Accepted events per second (ours), from the receipts. */
  eventsPerSec: number | null;
  accepted: number;
  duplicates: number;
  rejected: number;
  queued: number;
  /**
   * Entries the run added to the log (XLEN): `accepted`, plus up to all the events of the requests
   * still unanswered when autocannon stopped (it closes their connections; the server records them).
   */
  appended: number | null;
  /** Requests sent and never answered: cut off at the end of the run. */
  unanswered: number;
  /** Every connection sent its whole slice before the duration was over. */
  exhausted: boolean;
  /** Under full load, with BENCH_CONNECTIONS connections: mostly queueing. */
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  malformed: number;
  /** Server CPU per accepted event during the run (hello: per request), in-process consumer included. */
  serverCpuUs: number | null;
  redisCpuUs: number | null;
  /** The same, until the consumer had processed everything the run appended. */
  serverCpuUsWithCatchUp: number | null;
  redisCpuUsWithCatchUp: number | null;
  /** The group's lag (entries not yet read) at the last response, and the largest seen in the run. */
  lagAtEnd: number | null;
  maxLag: number | null;
  pendingAtEnd: number | null;
  /** From the last response until lag and pending were 0; null: not within the timeout. */
  catchUpMs: number | null;
  serverCpuPct: number | null;
  redisCpuPct: number | null;
  loadgenCpuPct: number;
  otherCpuPct: number | null;
  /** Forks of Redis during the run (AOF rewrites), and how long the last one stalled Redis. */
  redisForks: number | null;
  redisForkMs: number | null;
}

interface Targets {
  readonly ours: Server;
  readonly hello: Server;
  readonly redis: RedisProcess;
  readonly pool: EventPool;
  /** Bodies for hello (cycled): the same shape and size as ours. */
  readonly helloSingle: readonly (readonly string[])[];
  readonly helloBatch: readonly (readonly string[])[];
}

/** Reasons of non-accepted events over all runs. */
const allReasons = new Map<string, number>();

async function measure(
  t: Targets,
  target: Target,
  roundNo: RunFigures['round'],
  duration: number,
  budgetEvents: number,
): Promise<RunFigures> {
  const ours = target === 'single' || target === 'batch';
  const perRequest = target === 'batch' || target === 'hello-batch' ? BATCH : 1;
  const server = ours ? t.ours : t.hello;
  const slices = ours
    ? deal(bodiesOf(t.pool, budgetEvents, perRequest), CONNECTIONS)
    : target === 'hello'
      ? t.helloSingle
      : t.helloBatch;
  const tally = new Tally();
  const times: number[] = [];
  const before = ours ? await groupState(t.redis) : null;
  const infoBefore = await redisInfo(t.redis);
  let meters = startMeters(server.pid, t.redis);
  const poll: { lag: ReturnType<typeof lagPoller> | null } = { lag: null };
  const outcome = await load(server.url, {
    route: ours ? FEEDBACK_ROUTE : HELLO_ROUTE,
    slices,
    duration,
    once: ours,
    onBody: ours ? tally.forFeedback() : tally.forHello(),
    times,
    onStart: () => {
      meters = startMeters(server.pid, t.redis);
      if (ours && CONSUMERS > 0) poll.lag = lagPoller(t.redis);
    },
  });
  const { cpu, redisCpu, all } = meters.stop();
  const infoAfter = await redisInfo(t.redis);
  let appended: number | null = null;
  let lag: LagFigures | null = null;
  let catchUpMs: number | null = null;
  let catchUpCpu: ReturnType<Meters['stop']> | null = null;
  if (ours) {
    appended = (await groupState(t.redis)).length - before!.length;
    const catchUpMeters = startMeters(server.pid, t.redis);
    const waited = await waitCaughtUp(t.redis);
    catchUpCpu = catchUpMeters.stop();
    // The poller ran on: its first sample with nothing left says when the consumer had caught up.
    lag = poll.lag?.stop(outcome.lastResponseAt) ?? null;
    if (waited !== null)
      catchUpMs = Math.max(0, Math.round((lag?.caughtUpAt ?? performance.now()) - outcome.lastResponseAt));
  }
  for (const [k, v] of tally.reasons) allReasons.set(k, (allReasons.get(k) ?? 0) + v);
  const r = outcome.result;
  const units = ours ? tally.accepted : tally.responses;
  const per = (ms: number | null) => (ms !== null && units > 0 ? round((ms * 1000) / units, 1) : null);
  const plus = (a: number | null, b: number | null | undefined) => (a === null || b == null ? null : a + b);
  const lat = latencySummary(times);
  const figures: RunFigures = {
    round: roundNo,
    target,
    eventsPerRequest: perRequest,
    seconds: round(outcome.seconds, 2),
    requests: tally.responses,
    reqPerSec: Math.round(tally.responses / outcome.seconds),
    eventsPerSec: ours ? Math.round(tally.accepted / outcome.seconds) : null,
    accepted: tally.accepted,
    duplicates: tally.duplicates,
    rejected: tally.rejected,
    queued: tally.queued,
    appended,
    unanswered: Math.max(0, r.requests.sent - tally.responses),
    exhausted: ours && outcome.seconds < duration - 0.5,
    p50Ms: lat.p50Ms,
    p99Ms: lat.p99Ms,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    malformed: tally.malformed,
    serverCpuUs: per(cpu.serverMs),
    redisCpuUs: per(redisCpu.serverMs),
    serverCpuUsWithCatchUp: ours ? per(plus(cpu.serverMs, catchUpCpu?.cpu.serverMs)) : null,
    redisCpuUsWithCatchUp: ours ? per(plus(redisCpu.serverMs, catchUpCpu?.redisCpu.serverMs)) : null,
    lagAtEnd: lag?.lagAtEnd ?? null,
    maxLag: lag?.maxLag ?? null,
    pendingAtEnd: lag?.pendingAtEnd ?? null,
    catchUpMs,
    serverCpuPct: cpu.serverPct,
    redisCpuPct: redisCpu.serverPct,
    loadgenCpuPct: cpu.loadgenPct,
    otherCpuPct: otherCpu(all.busyPct, cpu.serverPct, redisCpu.serverPct, cpu.loadgenPct),
    redisForks:
      infoAfter.total_forks !== undefined && infoBefore.total_forks !== undefined
        ? infoAfter.total_forks - infoBefore.total_forks
        : null,
    redisForkMs:
      infoAfter.total_forks !== infoBefore.total_forks && infoAfter.latest_fork_usec !== undefined
        ? round(infoAfter.latest_fork_usec / 1000, 1)
        : null,
  };
  if (figures.non2xx + figures.errors + figures.malformed + figures.queued + figures.rejected > 0) {
    say(
      `${target} round ${roundNo}: ${figures.non2xx} non-2xx, ${figures.errors} errors, ` +
        `${figures.malformed} malformed, ${figures.queued} queued, ${figures.rejected} rejected ` +
        `${JSON.stringify(r.statusCodeStats)}`,
    );
  }
  if (figures.exhausted) say(`${target} round ${roundNo}: used all ${budgetEvents} events early`);
  return figures;
}

interface LatencyFigures {
  target: 'single' | 'batch';
  eventsPerRequest: number;
  targetRate: number;
  achievedRate: number;
  connections: number;
  groups: number;
  durationS: number;
  rampUpS: number;
  responses: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  queued: number;
  malformed: number;
  serverCpuPct: number | null;
  redisCpuPct: number | null;
  loadgenCpuPct: number;
  /** The group's lag at the end of the run and the largest seen; ms until it had caught up after. */
  lagAtEnd: number | null;
  maxLag: number | null;
  catchUpMs: number | null;
}

/** A paced run at `rate` requests/s (see pacedRun in support.ts); latencies from the ramp-up's end. */
async function latencyRun(t: Targets, target: 'single' | 'batch', rate: number): Promise<LatencyFigures> {
  const perRequest = target === 'batch' ? BATCH : 1;
  const perConnection = Math.ceil(((rate * (RAMP_UP_S + LATENCY_DURATION)) / LATENCY_CONNECTIONS) * HEADROOM);
  const slices = deal(
    bodiesOf(t.pool, perConnection * LATENCY_CONNECTIONS * perRequest, perRequest),
    LATENCY_CONNECTIONS,
  );
  const requests: RequestSet = { route: FEEDBACK_ROUTE, headers: HEADERS, slices };
  const tally = new Tally();
  const times: number[] = [];
  const counted = performance.now() + RAMP_UP_S * 1000;
  let meters = startMeters(t.ours.pid, t.redis);
  const restart = setTimeout(() => {
    meters = startMeters(t.ours.pid, t.redis);
  }, RAMP_UP_S * 1000);
  const onBody = tally.forFeedback();
  const poller = CONSUMERS > 0 ? lagPoller(t.redis) : null;
  const results = await pacedRun(t.ours.url, requests, {
    duration: RAMP_UP_S + LATENCY_DURATION,
    connections: LATENCY_CONNECTIONS,
    rate,
    onResponse: (ms) => {
      if (performance.now() >= counted) times.push(ms);
    },
    verifyBody: (body) => {
      onBody(typeof body === 'string' ? body : (body?.toString('utf8') ?? ''));
      return true;
    },
  });
  const ended = performance.now();
  clearTimeout(restart);
  const { cpu, redisCpu } = meters.stop();
  for (const [k, v] of tally.reasons) allReasons.set(k, (allReasons.get(k) ?? 0) + v);
  const sum = (f: (r: autocannon.Result) => number) => results.reduce((acc, r) => acc + f(r), 0);
  const caughtUp = await waitCaughtUp(t.redis);
  const lag = poller?.stop(ended) ?? null;
  if (caughtUp === null) say(`${target} latency run: the consumer did not catch up`);
  return {
    target,
    eventsPerRequest: perRequest,
    targetRate: rate,
    achievedRate: Math.round(times.length / LATENCY_DURATION),
    connections: LATENCY_CONNECTIONS,
    groups: pacedGroups(LATENCY_CONNECTIONS, rate),
    durationS: LATENCY_DURATION,
    rampUpS: RAMP_UP_S,
    responses: times.length,
    ...latencySummary(times),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    accepted: tally.accepted,
    duplicates: tally.duplicates,
    rejected: tally.rejected,
    queued: tally.queued,
    malformed: tally.malformed,
    serverCpuPct: cpu.serverPct,
    redisCpuPct: redisCpu.serverPct,
    loadgenCpuPct: cpu.loadgenPct,
    lagAtEnd: lag?.lagAtEnd ?? null,
    maxLag: lag?.maxLag ?? null,
    catchUpMs:
      caughtUp === null || lag === null
        ? null
        : Math.max(0, Math.round((lag.caughtUpAt ?? performance.now()) - ended)),
  };
}

/** Hello's bodies: events of made-up decisions, the same shape and size as ours. */
function helloSlices(perRequest: number, perSlice: number): string[][] {
  const fake = (): ShownOffer => ({
    decisionId: randomUUID(),
    offerId: 'mobile-banking-activate-web',
    customerId: `visitor-${100_000 + Math.floor(Math.random() * 900_000)}`,
    at: new Date().toISOString(),
  });
  return Array.from({ length: CONNECTIONS }, () =>
    Array.from({ length: perSlice }, () =>
      batchBody(Array.from({ length: perRequest }, (_, i) => eventJson(fake(), TYPES[i % TYPES.length]!))),
    ),
  );
}

interface Readiness {
  readonly status?: string;
  readonly feedback?: { readonly mode?: string; readonly decisionsLost?: number };
}

async function readiness(server: Server): Promise<Readiness> {
  const res = await fetch(`${server.url}/health/ready`);
  return (await res.json()) as Readiness;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const spoolDir = await mkdtemp(path.join(tmpdir(), 'offerloop-bench-spool-'));
  // However the bench ends (the server is SIGKILLed with it): no spool directory left behind.
  process.once('exit', () => rmSync(spoolDir, { recursive: true, force: true }));
  say(`starting ${REDIS_SERVER} (appendonly yes, appendfsync everysec)…`);
  const redis = await startRedis({ args: REDIS_ARGS, binary: REDIS_SERVER });
  const aof = await redisCommand(redis.port, 'CONFIG', 'GET', 'appendonly');
  if (!aof.includes('yes')) throw new Error(`Redis runs without the AOF: ${JSON.stringify(aof)}`);

  say('starting offerloop…');
  const ours = await startServer(
    'feedback',
    SERVER_SCRIPT,
    {
      REDIS_URL: redis.url,
      REDIS_CLUSTER_NODES: '',
      REDIS_PREFIX: PREFIX,
      // One process, as hello is one: its CPU is what the meters read (workers: bench:workers).
      OFFERLOOP_WORKERS: '1',
      OFFERLOOP_RULES: RULES,
      OFFERLOOP_API_KEYS: `${API_KEY}=decide+feedback`,
      OFFERLOOP_WATCH_RULES: 'false',
      // 'offerloop ready' is an info line; no request is logged at info.
      OFFERLOOP_LOG_LEVEL: 'info',
      FEEDBACK_SPOOL_DIR: spoolDir,
      FEEDBACK_CONSUMERS: String(CONSUMERS),
      FEEDBACK_SHARDS: String(SHARDS),
    },
    'offerloop ready',
    { nodeArgs: CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : [] },
  );
  const hello = await startServer('hello', HELLO_SCRIPT, {}, 'hello ready');
  say(`offerloop ready in ${ours.spawnToReadyMs} ms, hello in ${hello.spawnToReadyMs} ms`);

  const pool = new EventPool();
  const t: Targets = {
    ours,
    hello,
    redis,
    pool,
    helloSingle: helloSlices(1, 256),
    helloBatch: helloSlices(BATCH, 16),
  };
  const infoStart = await redisInfo(redis);

  // Warm-up: as many events as the targets would take, to measure what the measured runs need.
  const warmupBudget = { single: TARGET_SINGLE_PER_SEC * WARMUP, batch: TARGET_EVENTS_PER_SEC * WARMUP };
  const harvests = await ensureEvents(ours, redis, pool, warmupBudget.single + warmupBudget.batch);
  say(
    `${pool.decisions} decisions, ${round(pool.offersPerDecision, 3)} offers each, ` +
      `${harvests.map((h) => `${h.perSec}/s`).join(', ')}; waiting for the consumer…`,
  );
  await waitCaughtUp(redis);
  say(`warm-up ${WARMUP} s each…`);
  const warmups: RunFigures[] = [];
  for (const target of ['hello', 'single', 'hello-batch', 'batch'] as const) {
    warmups.push(
      await measure(
        t,
        target,
        'warm-up',
        WARMUP,
        target === 'single' ? warmupBudget.single : warmupBudget.batch,
      ),
    );
  }
  // The warm-up's rate, but at least half the target: a cold server does less in the warm-up.
  const estimate = (target: 'single' | 'batch') =>
    Math.max(
      (target === 'single' ? TARGET_SINGLE_PER_SEC : TARGET_EVENTS_PER_SEC) / 2,
      warmups.find((w) => w.target === target)?.eventsPerSec ?? 0,
    );
  const perRun = {
    single: Math.ceil(estimate('single') * DURATION * HEADROOM),
    batch: Math.ceil((estimate('batch') * DURATION * HEADROOM) / BATCH) * BATCH,
  };
  const latencyNeed = Math.ceil(
    ((estimate('single') + estimate('batch')) / 2) * (RAMP_UP_S + LATENCY_DURATION) * HEADROOM * 1.2,
  );
  const need = ROUNDS * (perRun.single + perRun.batch) + latencyNeed;
  harvests.push(...(await ensureEvents(ours, redis, pool, need)));
  say(`${pool.decisions.toLocaleString('en-US')} decisions in all; waiting for the consumer…`);
  await waitCaughtUp(redis);

  const runs: RunFigures[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    for (const target of ['hello', 'single', 'hello-batch', 'batch'] as const) {
      say(`round ${r}/${ROUNDS} ${target} (${DURATION} s)…`);
      runs.push(await measure(t, target, r, DURATION, target === 'single' ? perRun.single : perRun.batch));
    }
  }
  const of = (target: Target) => runs.filter((x) => x.target === target);
  const medianOf = (target: Target, f: (x: RunFigures) => number | null): number | null => {
    const xs = of(target).map(f);
    return xs.length > 0 && xs.every((x) => x !== null) ? median(xs as number[]) : null;
  };
  const helloRps = medianOf('hello', (x) => x.reqPerSec)!;
  const helloBatchRps = medianOf('hello-batch', (x) => x.reqPerSec)!;
  const singleRps = medianOf('single', (x) => x.reqPerSec)!;
  const batchRps = medianOf('batch', (x) => x.reqPerSec)!;
  const batchEps = medianOf('batch', (x) => x.eventsPerSec)!;

  // Latency at half the maximum rate, more events than the pool may hold: make sure first.
  const latencyRates = {
    single: Math.max(1, Math.round(singleRps / 2)),
    batch: Math.max(1, Math.round(batchRps / 2)),
  };
  const latencyEvents =
    Math.ceil(
      (latencyRates.single + latencyRates.batch * BATCH) * (RAMP_UP_S + LATENCY_DURATION) * HEADROOM,
    ) +
    2 * LATENCY_CONNECTIONS * BATCH;
  if (pool.remaining < latencyEvents) {
    harvests.push(...(await ensureEvents(ours, redis, pool, latencyEvents)));
    await waitCaughtUp(redis);
  }
  say(`latency runs at ${latencyRates.single} single and ${latencyRates.batch} batch requests/s…`);
  const latency = {
    single: await latencyRun(t, 'single', latencyRates.single),
    batch: await latencyRun(t, 'batch', latencyRates.batch),
  };

  const finalCatchUpMs = await waitCaughtUp(redis);
  const finalState = await groupState(redis);
  const infoEnd = await redisInfo(redis);
  const ready = await readiness(ours);
  await Promise.all([stopServer(hello), stopServer(ours)]);
  await redis.stop();
  await rm(spoolDir, { recursive: true, force: true });

  // -------------------------------------------------------------------------------------------
  const problems: string[] = [];
  for (const x of [...warmups, ...runs]) {
    const where = `${x.target} round ${x.round}`;
    if (x.non2xx + x.errors + x.timeouts > 0)
      problems.push(`${where}: ${x.non2xx} non-2xx, ${x.errors} errors, ${x.timeouts} timeouts`);
    if (x.malformed > 0) problems.push(`${where}: ${x.malformed} answers not understood`);
    if (x.queued + x.rejected + x.duplicates > 0)
      problems.push(`${where}: ${x.queued} queued, ${x.rejected} rejected, ${x.duplicates} duplicates`);
    // Queued (spooled) events reach the log when the spool is replayed, maybe within the run.
    const most = x.accepted + x.queued + x.unanswered * x.eventsPerRequest;
    if (x.appended !== null && (x.appended < x.accepted || x.appended > most))
      problems.push(
        `${where}: ${x.accepted} accepted (${x.unanswered} requests unanswered) but the log grew by ${x.appended}`,
      );
    if (x.target === 'single' || x.target === 'batch') {
      if (x.catchUpMs === null)
        problems.push(`${where}: the consumer did not catch up in ${CATCH_UP_TIMEOUT_MS} ms`);
    }
  }
  for (const l of [latency.single, latency.batch]) {
    if (l.non2xx + l.errors + l.malformed > 0)
      problems.push(
        `${l.target} latency run: ${l.non2xx} non-2xx, ${l.errors} errors, ${l.malformed} malformed`,
      );
    if (l.queued + l.rejected + l.duplicates > 0)
      problems.push(
        `${l.target} latency run: ${l.queued} queued, ${l.rejected} rejected, ${l.duplicates} duplicates`,
      );
  }
  if (CONSUMERS > 0 && (finalCatchUpMs === null || finalState.lag !== 0 || finalState.pending !== 0))
    problems.push(`at the end the group has lag ${finalState.lag} and ${finalState.pending} pending`);
  if (ready.feedback?.mode !== 'direct' || (ready.feedback.decisionsLost ?? 0) > 0)
    problems.push(`at the end the feedback log says ${JSON.stringify(ready.feedback)}`);
  if (ours.errorLogs > 0) problems.push(`offerloop logged ${ours.errorLogs} error lines`);
  const exhausted = runs.filter((x) => x.exhausted).length;

  const cols = (x: RunFigures) => ({
    round: x.round,
    target: x.target,
    s: x.seconds,
    'req/s': x.reqPerSec,
    'events/s': x.eventsPerSec ?? '',
    accepted: x.target === 'single' || x.target === 'batch' ? x.accepted : '',
    'p50/p99 ms': `${x.p50Ms} / ${x.p99Ms}`,
    'srv µs': x.serverCpuUs,
    'srv µs+cu': x.serverCpuUsWithCatchUp ?? '',
    'redis µs': x.redisCpuUs,
    'redis µs+cu': x.redisCpuUsWithCatchUp ?? '',
    'lag end/max': x.lagAtEnd === null ? '' : `${x.lagAtEnd} / ${x.maxLag}`,
    'catch-up ms': x.catchUpMs ?? '',
    'srv/redis/gen/other %': `${x.serverCpuPct}/${x.redisCpuPct}/${x.loadgenCpuPct}/${x.otherCpuPct}`,
    forks: x.redisForks ? `${x.redisForks} (${x.redisForkMs} ms)` : x.redisForks,
  });
  console.table([...warmups, ...runs].map(cols));
  console.table(
    [latency.single, latency.batch].map((l) => ({
      target: l.target,
      'rate asked/got': `${l.targetRate}/${l.achievedRate}`,
      p50Ms: l.p50Ms,
      p90Ms: l.p90Ms,
      p99Ms: l.p99Ms,
      p999Ms: l.p999Ms,
      maxMs: l.maxMs,
      'srv/redis/gen %': `${l.serverCpuPct}/${l.redisCpuPct}/${l.loadgenCpuPct}`,
      'lag end/max': l.lagAtEnd === null ? '' : `${l.lagAtEnd} / ${l.maxLag}`,
      'catch-up ms': l.catchUpMs ?? '',
    })),
  );
  const m = (target: Target, f: (x: RunFigures) => number | null) => medianOf(target, f) ?? Number.NaN;
  /** The largest over the rounds; '–' when some round has none (no consumer, or it never caught up). */
  const maxOf = (target: Target, f: (x: RunFigures) => number | null): number | string => {
    const xs = of(target).map(f);
    return CONSUMERS > 0 && xs.every((x) => x !== null) ? Math.max(...(xs as number[])) : '–';
  };
  const decisionRates = harvests.map((h) => h.perSec);
  console.table({
    'hello req/s (median)': tableRow(Math.round(helloRps)),
    [`batch of ${BATCH}: events accepted/s (median)`]: tableRow(
      Math.round(batchEps),
      `≥ ${TARGET_EVENTS_PER_SEC}`,
      batchEps >= TARGET_EVENTS_PER_SEC,
    ),
    'single: req/s (median)': tableRow(
      Math.round(singleRps),
      `≥ ${TARGET_SINGLE_PER_SEC}`,
      singleRps >= TARGET_SINGLE_PER_SEC,
    ),
    'ratio batch events/s ÷ hello req/s': tableRow(round(batchEps / helloRps, 3), 'info'),
    'ratio single req/s ÷ hello req/s': tableRow(round(singleRps / helloRps, 3), 'info'),
    [`hello with the ${BATCH}-event body req/s (median)`]: tableRow(Math.round(helloBatchRps), 'info'),
    'ratio batch req/s ÷ hello (same body) req/s': tableRow(round(batchRps / helloBatchRps, 3), 'info'),
    'hello server CPU µs/req (median)': tableRow(m('hello', (x) => x.serverCpuUs)),
    'hello (batch body) server CPU µs/req (median)': tableRow(m('hello-batch', (x) => x.serverCpuUs)),
    'batch: server CPU µs/event, run / + catch-up': tableRow(
      `${m('batch', (x) => x.serverCpuUs)} / ${m('batch', (x) => x.serverCpuUsWithCatchUp)}`,
    ),
    'batch: Redis CPU µs/event, run / + catch-up': tableRow(
      `${m('batch', (x) => x.redisCpuUs)} / ${m('batch', (x) => x.redisCpuUsWithCatchUp)}`,
    ),
    'single: server CPU µs/event, run / + catch-up': tableRow(
      `${m('single', (x) => x.serverCpuUs)} / ${m('single', (x) => x.serverCpuUsWithCatchUp)}`,
    ),
    'single: Redis CPU µs/event, run / + catch-up': tableRow(
      `${m('single', (x) => x.redisCpuUs)} / ${m('single', (x) => x.redisCpuUsWithCatchUp)}`,
    ),
    [`batch latency p50 / p99 ms @ ${latency.batch.achievedRate} req/s`]: tableRow(
      `${latency.batch.p50Ms} / ${latency.batch.p99Ms}`,
    ),
    [`single latency p50 / p99 ms @ ${latency.single.achievedRate} req/s`]: tableRow(
      `${latency.single.p50Ms} / ${latency.single.p99Ms}`,
    ),
    'consumer: max lag at a run end (batch / single)': tableRow(
      `${maxOf('batch', (x) => x.lagAtEnd)} / ${maxOf('single', (x) => x.lagAtEnd)}`,
      CONSUMERS > 0 ? 'info' : 'no consumer',
    ),
    'consumer: max catch-up ms after a run (batch / single)': tableRow(
      `${maxOf('batch', (x) => x.catchUpMs)} / ${maxOf('single', (x) => x.catchUpMs)}`,
      'info',
    ),
    'consumer: lag / pending at the end': tableRow(
      CONSUMERS > 0 ? `${finalState.lag} / ${finalState.pending}` : '–',
      CONSUMERS > 0 ? '0 / 0' : 'no consumer',
      CONSUMERS > 0 ? finalState.lag === 0 && finalState.pending === 0 : undefined,
    ),
    'events queued in the spool (Redis too slow, > 1 s)': tableRow(
      [...warmups, ...runs, latency.single, latency.batch].reduce((a, x) => a + x.queued, 0),
      '0',
      [...warmups, ...runs, latency.single, latency.batch].every((x) => x.queued === 0),
    ),
    'server log lines at warn / error': tableRow(`${ours.warnLogs} / ${ours.errorLogs}`, 'info'),
    'decisions made (anonymous web visitors)': tableRow(pool.decisions),
    'offers per decision': tableRow(round(pool.offersPerDecision, 3)),
    'decisions/s while preparing': tableRow(`${Math.min(...decisionRates)}–${Math.max(...decisionRates)}`),
    'runs that used up their events early': tableRow(exhausted, '0', exhausted === 0),
  });

  const summary = {
    bench: 'feedback',
    ...machine(),
    config: {
      durationS: DURATION,
      rounds: ROUNDS,
      connections: CONNECTIONS,
      pipelining: 1,
      warmupS: WARMUP,
      batch: BATCH,
      headroom: HEADROOM,
      latencyConnections: LATENCY_CONNECTIONS,
      latencyDurationS: LATENCY_DURATION,
      consumers: CONSUMERS,
      shards: SHARDS,
      rules: path.relative(REPO_ROOT, RULES) || '.',
      redisArgs: REDIS_ARGS,
      eventTypes: TYPES,
      eventsPerRun: perRun,
    },
    decisions: {
      made: pool.decisions,
      empty: pool.emptyDecisions,
      offersPerDecision: round(pool.offersPerDecision, 3),
      harvests,
      unusedEvents: pool.remaining,
    },
    warmups,
    runs,
    latency,
    medians: {
      helloReqPerSec: Math.round(helloRps),
      helloBatchBodyReqPerSec: Math.round(helloBatchRps),
      singleReqPerSec: Math.round(singleRps),
      batchReqPerSec: Math.round(batchRps),
      batchEventsPerSec: Math.round(batchEps),
    },
    targets: {
      batchEventsPerSec: {
        value: Math.round(batchEps),
        target: TARGET_EVENTS_PER_SEC,
        pass: batchEps >= TARGET_EVENTS_PER_SEC,
      },
      singleReqPerSec: {
        value: Math.round(singleRps),
        target: TARGET_SINGLE_PER_SEC,
        pass: singleRps >= TARGET_SINGLE_PER_SEC,
      },
    },
    ratios: {
      batchEventsPerSecToHello: round(batchEps / helloRps, 3),
      singleToHello: round(singleRps / helloRps, 3),
      batchToHelloSameBody: round(batchRps / helloBatchRps, 3),
    },
    cpuUsPerEvent: {
      helloPerReq: medianOf('hello', (x) => x.serverCpuUs),
      helloBatchBodyPerReq: medianOf('hello-batch', (x) => x.serverCpuUs),
      batchServer: medianOf('batch', (x) => x.serverCpuUs),
      batchServerWithCatchUp: medianOf('batch', (x) => x.serverCpuUsWithCatchUp),
      batchRedis: medianOf('batch', (x) => x.redisCpuUs),
      batchRedisWithCatchUp: medianOf('batch', (x) => x.redisCpuUsWithCatchUp),
      singleServer: medianOf('single', (x) => x.serverCpuUs),
      singleServerWithCatchUp: medianOf('single', (x) => x.serverCpuUsWithCatchUp),
      singleRedis: medianOf('single', (x) => x.redisCpuUs),
      singleRedisWithCatchUp: medianOf('single', (x) => x.redisCpuUsWithCatchUp),
    },
    consumer: { finalCatchUpMs, final: finalState },
    redis: { start: infoStart, end: infoEnd },
    reasons: Object.fromEntries(allReasons),
    serverWarnLogs: ours.warnLogs,
    serverErrorLogs: ours.errorLogs,
    ok: problems.length === 0,
    problems,
  };
  await publishResult('feedback', summary, problems);
  if (exhausted > 0) say(`${exhausted} runs used up their events early: raise BENCH_HEADROOM`);
}

runBench('feedback bench', main);
