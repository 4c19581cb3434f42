// Feedback intake benchmark: POST /v1/feedback of our server on Redis (AOF on, fsync every second, as
// docker/redis.conf) with its in-process consumer running, against hello's POST route with bodies of
// the same shape and size, side by side in one run. Every event refers to a real decision: the bench
// first makes decisions for anonymous web visitors and sends each shown offer's impression, click,
// convert and accept once (a connection never repeats a body), so that every event is new and counts.
// Each round: hello with a one-event body, single events, hello with a 100-event body, batches of 100;
// after each of ours the bench waits until the consumer has processed everything (catch-up: the
// backlog left when the requests stopped, how long it took and at how many entries per second).
// Outcome intake runs beside them: purchases (no decision) by BENCH_CUSTOMERS demo customers loaded
// into Redis with offerloop load, of products the example rules offer, single and in batches of 100;
// each must be accepted (a known customer, a known product) and is compared with the reactions.
// Run: npm run bench:feedback. Targets: ≥ 50,000 events/s in batches of 100; ≥ 10,000 single-event
// requests/s; outcomes at least as fast as reactions. Knobs: BENCH_DURATION (6), BENCH_ROUNDS (3),
// BENCH_CONNECTIONS (50), BENCH_CUSTOMERS (100000). BENCH_CONSUMER=worker measures intake alone: the
// consumer is an `offerloop worker` of its own, paused (SIGSTOP) while requests run and woken for
// each catch-up, whose CPU is then the worker's and Redis'.
// Exits 1 when a request failed, an event was not accepted, the log did not grow by what was
// accepted, the consumer did not catch up, or the server logged an error.

import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Rng } from '../src/domain/random.js';
import { loadRuleset } from '../src/ruleset/load.js';
import { generatePopulation } from '../src/sim/population.js';
import { RedisKeys } from '../src/store/redis/redis-keys.js';
import { type RedisProcess, redisCommand, startRedis } from '../test/support/redis.js';
import {
  API_KEY,
  type Comparison,
  cpuMeters,
  fire,
  HEADERS,
  knob,
  median,
  noteLoggedErrors,
  publishResult,
  REDIS_CONF_ARGS,
  REPO_ROOT,
  type RequestSet,
  type RunFigures,
  ratios,
  round,
  runBench,
  runOfferloopLoad,
  type Server,
  say,
  sideBySide,
  startHello,
  startOfferloop,
  startOfferloopWorker,
  stopServer,
  type Target,
  tableRow,
} from './support.js';

const DURATION = knob('DURATION', 6);
const ROUNDS = Math.floor(knob('ROUNDS', 3));
const CONNECTIONS = Math.floor(knob('CONNECTIONS', 50));
const CUSTOMERS = Math.floor(knob('CUSTOMERS', 100_000));
const IN_WORKER = process.env.BENCH_CONSUMER === 'worker';
const BATCH = 100;
const TARGET_EVENTS_PER_SEC = 50_000;
const TARGET_SINGLE_PER_SEC = 10_000;
const LOG = new RedisKeys('offerloop').feedbackLog(0);
/** Every shown offer gets each of these once: all count. */
const TYPES = ['impression', 'click', 'convert', 'accept'] as const;
const label = 'feedback';

// ---------------------------------------------------------------------------------------------
// The log stream and its consumer group (ours is the only group).

const respInt = (reply: string) => Number(/^:(-?\d+)/.exec(reply)?.[1] ?? Number.NaN);
const logLength = async (redis: RedisProcess) => respInt(await redisCommand(redis.port, 'XLEN', LOG));

/** Entries the group has not acknowledged yet: not read (lag) and read but not acknowledged (pending). */
async function backlog(redis: RedisProcess): Promise<number | null> {
  const info = await redisCommand(redis.port, 'XINFO', 'GROUPS', LOG).catch(() => '');
  const lag = /\$3\r\nlag\r\n:(\d+)/.exec(info)?.[1];
  const pending = /\$7\r\npending\r\n:(\d+)/.exec(info)?.[1];
  return lag === undefined || pending === undefined ? null : Number(lag) + Number(pending);
}

