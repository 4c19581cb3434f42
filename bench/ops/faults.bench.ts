// Faults benchmark: a Redis Cluster of 3 masters and 3 replicas losing a node under a steady load.
// BENCH_CUSTOMERS customers loaded with `offerloop load --cluster`, one Offerloop server on
// REDIS_CLUSTER_NODES (FEEDBACK_SHARDS unset: the count the log records, 16 on a new cluster), and an
// open-loop load at a fixed rate (not closed-loop saturation): POST /v1/decisions for random
// customers, and POST /v1/feedback of one event each, reactions to the decisions answered (one
// reaction per shown offer, a second or more after it) and purchases (outcomes) by random customers.
// Phases in turn, each with BENCH_DURATION s of steady load before the fault and a recovery period
// after the cluster has settled again:
//   kill      the master of slot 0 SIGKILLed; its replica is promoted; afterwards the node restarts
//             (it rejoins as a replica)
//   hang      a master SIGSTOPped for 8 s (failed over meanwhile at the node timeout), then SIGCONT
//   reshard   a third of the slots moved with their keys (MIGRATE: ASK, then MOVED) under load
//   failover  a manual CLUSTER FAILOVER (replica and master swap)
// Per second: decisions sent, answered, degraded ("degraded":true), failed (non-2xx, socket error,
// no answer in 5 s), feedback events acknowledged (accepted or queued) and otherwise. At the end,
// once the server's spool has drained: acknowledged events lost (each acknowledged event id must be
// in the feedback log's streams, once: feedback-durability.int.test.ts's proof, over all shards of
// the cluster), and per phase the degraded share during the fault window (from the fault until the
// cluster has settled), the time to recover (from the fault to the first of 5 seconds in a row
// with degraded ≤ 1 % and nothing failed), and the faulted master's share of slots and of
// customers (those whose profile bucket or contact history is on it).
// Run: npm run bench:ops:faults. Targets: kill → degraded share ≤ 0.5 during the failover, failed
// 0, recovery < 10 s; reshard → failed 0; every phase → lost 0. Verdicts are information.
// Knobs: BENCH_CUSTOMERS (20000), BENCH_DURATION (s of steady load before each fault, 10);
// BENCH_DECISION_RATE (decisions/s, 300), BENCH_FEEDBACK_RATE (events/s, 100), BENCH_RECOVERY_S
// (s of load after the cluster settled, 20), BENCH_NODE_TIMEOUT_MS (cluster-node-timeout, 2000),
// BENCH_PHASES (comma-separated, default kill,hang,reshard,failover).
// Exits 1 only when the figures mean nothing: the cluster or the server did not come up, a phase's
// fault could not be made or did not settle, an acknowledged event is missing from the log (an
// answer was wrong), or the load generator fell behind its rate. Failed requests and the server's
// error lines are what a fault makes: figures, not failures of the bench.

import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import keySlot from 'cluster-key-slot';
import pino from 'pino';
import { CHANNELS } from '../../src/domain/channel.js';
import { Rng, round } from '../../src/domain/random.js';
import { recordedFeedbackShards } from '../../src/feedback/log/feedback-shards.js';
import { decodeLogEntry, fieldsOf } from '../../src/feedback/log-entry.js';
import { loadRuleset } from '../../src/ruleset/load.js';
import { RedisConnection } from '../../src/store/redis/redis-connection.js';
import { RedisKeys } from '../../src/store/redis/redis-keys.js';
import { streamPages } from '../../src/store/redis/stream-pages.js';
import { type ClusterNode, type RedisClusterProcess, startRedisCluster } from '../../test/support/redis.js';
import {
  API_KEY,
  generatedData,
  httpCall,
  knob,
  publishResult,
  REPO_ROOT,
  runBench,
  type Server,
  say,
  startOfferloop,
  stopServer,
  tableRow,
} from '../support.js';

type Phase = 'kill' | 'hang' | 'reshard' | 'failover';
const ALL_PHASES: readonly Phase[] = ['kill', 'hang', 'reshard', 'failover'];

