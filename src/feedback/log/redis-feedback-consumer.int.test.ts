import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testLog } from '../../../test/helpers.js';
import {
  type RedisClusterProcess,
  type RedisProcess,
  startRedis,
  startRedisCluster,
} from '../../../test/support/redis.js';
import type { ContactEvent } from '../../domain/contact.js';
import { DAY_MS } from '../../ruleset/time.js';
import type { ContactHistoryStore } from '../../store/contact-history-store.js';
import { RedisConnection, type RedisReply } from '../../store/redis/redis-connection.js';
import { RedisContactHistoryStore } from '../../store/redis/redis-contact-history-store.js';
import { RedisKeys } from '../../store/redis/redis-keys.js';
import type { Attribution, DecisionLogEntry, FeedbackEvent, FeedbackType } from '../feedback-event.js';
import { encodeAttribution } from '../log-entry.js';
import { type FeedbackConsumerOptions, RedisFeedbackConsumer } from './redis-feedback-consumer.js';

const DAY = 20_400;
const AT = DAY * DAY_MS + 3_600_000;
const STATS_TTL_MS = 400 * DAY_MS;

let server: RedisProcess;
let admin: RedisConnection;

beforeAll(async () => {
  server = await startRedis();
  admin = await RedisConnection.open(
    { url: server.url, clusterNodes: [], prefix: 'admin', timeoutMs: 5000 },
    testLog,
  );
});
afterAll(async () => {
  admin?.close();
  await server?.stop();
});

/** Everything one test needs: its own prefix, a connection, a contact history, the consumers it started. */
interface World {
  readonly keys: RedisKeys;
  readonly redis: RedisConnection;
  readonly history: RedisContactHistoryStore;
  start(
    options?: Partial<FeedbackConsumerOptions>,
    history?: ContactHistoryStore,
  ): Promise<RedisFeedbackConsumer>;
}
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** `where`: a node's URL, or a cluster's nodes. */
async function world(where: string | readonly string[] = server.url): Promise<World> {
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const nodes =
    typeof where === 'string' ? { url: where, clusterNodes: [] } : { url: null, clusterNodes: where };
  const redis = await RedisConnection.open({ ...nodes, prefix, timeoutMs: 1000 }, testLog);
  cleanups.push(() => redis.close());
  const keys = new RedisKeys(prefix);
  const history = new RedisContactHistoryStore(redis, keys, {
    maxEvents: 100,
    maxCacheBytes: 16 * 1024 * 1024,
    retention: () => ({ impressionsMs: 7 * DAY_MS, reactionsMs: 30 * DAY_MS }),
  });
  return {
    keys,
    redis,
    history,
    async start(options = {}, through: ContactHistoryStore = history) {
      const consumer = await RedisFeedbackConsumer.start(redis, keys, through, testLog, {
        shards: 1,
        name: `c-${randomUUID().slice(0, 6)}`,
        idleMs: 5,
        statsTtlMs: STATS_TTL_MS,
        retentionMs: 3_600_000,
        ...options,
      });
      cleanups.push(() => consumer.close());
      return consumer;
    },
  };
}

const offer = (offerId: string, segmentId: string | null) => ({
  offerId,
  campaignId: 'cards',
  segmentId,
  score: 1,
  propensity: 0.1,
  probability: 1,
});

function decision(decisionId: string, customerId = 'cust-1', at = AT): DecisionLogEntry {
  return {
    decisionId,
    customerId,
    channel: 'web',
    placement: null,
    rulesetVersion: 'v1',
    at,
    offers: [offer('gold-card', 'vip'), offer('loan', null)],
    heldOut: [offer('travel', 'vip')],
  };
}

const SHOWN: Attribution = { channel: 'web', campaignId: 'cards', segmentId: 'vip', heldOut: false };
const HELD: Attribution = { ...SHOWN, heldOut: true };

function event(type: FeedbackType, more: Partial<FeedbackEvent> = {}): FeedbackEvent {
  return {
    eventId: randomUUID(),
    decisionId: 'd1',
    offerId: 'gold-card',
    customerId: 'cust-1',
    type,
    value: null,
    at: AT + 60_000,
    ...more,
  };
}