/** Waits until the group has read and acknowledged everything; the ms it took, or null after 2 minutes. */
async function catchUp(redis: RedisProcess): Promise<number | null> {
  const started = performance.now();
  while (performance.now() - started < 120_000) {
    if ((await backlog(redis)) === 0) return Math.round(performance.now() - started);
    await sleep(50);
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Events: every offer shown by a decision × TYPES, shuffled, taken once.

interface Shown {
  readonly decisionId: string;
  readonly offerId: string;
  readonly customerId: string;
  readonly at: string;
}

const eventJson = (o: Shown, type: (typeof TYPES)[number]) =>
  JSON.stringify({
    eventId: randomUUID(),
    decisionId: o.decisionId,
    offerId: o.offerId,
    customerId: o.customerId,
    type,
    ...(type === 'convert' ? { value: 49.9 } : {}),
    timestamp: o.at,
  });

const body = (events: readonly string[]) => `{"events":[${events.join(',')}]}`;

class EventPool {
  private events: string[] = [];
  private readonly rng = new Rng('42', 'feedback-bench');
  decisions = 0;
  offers = 0;
  failedDecisions = 0;

  add(shown: readonly Shown[], decisions: number): void {
    const fresh = shown.flatMap((o) => TYPES.map((t) => eventJson(o, t)));
    this.events = this.events.concat(this.rng.shuffle(fresh));
    this.decisions += decisions;
    this.offers += shown.length;
  }

  get size(): number {
    return this.events.length;
  }

  /** `n` events as bodies of `per` events, dealt into one slice per connection. */
  take(n: number, per: number): string[][] {
    const perSlice = Math.max(1, Math.floor(Math.min(n, this.events.length) / per / CONNECTIONS));
    return Array.from({ length: CONNECTIONS }, () =>
      Array.from({ length: perSlice }, () => body(this.events.splice(0, per))),
    );
  }
}

/** Makes decisions for new anonymous visitors (channel web) until the pool holds `need` events. */
async function harvest(ours: Server, redis: RedisProcess, pool: EventPool, need: number): Promise<void> {
  let visitor = 0;
  while (pool.size < need) {
    const perEvent = pool.decisions > 0 ? (pool.offers / pool.decisions) * TYPES.length : 0;
    const count = perEvent > 0 ? Math.ceil(((need - pool.size) / perEvent) * 1.05) : 20 * CONNECTIONS;
    say(label, `making ${count} decisions for events…`);
    const perConnection = Math.ceil(count / CONNECTIONS);
    const slices = Array.from({ length: CONNECTIONS }, () =>
      Array.from({ length: perConnection }, () =>
        JSON.stringify({ customerId: `visitor-${++visitor}`, channel: 'web' }),
      ),
    );
    const shown: Shown[] = [];
    let decisions = 0;
    const before = await logLength(redis);
    const requests: RequestSet = { route: '/v1/decisions', headers: HEADERS, slices };
    const r = await fire(ours.url, requests, {
      duration: 3600,
      connections: CONNECTIONS,
      once: true,
      verifyBody: (text) => {
        const d = JSON.parse(text) as {
          decisionId: string;
          customerId: string;
          decidedAt: string;
          offers?: { offerId: string }[];
        };
        // Not a decision (shed or failed under load): it makes no events.
        if (!Array.isArray(d.offers)) return false;
        decisions++;
        for (const o of d.offers)
          shown.push({
            decisionId: d.decisionId,
            offerId: o.offerId,
            customerId: d.customerId,
            at: d.decidedAt,
          });
        return true;
      },
    });
    // Preparation, not measurement: decisions that failed are counted, the others make the events.
    pool.failedDecisions += r.errors + r.timeouts + Math.max(r.non2xx, r.mismatches);
    // Decisions reach the log asynchronously: no event may arrive before its decision.
    while ((await logLength(redis)) - before < decisions) await sleep(50);
    pool.add(shown, decisions);
  }
}

// ---------------------------------------------------------------------------------------------
// Outcomes: purchases by the demo population (in Redis) of the products the example rules offer.

/** The demo's own population (seed 42, 20 affinities) over `products`, as NDJSON in `file`. */
async function writePopulation(file: string, products: readonly string[]): Promise<void> {
  const out = createWriteStream(file);
  for (const record of generatePopulation(CUSTOMERS, products, { seed: 42, affinities: 20 })) {
    if (!out.write(`${JSON.stringify(record)}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Fresh purchases (new event ids) by random customers cust-1…cust-N of random products, seeded. */
class OutcomePool {
  private readonly rng = new Rng('42', 'feedback-bench-outcomes');
  constructor(private readonly products: readonly string[]) {}

  private event(at: string): string {
    return JSON.stringify({
      eventId: randomUUID(),
      customerId: `cust-${this.rng.int(1, CUSTOMERS)}`,
      type: 'purchase',
      productId: this.rng.pick(this.products),
      value: 49.9,
      timestamp: at,
      source: 'order-system',
    });
  }

  /** `n` events as bodies of `per` events, one slice per connection (as EventPool.take). */
  take(n: number, per: number): string[][] {
    const at = new Date().toISOString();
    const perSlice = Math.max(1, Math.floor(n / per / CONNECTIONS));
    return Array.from({ length: CONNECTIONS }, () =>
      Array.from({ length: perSlice }, () => body(Array.from({ length: per }, () => this.event(at)))),
    );
  }
}

// ---------------------------------------------------------------------------------------------

/** Counts our receipts `{"accepted":n,"queued":n,"duplicates":n,"rejected":n,…}`; anything but accepted fails. */
function receipts() {
  const tally = { accepted: 0, queued: 0, duplicates: 0, rejected: 0, malformed: 0 };
  const verify = (text: string) => {
    const m = /^\{"accepted":(\d+),"queued":(\d+),"duplicates":(\d+),"rejected":(\d+)/.exec(text);
    if (m === null) return ++tally.malformed < 0;
    tally.accepted += Number(m[1]);
    tally.queued += Number(m[2]);
    tally.duplicates += Number(m[3]);
    tally.rejected += Number(m[4]);
    return m[2] === '0' && m[3] === '0' && m[4] === '0';
  };
  return { tally, verify };
}

/**
 * Outcomes against reactions of the same size: req/s of `outcome` ÷ `reaction` in each round (the
 * median), and the server + Redis CPU µs per event of each, while taken in and in the catch-up.
 */
function outcomeAgainstReaction(c: Comparison, outcome: string, reaction: string, per: number) {
  const ratiosByRound = c.runs
    .filter((r) => r.target === outcome)
    .map((o) => {
      const r = c.runs.find((x) => x.target === reaction && x.round === o.round)!;
      return o.reqPerSec / r.reqPerSec;
    });
  const cpu = (t: string) => round((c.median(t, 'cpuUsPerReq') + c.median(t, 'helperCpuUsPerReq')) / per, 1);
  const catchUpCpu = (t: string) => round(c.median(t, 'catchUpCpuUsPerReq') / per, 1);
  return {
    ratio: round(median(ratiosByRound), 3),
    cpu: `${cpu(reaction)} / ${cpu(outcome)}`,
    catchUpCpu: `${catchUpCpu(reaction)} / ${catchUpCpu(outcome)}`,
  };
}

async function main(): Promise<void> {
  const spoolDir = await mkdtemp(path.join(tmpdir(), 'offerloop-bench-spool-'));
  const rulesDir = path.join(REPO_ROOT, 'rules');
  const products = [...new Set((await loadRuleset(rulesDir)).offers.map((o) => o.productId))].sort();
  const population = path.join(spoolDir, 'population.ndjson');
  say(label, `writing ${CUSTOMERS} demo customers over ${products.length} products…`);
  await writePopulation(population, products);
  const redis = await startRedis({ args: REDIS_CONF_ARGS });
  say(label, 'loading them with offerloop load…');
  const loaded = await runOfferloopLoad(redis.url, population, '2s');
  if (loaded.exitCode !== 0 || loaded.result === null)
    throw new Error(`offerloop load failed (exit ${loaded.exitCode}):\n${loaded.tail.join('\n')}`);
  const ours = await startOfferloop({
    REDIS_URL: redis.url,
    REDIS_CLUSTER_NODES: '',
    REDIS_PREFIX: 'offerloop',
    // One process, as hello is one: its CPU is what the meters read.
    OFFERLOOP_WORKERS: '1',
    OFFERLOOP_RULES: rulesDir,
    OFFERLOOP_API_KEYS: `${API_KEY}=decide+feedback`,
    FEEDBACK_SPOOL_DIR: spoolDir,
    FEEDBACK_CONSUMERS: IN_WORKER ? '0' : '1',
  });
  const worker = IN_WORKER
    ? await startOfferloopWorker({
        REDIS_URL: redis.url,
        REDIS_CLUSTER_NODES: '',
        REDIS_PREFIX: 'offerloop',
        OFFERLOOP_RULES: rulesDir,
        // The configuration the servers share requires keys; the worker serves no requests.
        OFFERLOOP_API_KEYS: `${API_KEY}=feedback`,
      })
    : null;
  const hello = await startHello();

  // Events per run: what the target rate would take; a faster server ends the run early (its rate
  // is counted to the last answer), a slower one leaves some unused.
  const budget = { single: TARGET_SINGLE_PER_SEC * DURATION, batch: TARGET_EVENTS_PER_SEC * DURATION };
  const pool = new EventPool();
  const outcomes = new OutcomePool(products);
  await harvest(ours, redis, pool, (ROUNDS + 1) * (budget.single + budget.batch));
  say(
    label,
    `${pool.decisions} decisions, ${round(pool.offers / pool.decisions, 2)} offers each; waiting for the consumer…`,
  );
  await catchUp(redis);
  // From here the worker runs only while the bench waits for its catch-up.
  worker?.proc.kill('SIGSTOP');
  const logBefore = await logLength(redis);

  const checks = receipts();
  const fake = (): Shown => ({
    decisionId: randomUUID(),
    offerId: 'mobile-banking-activate-web',
    customerId: 'visitor-0',
    at: new Date().toISOString(),
  });
  const helloSlices = (per: number) =>
    Array.from({ length: CONNECTIONS }, () =>
      Array.from({ length: 16 }, () =>
        body(Array.from({ length: per }, (_, i) => eventJson(fake(), TYPES[i % 4]!))),
      ),
    );
  const helloRequests = (per: number): RequestSet => ({
    route: '/v1/decisions',
    headers: HEADERS,
    slices: helloSlices(per),
  });
  const single = helloRequests(1);
  const batch = helloRequests(BATCH);
  /**
   * After each of ours: the consumer's backlog when the requests stop (entries not acknowledged
   * yet), its catch-up (how long, and at how many entries per second), and what the server and Redis
   * spent on it per request.
   */
  const afterRun = async (run: RunFigures) => {
    const backlogAtEnd = await backlog(redis);
    const meters = cpuMeters([worker?.pid ?? ours.pid, redis.pid]);
    worker?.proc.kill('SIGCONT');
    const catchUpMs = await catchUp(redis);
    worker?.proc.kill('SIGSTOP');
    const cpu = meters.stop();
    return {
      backlogAtEnd,
      catchUpMs,
      catchUpEntriesPerSec:
        backlogAtEnd !== null && catchUpMs !== null && catchUpMs > 0
          ? Math.round(backlogAtEnd / (catchUpMs / 1000))
          : null,
      catchUpCpuUsPerReq: round(((cpu.ms[0]! + cpu.ms[1]!) * 1000) / run.responses, 1),
    };
  };
  const oursTarget = (name: string, per: number, events: number): Target => ({
    name,
    server: ours,
    helpers: [redis],
    requests: () => ({ route: '/v1/feedback', headers: HEADERS, slices: pool.take(events, per) }),
    verifyBody: checks.verify,
    once: true,
    afterRun,
  });
  const outcomeTarget = (name: string, per: number, events: number): Target => ({
    ...oursTarget(name, per, events),
    requests: () => ({ route: '/v1/feedback', headers: HEADERS, slices: outcomes.take(events, per) }),
  });
  const c = await sideBySide(
    label,
    [
      { name: 'hello', server: hello, requests: () => single },
      oursTarget('single', 1, budget.single),
      outcomeTarget('outcome', 1, budget.single),
      { name: 'hello-batch', server: hello, requests: () => batch },
      oursTarget('batch', BATCH, budget.batch),
      outcomeTarget('outcome-batch', BATCH, budget.batch),
    ],
    { rounds: ROUNDS, duration: DURATION, warmup: Math.min(3, DURATION), connections: CONNECTIONS },
  );
  const logGrowth = (await logLength(redis)) - logBefore;
  const ready = (await (await fetch(`${ours.url}/health/ready`)).json()) as {
    feedback?: { mode?: string; decisionsLost?: number };
  };
  worker?.proc.kill('SIGCONT');
  await Promise.all([stopServer(hello), stopServer(ours), ...(worker === null ? [] : [stopServer(worker)])]);
  await redis.stop();
  await rm(spoolDir, { recursive: true, force: true });

  const singleRatios = ratios(c, 'single');
  const batchRatios = ratios(c, 'batch', 'hello-batch');
  const outcomeRatios = ratios(c, 'outcome');
  const outcomeBatchRatios = ratios(c, 'outcome-batch', 'hello-batch');
  const eventsPerSec = Math.round(c.median('batch', 'reqPerSec') * BATCH);
  const singlePerSec = singleRatios.reqPerSec.single!;
  const outcomeEventsPerSec = Math.round(c.median('outcome-batch', 'reqPerSec') * BATCH);
  const outcomePerSec = outcomeRatios.reqPerSec.outcome!;
  const vs = {
    single: outcomeAgainstReaction(c, 'outcome', 'single', 1),
    batch: outcomeAgainstReaction(c, 'outcome-batch', 'batch', BATCH),
  };
  console.table({
    'batch events/s': tableRow(
      eventsPerSec,
      `≥ ${TARGET_EVENTS_PER_SEC}`,
      eventsPerSec >= TARGET_EVENTS_PER_SEC,
    ),
    'single-event req/s': tableRow(
      singlePerSec,
      `≥ ${TARGET_SINGLE_PER_SEC}`,
      singlePerSec >= TARGET_SINGLE_PER_SEC,
    ),
    'ratio batch events/s ÷ hello req/s': tableRow(
      round(eventsPerSec / singleRatios.reqPerSec.hello!, 3),
      'info',
    ),
    'ratio single ÷ hello req/s (CPU ratio)': tableRow(
      `${singleRatios.ratio} (${singleRatios.cpuRatio})`,
      'info',
    ),
    'ratio batch ÷ hello-batch req/s (CPU ratio)': tableRow(
      `${batchRatios.ratio} (${batchRatios.cpuRatio})`,
      'info',
    ),
    'server + Redis CPU µs/event, batch': tableRow(
      `${round(batchRatios.cpuUsPerReq.batch! / BATCH, 1)} + ${round(batchRatios.cpuUsPerReq.batchHelpers! / BATCH, 1)}`,
    ),
    'catch-up after batch runs, ms (median)': tableRow(c.median('batch', 'catchUpMs')),
    'consumer backlog when batch runs end, entries (median)': tableRow(c.median('batch', 'backlogAtEnd')),
    'consumer catch-up after batch runs, entries/s (median)': tableRow(
      c.median('batch', 'catchUpEntriesPerSec'),
    ),
    'outcome batch events/s': tableRow(outcomeEventsPerSec, 'info'),
    'outcome single-event req/s': tableRow(outcomePerSec, 'info'),
    'ratio outcome ÷ hello req/s (CPU ratio)': tableRow(
      `${outcomeRatios.ratio} (${outcomeRatios.cpuRatio})`,
      'info',
    ),
    'ratio outcome-batch ÷ hello-batch req/s (CPU ratio)': tableRow(
      `${outcomeBatchRatios.ratio} (${outcomeBatchRatios.cpuRatio})`,
      'info',
    ),
    'outcome ÷ reaction req/s, single (per round)': tableRow(vs.single.ratio, '≥ 1', vs.single.ratio >= 1),
    'outcome ÷ reaction req/s, batch (per round)': tableRow(vs.batch.ratio, '≥ 1', vs.batch.ratio >= 1),
    'server + Redis CPU µs/event, single: reaction / outcome': tableRow(vs.single.cpu),
    'server + Redis CPU µs/event, batch: reaction / outcome': tableRow(vs.batch.cpu),
    'catch-up CPU µs/event, batch: reaction / outcome': tableRow(vs.batch.catchUpCpu),
    'catch-up after outcome batch runs, ms (median)': tableRow(c.median('outcome-batch', 'catchUpMs')),
  });

  const problems: string[] = [];
  // ratios() counts the failures of every run, whatever its target: once is all.
  const failed = singleRatios.failed;
  if (failed > 0)
    problems.push(`${failed} requests failed or not all accepted: ${JSON.stringify(checks.tally)}`);
  if (logGrowth < checks.tally.accepted)
    problems.push(`${checks.tally.accepted} events accepted, the log grew by ${logGrowth}`);
  if (c.runs.some((r) => r.catchUpMs === null))
    problems.push('the consumer did not catch up within 2 minutes');
  if (ready.feedback?.mode !== 'direct' || (ready.feedback.decisionsLost ?? 0) > 0)
    problems.push(`at the end the feedback log says ${JSON.stringify(ready.feedback)}`);
  noteLoggedErrors(problems, ours);
  await publishResult(
    label,
    {
      config: {
        durationS: DURATION,
        rounds: ROUNDS,
        connections: CONNECTIONS,
        batch: BATCH,
        decisions: pool.decisions,
        failedDecisions: pool.failedDecisions,
      },
      eventsPerSec: {
        value: eventsPerSec,
        target: TARGET_EVENTS_PER_SEC,
        pass: eventsPerSec >= TARGET_EVENTS_PER_SEC,
      },
      singlePerSec: {
        value: singlePerSec,
        target: TARGET_SINGLE_PER_SEC,
        pass: singlePerSec >= TARGET_SINGLE_PER_SEC,
      },
      single: singleRatios,
      batch: batchRatios,
      outcomeEventsPerSec,
      outcomePerSec,
      outcome: outcomeRatios,
      outcomeBatch: outcomeBatchRatios,
      outcomeAgainstReaction: vs,
      receipts: checks.tally,
      logGrowth,
      runs: [...c.warmups, ...c.runs],
      problems,
    },
    problems,
  );
}

runBench(label, main);