const CUSTOMERS = Math.floor(knob('CUSTOMERS', 20_000));
const STEADY_S = knob('DURATION', 10);
const DECISION_RATE = knob('DECISION_RATE', 300);
const FEEDBACK_RATE = knob('FEEDBACK_RATE', 100);
const RECOVERY_S = knob('RECOVERY_S', 20);
const NODE_TIMEOUT_MS = Math.round(knob('NODE_TIMEOUT_MS', 2000));
const PHASES = phases(process.env.BENCH_PHASES);
const HANG_S = 8;
/** Seconds after a killed node restarted, before the next phase. */
const REJOIN_S = 5;
const WARMUP_MIN_S = 15;
const WARMUP_CLEAN_S = 5;
const WARMUP_MAX_S = 120;
/** A phase whose steady period had more degraded than this is marked disturbed (a busy machine). */
const DISTURBED_SHARE = 0.05;
const PREFIX = 'offerloop';
const REQUEST_TIMEOUT_MS = 5_000;
/** A reaction is sent at least this long after its decision, which is logged asynchronously. */
const REACTION_DELAY_MS = 1_000;
/** Share of feedback events that are reactions (when a shown offer is waiting), the rest outcomes. */
const REACTION_SHARE = 0.75;
/** A second counts as recovered when at most this share of its decisions is degraded, and none failed. */
const RECOVERED_SHARE = 0.01;
/** Recovered: this many clean seconds in a row. */
const RECOVERED_RUN_S = 5;
const TARGET_KILL_DEGRADED = 0.5;
const TARGET_RECOVERY_S = 10;
const label = 'faults';

/**
 * The commit the build came from, and the files of src/ changed since (a shared checkout builds
 * whatever is in it): which code the figures are about.
 */
function sourceState(): { head: string; srcChanged: string[] } {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  return {
    head: git('log', '-1', '--format=%h %s').slice(0, 120),
    srcChanged: git('status', '--short', '--', 'src')
      .split('\n')
      .filter((l) => l.trim() !== ''),
  };
}

function phases(raw: string | undefined): readonly Phase[] {
  if (raw === undefined || raw.trim() === '') return ALL_PHASES;
  const names = raw.split(',').map((s) => s.trim());
  for (const n of names) {
    if (!ALL_PHASES.includes(n as Phase)) throw new Error(`BENCH_PHASES: '${n}' is none of ${ALL_PHASES}`);
  }
  return names as Phase[];
}

// ---------------------------------------------------------------------------------------------
// The load: decisions and feedback at fixed rates, tallied per second of sending.

interface Second {
  decisions: number;
  answered: number;
  degraded: number;
  failed: number;
  feedback: number;
  acked: number;
  queued: number;
  /** Answered with another verdict (unknown_decision, duplicate, …), by verdict. */
  otherVerdicts: number;
  feedbackFailed: number;
  /** Response times (ms) of the decisions answered. */
  times: number[];
}

const emptySecond = (): Second => ({
  decisions: 0,
  answered: 0,
  degraded: 0,
  failed: 0,
  feedback: 0,
  acked: 0,
  queued: 0,
  otherVerdicts: 0,
  feedbackFailed: 0,
  times: [],
});

interface Shown {
  readonly decisionId: string;
  readonly offerId: string;
  readonly customerId: string;
  readonly answeredAt: number;
}