/** XADD in the documented field format (log-entry.ts); returns the entry id. */
function addDecision(keys: RedisKeys, d: DecisionLogEntry, shard = 0, id = '*'): Promise<string> {
  const key = keys.feedbackLog(shard);
  return admin.send<string>(key, ['XADD', key, id, 't', 'd', 'e', JSON.stringify(d)]);
}
function addFeedback(keys: RedisKeys, e: FeedbackEvent, a: Attribution = SHOWN, shard = 0): Promise<string> {
  const key = keys.feedbackLog(shard);
  return admin.send<string>(key, [
    'XADD',
    key,
    '*',
    't',
    'f',
    'e',
    JSON.stringify(e),
    'x',
    encodeAttribution(a),
  ]);
}

async function stats(keys: RedisKeys, day = DAY, shard = 0): Promise<Record<string, number>> {
  const key = keys.feedbackStats(shard, day);
  const flat = await admin.send<string[]>(key, ['HGETALL', key]);
  const out: Record<string, number> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i]!] = Number(flat[i + 1]);
  return out;
}

async function pendingCount(keys: RedisKeys, group = 'offerloop', shard = 0): Promise<number> {
  const key = keys.feedbackLog(shard);
  const summary = await admin.send<[number, ...RedisReply[]]>(key, ['XPENDING', key, group]);
  return summary[0];
}

