import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ProfileRecord } from '../src/domain/profile.js';
import { decodeLogEntry, fieldsOf } from '../src/feedback/log-entry.js';
import { RedisConnection } from '../src/store/redis/redis-connection.js';
import { RedisKeys } from '../src/store/redis/redis-keys.js';
import { streamPages } from '../src/store/redis/stream-pages.js';
import { postDecision, testLog } from './helpers.js';
import {
  auth,
  eventually,
  loadRecords,
  type OfferloopNode,
  type RedisTarget,
  redisTarget,
  startNode,
} from './support/offerloop-node.js';
import { type RedisClusterProcess, startRedisCluster } from './support/redis.js';

// One server deciding and taking feedback on a Redis Cluster of 3 masters and 3 replicas while a
// master dies, hangs or gives slots away: no request fails, no acknowledged event is lost, and a
// master's trouble degrades about its own share of the decisions, not all of them. The nodes run
// with cluster-require-full-coverage off, as docs/operations.md asks: with it on (Redis' default)
// every node answers CLUSTERDOWN until the failover is over, and every decision is degraded.

const CUSTOMERS = 5000;

/** Offers without caps, budgets or contact limits: every decision shows one, and records it. */
const RULES = {
  'offers.yaml': `offers:
  - { id: gold-card, name: Gold card, campaign: cards, product: card-gold, channels: [web], value: 100, basePropensity: 0.02,
      creatives: { web: { headline: Go gold, image: /gold.png, link: /gold } } }
  - { id: travel-insurance, name: Travel insurance, campaign: cards, product: travel-ins, channels: [web], value: 40, basePropensity: 0.05,
      creatives: { web: { headline: Travel safe, image: /travel.png, link: /travel } } }
`,
  'campaigns.yaml': 'campaigns:\n  - { id: cards, name: Cards, objective: cross_sell }\n',
  'policies.yaml': 'contactPolicies:\n  - { channel: web, cost: 0.01 }\n',
  'segments.yaml': 'segments: []\n',
};
const SHARDS = 8;
/** Decisions in flight at once, each worker pausing between two: steady traffic (about 300/s at most), not a flood. */
const CONCURRENCY = 12;
const PAUSE_MS = 40;

const records: ProfileRecord[] = Array.from({ length: CUSTOMERS }, (_, i) => ({
  id: `c-${i}`,
  attributes: { age: 40, clv: 500, tenureYears: 1 },
  consent: { web: true, call_center: true },
  holdings: [],
  affinities: [
    { product: 'card-gold', score: 0.9 },
    { product: 'travel-ins', score: 0.3 },
  ],
}));

let cluster: RedisClusterProcess;
let target: RedisTarget;
let node: OfferloopNode;
let rulesDir: string;
/** The next customer to decide for, across the tests. */
let next = 0;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicas: 1, fullCoverage: false });
  target = redisTarget({ nodes: cluster.nodes });
  await loadRecords(target, records);
  rulesDir = await mkdtemp(path.join(tmpdir(), 'offerloop-cluster-rules-'));
  for (const [name, text] of Object.entries(RULES)) await writeFile(path.join(rulesDir, name), text);
  node = await startNode(target, {
    OFFERLOOP_RULES: rulesDir,
    FEEDBACK_SHARDS: String(SHARDS),
    REDIS_TIMEOUT_MS: '200',
  });
}, 90_000);
afterAll(async () => {
  await node?.close();
  await cluster?.stop();
  if (rulesDir) await rm(rulesDir, { recursive: true, force: true });
});

interface Answer {
  readonly at: number;
  readonly status: number;
  readonly degraded: boolean;
}

/** The traffic of the test running: stopped after it, however it ends, so the next starts clean. */
let running: { stop(): Promise<void> } | null = null;
afterEach(async () => {
  await running?.stop();
  running = null;
});