class Traffic {
  readonly seconds: Second[] = [];
  /** Event id → 'reaction' | 'outcome', for every event acknowledged (accepted or queued). */
  readonly acknowledged = new Map<string, 'reaction' | 'outcome'>();
  readonly verdicts = new Map<string, number>();
  readonly failures = new Map<string, number>();
  /** Ticks whose requests were sent more than 100 ms late: the load generator fell behind. */
  lateTicks = 0;
  /** The latest tick: past a second, a second's requests went out in one burst. */
  maxTickLateMs = 0;
  inFlight = 0;
  private readonly shown: Shown[] = [];
  private readonly rng = new Rng('42', 'faults-bench');
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private readonly base: URL;
  private t0 = 0;
  private decisionsSent = 0;
  private feedbackSent = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    url: string,
    private readonly products: readonly string[],
  ) {
    this.base = new URL(url);
  }

  /** Seconds since the load started (a float). */
  now(): number {
    return (performance.now() - this.t0) / 1000;
  }

  start(): void {
    this.t0 = performance.now();
    let lastTick = this.t0;
    this.timer = setInterval(() => {
      const now = performance.now();
      if (now - lastTick > 100) this.lateTicks++;
      this.maxTickLateMs = Math.max(this.maxTickLateMs, Math.round(now - lastTick - 10));
      lastTick = now;
      const elapsed = (now - this.t0) / 1000;
      while (this.decisionsSent < Math.floor(elapsed * DECISION_RATE)) this.track(this.decide());
      while (this.feedbackSent < Math.floor(elapsed * FEEDBACK_RATE)) this.track(this.feed());
    }, 10);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.pending);
    this.agent.destroy();
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private second(at: number): Second {
    const s = Math.floor(at);
    while (this.seconds.length <= s) this.seconds.push(emptySecond());
    return this.seconds[s]!;
  }

  private count(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  private async call(route: string, body: string) {
    this.inFlight++;
    try {
      return await httpCall(this.base, 'POST', route, {
        agent: this.agent,
        timeoutMs: REQUEST_TIMEOUT_MS,
        body,
      });
    } finally {
      this.inFlight--;
    }
  }

  private async decide(): Promise<void> {
    const s = this.second(this.now());
    this.decisionsSent++;
    s.decisions++;
    const body = JSON.stringify({
      customerId: `cust-${this.rng.int(1, CUSTOMERS)}`,
      channel: this.rng.pick(CHANNELS),
      limit: 3,
    });
    const sent = performance.now();
    try {
      const res = await this.call('/v1/decisions', body);
      if (res.status !== 200) {
        s.failed++;
        this.count(this.failures, `decision ${res.status} ${res.text.slice(0, 120)}`);
        return;
      }
      s.answered++;
      s.times.push(res.at - sent);
      const d = JSON.parse(res.text) as {
        decisionId: string;
        customerId: string;
        degraded: boolean;
        offers: { offerId: string }[];
      };
      if (d.degraded) s.degraded++;
      for (const o of d.offers) {
        this.shown.push({
          decisionId: d.decisionId,
          offerId: o.offerId,
          customerId: d.customerId,
          answeredAt: performance.now(),
        });
      }
      // Only the recent ones are reacted to; the pool stays small.
      if (this.shown.length > 20_000) this.shown.splice(0, this.shown.length - 10_000);
    } catch (err) {
      s.failed++;
      this.count(this.failures, `decision: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** A reaction to an offer shown a second or more ago, once per offer; else a purchase. */
  private nextEvent(): { kind: 'reaction' | 'outcome'; json: Record<string, unknown> } {
    const eventId = randomUUID();
    const first = this.shown[0];
    if (
      first !== undefined &&
      performance.now() - first.answeredAt >= REACTION_DELAY_MS &&
      this.rng.chance(REACTION_SHARE)
    ) {
      this.shown.shift();
      const type = this.rng.pick(['impression', 'click', 'accept'] as const);
      return {
        kind: 'reaction',
        json: {
          eventId,
          decisionId: first.decisionId,
          offerId: first.offerId,
          customerId: first.customerId,
          type,
          timestamp: new Date().toISOString(),
        },
      };
    }
    return {
      kind: 'outcome',
      json: {
        eventId,
        customerId: `cust-${this.rng.int(1, CUSTOMERS)}`,
        type: 'purchase',
        productId: this.rng.pick(this.products),
        value: 49.9,
        timestamp: new Date().toISOString(),
        source: 'faults-bench',
      },
    };
  }

  private async feed(): Promise<void> {
    const s = this.second(this.now());
    this.feedbackSent++;
    s.feedback++;
    const event = this.nextEvent();
    try {
      const res = await this.call('/v1/feedback', JSON.stringify({ events: [event.json] }));
      if (res.status !== 202) {
        s.feedbackFailed++;
        this.count(this.failures, `feedback ${res.status} ${res.text.slice(0, 120)}`);
        return;
      }
      const receipt = JSON.parse(res.text) as { results: { eventId: string; status: string }[] };
      const status = receipt.results[0]?.status ?? 'none';
      this.count(this.verdicts, `${event.kind} ${status}`);
      if (status === 'accepted' || status === 'queued') {
        s.acked++;
        if (status === 'queued') s.queued++;
        this.acknowledged.set(String(event.json.eventId), event.kind);
      } else s.otherVerdicts++;
    } catch (err) {
      s.feedbackFailed++;
      this.count(this.failures, `feedback: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// What the faulted master holds: its share of slots, and of customers whose decision touches it.

/** A connection of the bench's own to the cluster, for what it reads of Redis (not the server's). */
async function withCluster<T>(
  cluster: RedisClusterProcess,
  read: (redis: RedisConnection, keys: RedisKeys) => Promise<T>,
): Promise<T> {
  const config = { url: null, clusterNodes: cluster.nodes, prefix: PREFIX, timeoutMs: 5_000 };
  const redis = await RedisConnection.open(config, pino({ level: 'silent' }));
  try {
    return await read(redis, new RedisKeys(PREFIX));
  } finally {
    redis.close();
  }
}

/**
 * The slot of each customer's profile bucket, read from Redis (SCAN of the current version's
 * buckets on every master, HKEYS of each): whatever the placement of buckets, this is where it is.
 */
async function profileSlots(redis: RedisConnection, keys: RedisKeys): Promise<Map<string, number>> {
  const version = await redis.send<string>(keys.currentVersion(), ['GET', keys.currentVersion()]);
  const pattern = `${PREFIX}:pop:${version}:b:*`;
  const slots = new Map<string, number>();
  await redis.scan(pattern, async (found, send) => {
    for (const key of found) {
      for (const id of (await send(['HKEYS', key])) as string[]) slots.set(id, keySlot(key));
    }
  });
  return slots;
}

/** Where customers' profiles are (slot of each one's bucket), and the feedback log's shard count. */
interface Holdings {
  readonly profiles: ReadonlyMap<string, number>;
  readonly shards: number;
}

function shareOf(node: ClusterNode, { profiles, shards: count }: Holdings) {
  const keys = new RedisKeys(PREFIX);
  const onNode = (slot: number) => node.slots.some(([a, b]) => a <= slot && slot <= b);
  let customers = 0;
  let contacts = 0;
  for (let i = 1; i <= CUSTOMERS; i++) {
    const id = `cust-${i}`;
    const history = onNode(keySlot(keys.contacts(id)));
    const profile = profiles.get(id);
    if (history) contacts++;
    if (history || (profile !== undefined && onNode(profile))) customers++;
  }
  let shards = 0;
  for (let s = 0; s < count; s++) if (onNode(keySlot(keys.feedbackLog(s)))) shards++;
  return {
    slotShare: round(node.slotCount / 16_384, 3),
    /** Customers whose contact history is on the node (read by every decision of theirs). */
    contactsShare: round(contacts / CUSTOMERS, 3),
    /** Customers whose contact history or profile bucket is on it (a profile may be in the memory tier). */
    customerShare: round(customers / CUSTOMERS, 3),
    feedbackShards: `${shards}/${count}`,
  };
}

// ---------------------------------------------------------------------------------------------
// The phases.

interface PhaseRecord {
  readonly phase: Phase;
  readonly what: string;
  /** Seconds since the load started: the fault, and when the cluster had settled again. */
  readonly faultAt: number;
  readonly settledAt: number;
  /** The end of its recovery period, and of the rejoin of a killed node after it (else endAt). */
  readonly endAt: number;
  readonly rejoinEndAt: number;
  readonly node: string;
  readonly share: ReturnType<typeof shareOf> | null;
  readonly extra: Record<string, number | string>;
}

/**
 * Load until the server is warm: at least WARMUP_MIN_S, then until WARMUP_CLEAN_S seconds in a row
 * were clean (JIT, the memory tier filled, connections open), at most WARMUP_MAX_S.
 */
async function warmUp(traffic: Traffic): Promise<{ seconds: number; clean: boolean }> {
  const started = traffic.now();
  await sleep(WARMUP_MIN_S * 1000);
  for (;;) {
    const now = Math.floor(traffic.now());
    const last = traffic.seconds.slice(Math.max(0, now - WARMUP_CLEAN_S), now);
    const clean = last.length === WARMUP_CLEAN_S && last.every(isClean);
    if (clean || traffic.now() - started >= WARMUP_MAX_S) {
      return { seconds: Math.round(traffic.now() - started), clean };
    }
    await sleep(1000);
  }
}

async function runPhase(
  phase: Phase,
  cluster: RedisClusterProcess,
  traffic: Traffic,
  holdings: Holdings,
): Promise<PhaseRecord> {
  say(label, `${phase}: ${STEADY_S} s of steady load…`);
  await sleep(STEADY_S * 1000);
  const extra: Record<string, number | string> = {};
  let node: ClusterNode;
  let what: string;
  let faultAt: number;
  let afterRecovery: (() => Promise<void>) | null = null;
  switch (phase) {
    case 'kill': {
      node = (await cluster.masters())[0]!;
      what = `SIGKILL of master ${node.port}`;
      faultAt = traffic.now();
      const killed = await cluster.killMaster(0);
      const { promoted, ms } = await cluster.waitForFailover();
      extra.failoverMs = ms;
      extra.promoted = promoted.port;
      afterRecovery = async () => {
        say(label, `kill: restarting ${killed.port} (it rejoins as a replica)…`);
        const back = await cluster.restart(killed);
        extra.restartedAs = back.role;
      };
      break;
    }
    case 'hang': {
      node = (await cluster.masters())[1]!;
      what = `SIGSTOP of master ${node.port} for ${HANG_S} s, then SIGCONT`;
      faultAt = traffic.now();
      const paused = await cluster.pauseMaster(1);
      // Whether (and when) its replica took over while it hung; the wait ends with the pause.
      let failoverMs: number | null = null;
      void cluster.waitForFailover(paused).then(
        (r) => {
          failoverMs = r.ms;
        },
        () => {},
      );
      await sleep(HANG_S * 1000);
      extra.failedOverAfterMs = failoverMs ?? `not within ${HANG_S} s`;
      const back = await cluster.resumeMaster(paused);
      extra.resumedAs = back.role;
      break;
    }
    case 'reshard': {
      const masters = await cluster.masters();
      node = masters[0]!;
      const slots = Math.floor(16_384 / 3);
      what = `reshard of ${slots} slots from ${masters[0]!.port} to ${masters[1]!.port}`;
      faultAt = traffic.now();
      const started = performance.now();
      await cluster.reshard({ slots, from: 0, to: 1 });
      extra.reshardMs = Math.round(performance.now() - started);
      break;
    }
    case 'failover': {
      const masters = await cluster.masters();
      node = masters[masters.length - 1]!;
      const replicas = await cluster.replicas();
      const index = replicas.findIndex((r) => r.masterId === node.id);
      what = `CLUSTER FAILOVER of master ${node.port} to replica ${replicas[index]?.port}`;
      faultAt = traffic.now();
      const started = performance.now();
      await cluster.failover(index);
      extra.failoverMs = Math.round(performance.now() - started);
      break;
    }
  }
  const settledAt = traffic.now();
  extra.loadAvg1AtFault = round(loadavg()[0] ?? 0, 1);
  say(
    label,
    `${phase}: ${what}; settled after ${round(settledAt - faultAt, 1)} s; ${RECOVERY_S} s of recovery…`,
  );
  await sleep(RECOVERY_S * 1000);
  const endAt = traffic.now();
  if (afterRecovery) {
    // Not a fault of its own, but a disturbance (the node syncs from its master): it gets its own
    // seconds, outside this phase's figures and the next phase's steady period.
    await afterRecovery();
    await sleep(REJOIN_S * 1000);
  }
  return {
    phase,
    what,
    faultAt,
    settledAt,
    endAt,
    rejoinEndAt: traffic.now(),
    node: String(node.port),
    share: shareOf(node, holdings),
    extra,
  };
}

/** Figures of a phase from the per-second tallies. */
function summarise(p: PhaseRecord, seconds: readonly Second[]) {
  const sum = (from: number, to: number, f: (s: Second) => number) =>
    seconds.slice(Math.floor(from), Math.ceil(to)).reduce((n, s) => n + f(s), 0);
  const start = Math.max(0, p.faultAt - STEADY_S);
  const windowDecisions = sum(p.faultAt, p.settledAt, (s) => s.decisions);
  const windowDegraded = sum(p.faultAt, p.settledAt, (s) => s.degraded);
  const windowAnswered = sum(p.faultAt, p.settledAt, (s) => s.answered);
  // Recovered: the first second after the fault that starts RECOVERED_RUN_S clean seconds in a row
  // (one noisy second of a busy machine later on does not undo it).
  let recoveredAt: number | null = null;
  for (let t = Math.floor(p.faultAt); t + RECOVERED_RUN_S <= Math.ceil(p.endAt); t++) {
    if (seconds.slice(t, t + RECOVERED_RUN_S).every(isClean)) {
      recoveredAt = t;
      break;
    }
  }
  const recoveryS = recoveredAt === null ? null : round(Math.max(0, recoveredAt - p.faultAt), 1);
  const steadyAnswered = sum(start, p.faultAt, (s) => s.answered);
  const steadyDegradedShare = round(
    sum(start, p.faultAt, (s) => s.degraded) / Math.max(1, steadyAnswered),
    3,
  );
  return {
    phase: p.phase,
    node: p.node,
    faultWindowS: round(p.settledAt - p.faultAt, 1),
    /** The same share in the steady seconds before the fault: what a busy machine degrades anyway. */
    steadyDegradedShare,
    /** The steady period was not: the phase's figures say more about the machine than the fault. */
    disturbed: steadyDegradedShare > DISTURBED_SHARE,
    windowDecisions,
    degradedShareInWindow: round(windowDegraded / Math.max(1, windowAnswered), 3),
    degradedSharePeak: round(
      Math.max(
        0,
        ...seconds
          .slice(Math.floor(p.faultAt), Math.ceil(p.endAt))
          .map((s) => s.degraded / Math.max(1, s.answered)),
      ),
      3,
    ),
    failed: sum(start, p.endAt, (s) => s.failed),
    failedInWindow: sum(p.faultAt, p.settledAt, (s) => s.failed),
    feedbackFailed: sum(start, p.endAt, (s) => s.feedbackFailed),
    steadyP99Ms: p99(seconds.slice(Math.floor(start), Math.floor(p.faultAt))),
    windowP99Ms: p99(seconds.slice(Math.floor(p.faultAt), Math.ceil(p.settledAt))),
    feedbackQueued: sum(start, p.endAt, (s) => s.queued),
    recoveryS,
    slotShare: p.share?.slotShare ?? null,
    contactsShare: p.share?.contactsShare ?? null,
    customerShare: p.share?.customerShare ?? null,
    feedbackShardsOnNode: p.share?.feedbackShards ?? null,
    ...p.extra,
    ...(p.rejoinEndAt > p.endAt
      ? {
          rejoinFailed: sum(p.endAt, p.rejoinEndAt, (s) => s.failed),
          rejoinDegraded: sum(p.endAt, p.rejoinEndAt, (s) => s.degraded),
        }
      : {}),
  };
}

/** A second with at most RECOVERED_SHARE of its decisions degraded and none failed. */
function isClean(s: Second): boolean {
  return s.failed === 0 && s.degraded <= RECOVERED_SHARE * Math.max(1, s.answered);
}

function p99(seconds: readonly Second[]): number | null {
  const times = seconds.flatMap((s) => s.times).sort((a, b) => a - b);
  return times.length === 0
    ? null
    : round(times[Math.min(times.length - 1, Math.floor(times.length * 0.99))]!, 1);
}

// ---------------------------------------------------------------------------------------------
// The end: the spool drained, then every acknowledged event in the log, once.

async function health(server: Server) {
  const res = await fetch(`${server.url}/health/ready`);
  return (await res.json()) as {
    status?: string;
    feedback?: { mode: string; spool: { segments: number }; decisionsLost: number };
  };
}

async function drained(server: Server, spoolDir: string): Promise<{ ms: number; decisionsLost: number }> {
  const started = performance.now();
  let last: unknown = null;
  while (performance.now() - started < 120_000) {
    const h = await health(server).catch(() => null);
    last = h;
    const files = readdirSync(spoolDir).filter((n) => n.startsWith('seg-'));
    if (h?.feedback?.mode === 'direct' && h.feedback.spool.segments === 0 && files.length === 0) {
      return { ms: Math.round(performance.now() - started), decisionsLost: h.feedback.decisionsLost };
    }
    await sleep(200);
  }
  throw new Error(`the spool did not drain in 120 s; last health: ${JSON.stringify(last)}`);
}

/** Event ids of the feedback and outcome entries of every shard's stream, in order, and the decisions. */
async function loggedEventIds(
  redis: RedisConnection,
  keys: RedisKeys,
  shards: number,
): Promise<{ ids: string[]; decisions: number }> {
  const ids: string[] = [];
  let decisions = 0;
  for (let shard = 0; shard < shards; shard++) {
    for await (const page of streamPages(redis, keys.feedbackLog(shard))) {
      for (const [, flat] of page) {
        const entry = decodeLogEntry(fieldsOf(flat));
        if (entry.kind === 'decision') decisions++;
        else ids.push(entry.event.eventId);
      }
    }
  }
  return { ids, decisions };
}

function lossReport(traffic: Traffic, logged: readonly string[]) {
  const seen = new Map<string, number>();
  for (const id of logged) seen.set(id, (seen.get(id) ?? 0) + 1);
  const lost = [...traffic.acknowledged.keys()].filter((id) => !seen.has(id));
  const twice = [...seen.values()].filter((n) => n > 1).length;
  return {
    acknowledged: traffic.acknowledged.size,
    inLog: seen.size,
    lost: lost.length,
    lostReactions: lost.filter((id) => traffic.acknowledged.get(id) === 'reaction').length,
    lostOutcomes: lost.filter((id) => traffic.acknowledged.get(id) === 'outcome').length,
    firstLost: lost.slice(0, 5),
    inLogTwice: twice,
    inLogNotAcknowledged: [...seen.keys()].filter((id) => !traffic.acknowledged.has(id)).length,
  };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const source = sourceState();
  say(label, `source: ${source.head}; ${source.srcChanged.length} files of src/ changed since`);
  const data = await generatedData(label, 500, CUSTOMERS);
  const products = [...new Set((await loadRuleset(data.rules)).offers.map((o) => o.productId))].sort();
  say(label, `starting a cluster of 3 masters and 3 replicas (cluster-node-timeout ${NODE_TIMEOUT_MS} ms)…`);
  // As docs/decisions/0010-cluster-faults.md asks of operators: the healthy masters keep serving.
  const cluster = await startRedisCluster({
    replicas: 1,
    nodeTimeoutMs: NODE_TIMEOUT_MS,
    fullCoverage: false,
  });
  const spoolDir = await mkdtemp(path.join(tmpdir(), 'offerloop-faults-spool-'));
  const problems: string[] = [];
  try {
    say(label, `loading ${CUSTOMERS} customers into the cluster…`);
    const { runLoad } = await import('../../src/cli/load-command.js');
    const code = await runLoad(
      ['--cluster', cluster.nodes.join(','), '--prefix', PREFIX, '--grace', '0s', data.profiles],
      { stdout: { write: () => true }, stderr: process.stderr },
      {},
    );
    if (code !== 0) throw new Error(`offerloop load --cluster failed with exit code ${code}`);
    const profiles = await withCluster(cluster, profileSlots);
    if (profiles.size !== CUSTOMERS)
      throw new Error(`found ${profiles.size} profiles in Redis, not ${CUSTOMERS}`);
    const server = await startOfferloop({
      REDIS_CLUSTER_NODES: cluster.nodes.join(','),
      REDIS_PREFIX: PREFIX,
      OFFERLOOP_API_KEYS: `${API_KEY}=decide+feedback`,
      OFFERLOOP_RULES: data.rules,
      FEEDBACK_SPOOL_DIR: spoolDir,
      // Faults, not overload: on a small machine a sync or a reshard takes the CPU, and 503s for a
      // late event loop would hide what the cluster did (as feedback-durability.int.test.ts).
      OFFERLOOP_MAX_EVENT_LOOP_DELAY_MS: '0',
    });
    const holdings: Holdings = { profiles, shards: await withCluster(cluster, recordedFeedbackShards) };
    const traffic = new Traffic(server.url, products);
    say(
      label,
      `load: ${DECISION_RATE} decisions/s and ${FEEDBACK_RATE} feedback events/s; phases ${PHASES.join(', ')}`,
    );
    traffic.start();
    const records: PhaseRecord[] = [];
    let warmup = { seconds: 0, clean: false };
    let phaseError: Error | null = null;
    try {
      warmup = await warmUp(traffic);
      say(label, `warm-up: ${warmup.seconds} s, ${warmup.clean ? 'clean' : 'NOT clean'} at its end`);
      for (const phase of PHASES) records.push(await runPhase(phase, cluster, traffic, holdings));
    } catch (err) {
      phaseError = err instanceof Error ? err : new Error(String(err));
      problems.push(`a phase failed: ${phaseError.message.split('\n')[0]}`);
    } finally {
      await traffic.stop();
    }

    console.table(
      traffic.seconds.map((s, t) => ({
        t,
        phase: phaseAt(records, t),
        sent: s.decisions,
        answered: s.answered,
        degraded: s.degraded,
        failed: s.failed,
        feedback: s.feedback,
        acked: s.acked,
        queued: s.queued,
        otherVerdicts: s.otherVerdicts,
        feedbackFailed: s.feedbackFailed,
        p99Ms: p99([s]),
      })),
    );

    say(label, 'waiting for the spool to drain…');
    const drain = await drained(server, spoolDir);
    const logged = await withCluster(cluster, (redis, keys) => loggedEventIds(redis, keys, holdings.shards));
    const loss = lossReport(traffic, logged.ids);
    const serverLogs = { ...server.logs };
    await stopServer(server);

    const summaries = records.map((r) => summarise(r, traffic.seconds));
    console.table(summaries);
    const kill = summaries.find((s) => s.phase === 'kill');
    const reshard = summaries.find((s) => s.phase === 'reshard');
    const verdicts: Record<string, ReturnType<typeof tableRow>> = {};
    const note = (p: { disturbed: boolean; steadyDegradedShare: number }) =>
      p.disturbed ? ` (disturbed: ${p.steadyDegradedShare} degraded before the fault)` : '';
    if (kill) {
      verdicts[`kill: degraded share during the failover${note(kill)}`] = tableRow(
        kill.degradedShareInWindow,
        `≤ ${TARGET_KILL_DEGRADED}`,
        kill.degradedShareInWindow <= TARGET_KILL_DEGRADED,
      );
      verdicts['kill: failed decisions'] = tableRow(kill.failed, '0', kill.failed === 0);
      verdicts['kill: recovery s'] = tableRow(
        kill.recoveryS ?? 'never',
        `< ${TARGET_RECOVERY_S}`,
        kill.recoveryS !== null && kill.recoveryS < TARGET_RECOVERY_S,
      );
    }
    if (reshard)
      verdicts[`reshard: failed decisions${note(reshard)}`] = tableRow(
        reshard.failed,
        '0',
        reshard.failed === 0,
      );
    verdicts['acknowledged events lost'] = tableRow(loss.lost, '0', loss.lost === 0);
    console.table(verdicts);
    if (traffic.failures.size > 0) console.table(Object.fromEntries(traffic.failures));
    console.table(Object.fromEntries(traffic.verdicts));

    if (loss.lost > 0)
      problems.push(`${loss.lost} acknowledged events are not in the log: ${loss.firstLost}`);
    if (traffic.maxTickLateMs > 1000)
      problems.push(
        `the load generator fell behind: a tick ${traffic.maxTickLateMs} ms late (the per-second figures are off)`,
      );
    await publishResult(
      label,
      {
        source,
        config: {
          customers: CUSTOMERS,
          steadyS: STEADY_S,
          recoveryS: RECOVERY_S,
          decisionRate: DECISION_RATE,
          feedbackRate: FEEDBACK_RATE,
          nodeTimeoutMs: NODE_TIMEOUT_MS,
          feedbackShards: holdings.shards,
          phases: PHASES,
        },
        phases: summaries,
        verdicts: Object.fromEntries(
          Object.entries(verdicts).map(([k, v]) => [k, `${v.value} ${v.verdict}`]),
        ),
        loss,
        spoolDrainMs: drain.ms,
        decisionsLost: drain.decisionsLost,
        decisionEntries: logged.decisions,
        feedbackVerdicts: Object.fromEntries(traffic.verdicts),
        failures: Object.fromEntries(traffic.failures),
        warmup,
        lateTicks: traffic.lateTicks,
        maxTickLateMs: traffic.maxTickLateMs,
        serverLogs,
        perSecond: traffic.seconds.map(({ times, ...s }) => ({ ...s, p99Ms: p99([{ ...s, times }]) })),
        problems,
      },
      problems,
    );
  } finally {
    await cluster.stop();
    await rm(spoolDir, { recursive: true, force: true });
  }
}

/** Which phase (and part of it) second `t` belongs to, for the per-second table. */
function phaseAt(records: readonly PhaseRecord[], t: number): string {
  for (const r of records) {
    if (t >= Math.floor(r.faultAt - STEADY_S) && t < Math.floor(r.faultAt)) return `${r.phase} steady`;
    if (t >= Math.floor(r.faultAt) && t < Math.ceil(r.settledAt)) return `${r.phase} FAULT`;
    if (t >= Math.ceil(r.settledAt) && t < Math.ceil(r.endAt)) return `${r.phase} recovery`;
    if (t >= Math.ceil(r.endAt) && t < Math.ceil(r.rejoinEndAt)) return `${r.phase} rejoin`;
  }
  return '';
}

runBench(label, main);