async function until(check: () => Promise<void> | void, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const accepts = (events: readonly ContactEvent[]) => events.filter((e) => e.outcome === 'accept');

describe('RedisFeedbackConsumer', () => {
  it('turns decisions and feedback into exact counters and contact history', async () => {
    const w = await world();
    await addDecision(w.keys, decision('d1'));
    await addDecision(w.keys, decision('d2', 'cust-2'));
    await addFeedback(w.keys, event('impression'));
    await addFeedback(w.keys, event('click'));
    await addFeedback(w.keys, event('accept'));
    await addFeedback(w.keys, event('reject', { customerId: 'cust-2', decisionId: 'd2', offerId: 'loan' }), {
      ...SHOWN,
      segmentId: null,
    });
    await addFeedback(w.keys, event('convert', { value: 12.5 }));
    await addFeedback(w.keys, event('convert', { value: 0.25, offerId: 'travel' }), HELD);
    await addFeedback(w.keys, event('click', { offerId: 'travel' }), HELD);
    await addFeedback(w.keys, event('dismiss', { at: AT + DAY_MS }));
    const consumer = await w.start();

    await until(() => expect(consumer.stats().processed).toBe(10));
    expect(withoutExpected(await stats(w.keys), { 'gold-card|web|vip': 0.2, 'loan|web|-': 0.2 })).toEqual({
      'gold-card|web|vip|impressions': 2,
      'loan|web|-|impressions': 2,
      // Each impression's affinity bin (learning's fit): a propensity of 0.1 has logit −2.2, bin −3.
      'gold-card|web|vip|affinityImpressions:-3': 2,
      'loan|web|-|affinityImpressions:-3': 2,
      'travel|web|vip|controls': 2,
      'gold-card|web|vip|views': 1,
      'gold-card|web|vip|clicks': 1,
      'gold-card|web|vip|accepts': 1,
      'loan|web|-|rejects': 1,
      'gold-card|web|vip|conversions': 1,
      'gold-card|web|vip|revenue': 12.5,
      'travel|web|vip|controlConversions': 1,
      'travel|web|vip|controlRevenue': 0.25,
    });
    expect(await stats(w.keys, DAY + 1)).toEqual({ 'gold-card|web|vip|dismissals': 1 });
    const statsKey = w.keys.feedbackStats(0, DAY);
    expect(await admin.send<number>(statsKey, ['PTTL', statsKey])).toBeGreaterThan(STATS_TTL_MS - 60_000);

    // Accepts and rejects for contact policy, clicks and dismissals for the journey (a held-out click is none).
    const one = (await w.history.read('cust-1')).events;
    expect(one.map((e) => [e.offerId, e.outcome])).toEqual([
      ['gold-card', 'click'],
      ['gold-card', 'accept'],
      ['gold-card', 'dismiss'],
    ]);
    expect(one[1]).toEqual({
      offerId: 'gold-card',
      campaignId: 'cards',
      channel: 'web',
      outcome: 'accept',
      at: AT + 60_000,
    });
    expect((await w.history.read('cust-2')).events.map((e) => [e.offerId, e.outcome])).toEqual([
      ['loan', 'reject'],
    ]);
    expect(await pendingCount(w.keys)).toBe(0);
    expect(consumer.stats()).toMatchObject({ deadLettered: 0, failures: 0 });
  });

  it('takes over what a crashed consumer read and never acknowledged, and counts it once', async () => {
    const w = await world();
    const key = w.keys.feedbackLog(0);
    await admin.send(key, ['XGROUP', 'CREATE', key, 'offerloop', '0', 'MKSTREAM']);
    for (let i = 0; i < 50; i++) await addDecision(w.keys, decision(`d${i}`));
    const accept = event('accept');
    await addFeedback(w.keys, accept);
    // The dead consumer read everything, applied the accept to contact history, and crashed before acking.
    await admin.send(key, ['XREADGROUP', 'GROUP', 'offerloop', 'dead', 'COUNT', '1000', 'STREAMS', key, '>']);
    await w.history.append('cust-1', [
      { offerId: 'gold-card', campaignId: 'cards', channel: 'web', outcome: 'accept', at: accept.at },
    ]);

    const consumer = await w.start({ claimIdleMs: 100, claimEveryMs: 20 });
    await until(() => expect(consumer.stats().processed).toBe(51));
    expect(consumer.stats().claimed).toBe(51);
    expect(await stats(w.keys)).toMatchObject({
      'gold-card|web|vip|impressions': 50,
      'travel|web|vip|controls': 50,
      'gold-card|web|vip|accepts': 1,
    });
    expect(accepts((await w.history.read('cust-1')).events)).toHaveLength(1);
    expect(await pendingCount(w.keys)).toBe(0);
  });

  it('counts each entry once when a stalled consumer’s batch is claimed and both process it', async () => {
    const w = await world();
    for (let i = 0; i < 20; i++) await addDecision(w.keys, decision(`d${i}`));
    await addFeedback(w.keys, event('accept'));
    // A reads everything, then stalls in contact history until released: B claims and processes
    // the same entries meanwhile, then A goes on with its stale batch.
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let appended = 0;
    const stalling: ContactHistoryStore = {
      read: (id) => w.history.read(id),
      lastSeen: (id) => w.history.lastSeen(id),
      appendIfUnchanged: (id, seen, events) => w.history.appendIfUnchanged(id, seen, events),
      erase: (id) => w.history.erase(id),
      async append(id, events) {
        await gate;
        await w.history.append(id, events);
        appended++;
      },
    };
    const a = await w.start({}, stalling);
    await until(async () => expect(await pendingCount(w.keys)).toBe(21));
    const b = await w.start({ claimIdleMs: 50, claimEveryMs: 10 });
    await until(() => expect(b.stats().processed).toBe(21));
    expect(b.stats().claimed).toBe(21);

    release();
    await until(() => expect(appended).toBe(1));
    await a.close(); // finishes its batch: every ack finds the entry already acknowledged
    expect(a.stats().processed).toBe(0);
    expect(withoutExpected(await stats(w.keys), { 'gold-card|web|vip': 2, 'loan|web|-': 2 })).toEqual({
      'gold-card|web|vip|impressions': 20,
      'loan|web|-|impressions': 20,
      'gold-card|web|vip|affinityImpressions:-3': 20,
      'loan|web|-|affinityImpressions:-3': 20,
      'travel|web|vip|controls': 20,
      'gold-card|web|vip|accepts': 1,
    });
    expect(accepts((await w.history.read('cust-1')).events)).toHaveLength(1);
  });

  it('moves an entry that never decodes to the dead-letter stream after maxDeliveries, and goes on', async () => {
    const w = await world();
    const key = w.keys.feedbackLog(0);
    const bad = await admin.send<string>(key, [
      'XADD',
      key,
      '*',
      't',
      'f',
      'e',
      '{not json',
      'x',
      'web|s|cards|',
    ]);
    await addDecision(w.keys, decision('d1'));
    const odd = await admin.send<string>(key, ['XADD', key, '*', 't', 'q', 'e', '{}']);
    await addFeedback(w.keys, event('click'));
    const consumer = await w.start({ claimIdleMs: 20, claimEveryMs: 10, maxDeliveries: 3 });

    await until(() => expect(consumer.stats().deadLettered).toBe(2));
    expect(consumer.stats().processed).toBe(2);
    expect(await stats(w.keys)).toMatchObject({
      'gold-card|web|vip|impressions': 1,
      'gold-card|web|vip|clicks': 1,
    });
    const dead = w.keys.feedbackDead(0);
    const letters = await admin.send<[string, string[]][]>(dead, ['XRANGE', dead, '-', '+']);
    const fields = letters.map(([, f]) =>
      Object.fromEntries(f.flatMap((_, i) => (i % 2 ? [] : [[f[i], f[i + 1]]]))),
    );
    // At least maxDeliveries: a pass may claim an entry once more just as it turns idle enough.
    for (const f of fields) expect(Number(f.deliveries)).toBeGreaterThanOrEqual(3);
    expect(fields.map(({ deliveries: _, ...rest }) => rest)).toEqual([
      { t: 'f', e: '{not json', x: 'web|s|cards|', id: bad, reason: 'entry e field is not JSON' },
      { t: 'q', e: '{}', id: odd, reason: "unknown entry type 'q'" },
    ]);
    expect(await pendingCount(w.keys)).toBe(0);
    expect(consumer.stats().failures).toBe(0);
  });

  it('trims processed entries past the retention, never one another group has not processed', async () => {
    const w = await world();
    const key = w.keys.feedbackLog(0);
    // Small stream nodes, so that approximate trimming (whole nodes) shows at this size.
    await admin.send(undefined, ['CONFIG', 'SET', 'stream-node-max-entries', '2']);
    cleanups.push(async () => {
      await admin.send(undefined, ['CONFIG', 'SET', 'stream-node-max-entries', '100']);
    });
    await admin.send(key, ['XGROUP', 'CREATE', key, 'laggard', '0', 'MKSTREAM']);
    for (let i = 0; i < 10; i++)
      await addDecision(w.keys, decision(`old${i}`, 'cust-1', 1000 + i), 0, `${1000 + i}-0`);
    for (let i = 0; i < 4; i++) await addDecision(w.keys, decision(`new${i}`));
    const length = () => admin.send<number>(key, ['XLEN', key]);
    const first = async () =>
      (await admin.send<[string, string[]][]>(key, ['XRANGE', key, '-', '+', 'COUNT', '1']))[0]?.[0];

    const consumer = await w.start({ trimEveryMs: 10, retentionMs: 3_600_000 });
    await until(() => expect(consumer.stats().processed).toBe(14));
    await new Promise((r) => setTimeout(r, 100)); // several trim passes
    expect(await length()).toBe(14); // the laggard has read nothing

    await admin.send(key, ['XREADGROUP', 'GROUP', 'laggard', 'l', 'COUNT', '4', 'STREAMS', key, '>']);
    await admin.send(key, ['XACK', key, 'laggard', '1000-0', '1001-0']);
    await until(async () => expect(await first()).toBe('1002-0'));
    await new Promise((r) => setTimeout(r, 100));
    expect(await first()).toBe('1002-0'); // its pending 1002-0 stays

    // Nothing pending: up to its last delivered entry, which MINID keeps (and so its node).
    await admin.send(key, ['XACK', key, 'laggard', '1002-0', '1003-0']);
    await new Promise((r) => setTimeout(r, 100));
    expect(await first()).toBe('1002-0');

    const rest = await admin.send<[string, [string, string[]][]][]>(key, [
      'XREADGROUP',
      'GROUP',
      'laggard',
      'l',
      'COUNT',
      '100',
      'STREAMS',
      key,
      '>',
    ]);
    await admin.send(key, ['XACK', key, 'laggard', ...rest[0]![1].map(([id]) => id)]);
    await until(async () => expect(await length()).toBe(4)); // only the recent ones, within the retention
    await new Promise((r) => setTimeout(r, 100));
    expect(await length()).toBe(4);
  });

  it('consumes every shard, into each shard’s own counters', async () => {
    const w = await world();
    await addDecision(w.keys, decision('d1'), 0);
    await addDecision(w.keys, decision('d2'), 1);
    await addDecision(w.keys, decision('d3'), 1);
    await addFeedback(w.keys, event('click'), SHOWN, 1);
    const consumer = await w.start({ shards: 2 });
    await until(() => expect(consumer.stats().processed).toBe(4));
    expect((await stats(w.keys, DAY, 0))['gold-card|web|vip|impressions']).toBe(1);
    expect(await stats(w.keys, DAY, 1)).toMatchObject({
      'gold-card|web|vip|impressions': 2,
      'gold-card|web|vip|clicks': 1,
    });
  });

  it('reads at once when nudged, and stops cleanly on close', async () => {
    const w = await world();
    const consumer = await w.start({ idleMs: 60_000 });
    await addDecision(w.keys, decision('d1'));
    consumer.nudge();
    await until(() => expect(consumer.stats().processed).toBe(1), 1000);

    await Promise.all([consumer.close(), consumer.close()]);
    await consumer.close();
    await addDecision(w.keys, decision('d2'));
    consumer.nudge();
    await new Promise((r) => setTimeout(r, 100));
    expect(consumer.stats()).toEqual({ processed: 1, deadLettered: 0, claimed: 0, failures: 0 });
    const key = w.keys.feedbackLog(0);
    expect(await admin.send<number>(key, ['XLEN', key])).toBe(2);
  });

  it('works off a backlog while its own process keeps appending (it yields, never stops)', async () => {
    const w = await world();
    const consumer = await w.start({ batch: 50 });
    const ids = Array.from({ length: 400 }, (_, i) => `d${i}`);
    for (const id of ids) await addDecision(w.keys, decision(id));
    // The server's log nudges its consumers after every append: requests all the time.
    const appending = setInterval(() => consumer.nudge(), 5);
    try {
      await until(() => expect(consumer.stats().processed).toBe(ids.length), 20_000);
    } finally {
      clearInterval(appending);
    }
    expect(await pendingCount(w.keys)).toBe(0);
    expect((await stats(w.keys))['gold-card|web|vip|impressions']).toBe(ids.length);
  });

  it('waits out a Redis restart that lost everything, and goes on without failures', async () => {
    const own = await startRedis();
    cleanups.push(() => own.stop());
    const w = await world(own.url);
    const direct = await RedisConnection.open(
      { url: own.url, clusterNodes: [], prefix: 'x', timeoutMs: 5000 },
      testLog,
    );
    cleanups.push(() => direct.close());
    const key = w.keys.feedbackLog(0);
    const add = (id: string) =>
      direct.send(key, ['XADD', key, '*', 't', 'd', 'e', JSON.stringify(decision(id))]);
    const consumer = await w.start();
    await add('d1');
    await until(() => expect(consumer.stats().processed).toBe(1));

    await own.kill();
    await new Promise((r) => setTimeout(r, 300));
    await own.start();
    // No persistence: the stream and its group are gone; the consumer creates the group again.
    await until(async () => {
      await add(`d-${randomUUID()}`);
      expect(consumer.stats().processed).toBeGreaterThanOrEqual(2);
    }, 10_000);
    expect(consumer.stats().failures).toBe(0);
  });
});

describe('RedisFeedbackConsumer on a Redis Cluster', () => {
  let cluster: RedisClusterProcess;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('acknowledges, counts, dead-letters and trims each shard within its own slot', async () => {
    const w = await world(cluster.nodes);
    const shards = [0, 1, 2];
    for (const shard of shards) {
      const key = w.keys.feedbackLog(shard);
      await w.redis.send(key, ['XADD', key, '*', 't', 'd', 'e', JSON.stringify(decision(`d${shard}`))]);
      await w.redis.send(key, ['XADD', key, '*', 't', 'd', 'e', 'not json']);
    }
    const consumer = await w.start({
      shards: shards.length,
      claimIdleMs: 20,
      claimEveryMs: 10,
      maxDeliveries: 2,
      trimEveryMs: 10,
    });
    await until(() => expect(consumer.stats()).toMatchObject({ processed: 3, deadLettered: 3 }), 10_000);
    for (const shard of shards) {
      const stats = w.keys.feedbackStats(shard, DAY);
      expect(await w.redis.send(stats, ['HGET', stats, 'gold-card|web|vip|impressions'])).toBe('1');
      const dead = w.keys.feedbackDead(shard);
      expect(await w.redis.send(dead, ['XLEN', dead])).toBe(1);
    }
    await new Promise((r) => setTimeout(r, 50)); // a few trim passes, on every shard's node
    expect(consumer.stats().failures).toBe(0);
  });
});

/**
 * The counters without the float `expected` sums (Σ of the logged propensities, learning's input),
 * after checking those: HINCRBYFLOAT sums need not be exact to the last bit.
 */
function withoutExpected(
  counters: Record<string, number>,
  expected: Record<string, number>,
): Record<string, number> {
  const rest = { ...counters };
  for (const [cell, sum] of Object.entries(expected)) {
    expect(rest[`${cell}|expected`]).toBeCloseTo(sum, 9);
    delete rest[`${cell}|expected`];
  }
  return rest;
}