/** Steady traffic until stop(): decisions over every customer, a click for the first offer of each. */
function traffic() {
  const answers: Answer[] = [];
  const acknowledged = new Set<string>();
  const unexpected: string[] = [];
  let stopped = false;
  let seq = 0;
  const worker = async () => {
    while (!stopped) {
      const customerId = `c-${next++ % CUSTOMERS}`;
      const res = await postDecision(node.app, 'agent-key', { customerId, channel: 'web' });
      const body = res.statusCode === 200 ? (res.json() as Decision) : null;
      answers.push({ at: Date.now(), status: res.statusCode, degraded: body?.degraded === true });
      await sleep(PAUSE_MS);
      const offer = body?.offers[0];
      if (body === null || offer === undefined) continue;
      const eventId = `ev-${++seq}`;
      const sent = await node.app.inject({
        method: 'POST',
        url: '/v1/feedback',
        headers: auth('agent-key'),
        payload: {
          events: [
            { eventId, decisionId: body.decisionId, offerId: offer.offerId, customerId, type: 'click' },
          ],
        },
      });
      const status =
        sent.statusCode === 202 ? (sent.json().results[0].status as string) : `${sent.statusCode}`;
      if (status === 'accepted' || status === 'queued') acknowledged.add(eventId);
      else unexpected.push(`${eventId}: ${status}`);
    }
  };
  const workers = Array.from({ length: CONCURRENCY }, worker);
  running = {
    async stop() {
      stopped = true;
      await Promise.all(workers);
    },
  };
  return {
    answers,
    acknowledged,
    unexpected,
    async stop() {
      stopped = true;
      await Promise.all(workers);
    },
  };
}

interface Decision {
  readonly decisionId: string;
  readonly degraded?: boolean;
  readonly offers: { readonly offerId: string }[];
}

/** The answers between `from` and `to`: how many, how many failed, the share degraded. */
function window(answers: readonly Answer[], from: number, to: number) {
  const within = answers.filter((a) => a.at >= from && a.at < to);
  const failed = within.filter((a) => a.status !== 200).length;
  const degraded = within.filter((a) => a.degraded).length;
  return {
    answered: within.length,
    failed,
    degradedShare: within.length === 0 ? 0 : degraded / within.length,
  };
}

/** When decisions stopped being degraded for good: the answer after the last degraded one. */
function recoveredAt(answers: readonly Answer[], since: number): number {
  let last = since;
  for (const a of answers) if (a.at >= since && a.degraded) last = Math.max(last, a.at);
  return last;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Until the server writes feedback to Redis again and its spool is empty. */
async function spoolReplayed(): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const health = (await node.app.inject({ url: '/health/ready' })).json();
    const fb = health.feedback as { mode: string; spool: { segments: number; openLines?: number } };
    if (fb.mode === 'direct' && fb.spool.segments === 0) return;
    if (Date.now() > deadline) throw new Error(`spool not replayed: ${JSON.stringify(health)}`);
    await sleep(200);
  }
}

/** Event ids of every reaction in the feedback log, over all shards. */
async function eventIdsInLog(): Promise<Set<string>> {
  const redis = await RedisConnection.open({ ...target.config, timeoutMs: 5000 }, testLog);
  const keys = new RedisKeys(target.config.prefix);
  try {
    const ids = new Set<string>();
    for (let shard = 0; shard < SHARDS; shard++) {
      for await (const page of streamPages(redis, keys.feedbackLog(shard))) {
        for (const [, flat] of page) {
          const entry = decodeLogEntry(fieldsOf(flat));
          if (entry.kind === 'feedback') ids.add(entry.event.eventId);
        }
      }
    }
    return ids;
  } finally {
    redis.close();
  }
}

async function expectNothingLost(acknowledged: ReadonlySet<string>): Promise<void> {
  await spoolReplayed();
  const inLog = await eventIdsInLog();
  const missing = [...acknowledged].filter((id) => !inLog.has(id));
  expect({ acknowledged: acknowledged.size > 0, missing: missing.slice(0, 10) }).toEqual({
    acknowledged: true,
    missing: [],
  });
}

/**
 * Stops the traffic, prints what it met since the fault at `from`, and checks what every fault must
 * keep: no request failed, no acknowledged event lost. The window ends with the last degraded
 * decision (`recovery`: while the failover lasted) or when the traffic stopped (`end`).
 */
async function finish(
  load: ReturnType<typeof traffic>,
  what: string,
  from: number,
  until: 'recovery' | 'end',
) {
  const stoppedAt = Date.now();
  await load.stop();
  const recovered = recoveredAt(load.answers, from);
  const during = window(load.answers, from, until === 'end' ? stoppedAt : Math.max(recovered, from + 1));
  console.log(
    `[cluster-faults] ${what}: recovered after ${recovered - from} ms, ${during.answered} decisions ` +
      `meanwhile, ${(during.degradedShare * 100).toFixed(1)} % degraded, ${load.acknowledged.size} events acknowledged`,
  );
  expect(load.answers.filter((a) => a.status !== 200)).toEqual([]);
  expect(load.unexpected).toEqual([]);
  await expectNothingLost(load.acknowledged);
  return { ...during, recoveredAfterMs: recovered - from };
}

describe('a Redis Cluster of 3 masters and 3 replicas under steady decisions and feedback', () => {
  it('loses a master (SIGKILL): its share degraded while its replica takes over, nothing failed or lost', async () => {
    const load = traffic();
    await sleep(1000);
    const killedAt = Date.now();
    const killed = await cluster.killMaster(0);
    // Until the replica takes over, readiness names the master lost, and the rest still serving.
    await eventually(async () => {
      const ready = (await node.app.inject({ url: '/health/ready' })).json();
      expect(ready).toMatchObject({ redis: 'partial', redisMastersDown: [`127.0.0.1:${killed.port}`] });
    }, 3000);
    const { ms } = await cluster.waitForFailover();
    await sleep(4000);
    const during = await finish(load, `master killed (failover ${ms} ms)`, killedAt, 'recovery');
    // The fault did reach the decisions of the master's customers, and only theirs.
    expect(during.degradedShare).toBeGreaterThan(0);
    expect(during.degradedShare).toBeLessThanOrEqual(0.5);
    expect(during.recoveredAfterMs).toBeLessThan(10_000);
  }, 90_000);

  it('has a master hung (SIGSTOP): its share degraded, the others served, nothing failed or lost', async () => {
    const load = traffic();
    await sleep(1000);
    const pausedAt = Date.now();
    const paused = await cluster.pauseMaster(1);
    await sleep(2500);
    await cluster.resumeMaster(paused);
    await sleep(3000);
    const during = await finish(load, 'master hung', pausedAt, 'recovery');
    expect(during.degradedShare).toBeGreaterThan(0);
    expect(during.degradedShare).toBeLessThanOrEqual(0.5);
  }, 90_000);

  it('moves slots with their keys (ASK, MOVED) under load: nothing fails or is lost, next to nothing degrades', async () => {
    const load = traffic();
    await sleep(500);
    const from = Date.now();
    await cluster.reshard({ slots: 1500, from: 0, to: 1 });
    await sleep(1000);
    const during = await finish(load, 'reshard of 1,500 slots', from, 'end');
    // A slot's keys move in a few ms, and a script caught between them is sent again (TRYAGAIN); a
    // decision whose reads wait behind a MIGRATE may still pass its deadline now and then.
    expect(during.degradedShare).toBeLessThan(0.01);
  }, 90_000);

  it('takes a new node into the cluster (slots moved to it) and a replica promoted by hand, under load: nothing fails or is lost', async () => {
    const load = traffic();
    await sleep(500);
    const from = Date.now();
    await cluster.addNode({ slots: 1000 });
    await cluster.failover(0);
    await sleep(1000);
    const during = await finish(load, 'node added, replica promoted', from, 'end');
    expect(during.degradedShare).toBeLessThan(0.01);
  }, 90_000);
});
