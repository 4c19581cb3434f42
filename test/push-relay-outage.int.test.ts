import { setTimeout as sleep } from 'node:timers/promises';
import keySlot from 'cluster-key-slot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisConnection } from '../src/store/redis/redis-connection.js';
import { RedisKeys } from '../src/store/redis/redis-keys.js';
import { encodeEnvelope } from '../src/ws/push-envelope.js';
import { PushHub } from '../src/ws/push-hub.js';
import { PUSH_MAX_AGE_MS, RedisPushRelay } from '../src/ws/redis-push-relay.js';
import { listen, testLog, testServer } from './helpers.js';
import {
  auth,
  eventually,
  FIXTURE_RECORDS,
  KEYS,
  loadRecords,
  NOW,
  type OfferloopNode,
  type RedisTarget,
  redisTarget,
} from './support/offerloop-node.js';
import { parseExposition } from './support/prometheus-text.js';
import {
  type RedisClusterProcess,
  type RedisProcess,
  redisCommand,
  startRedis,
  startRedisCluster,
} from './support/redis.js';
import { TestWsClient } from './support/ws-client.js';

// Pushes across a blip of Redis: an agent's desktop holds its socket on server B while call events
// reach server A. A push A makes while Redis is dead or hung reaches the desktop once Redis is back,
// exactly once, unless it is older than the bound by then; pushes B missed live come from the stream.

let redis: RedisProcess;
let target: RedisTarget;
/** The one clock both servers read: the bound is tested by moving it, never by waiting. */
let now = NOW;
let a: OfferloopNode;
let b: OfferloopNode;
let desk: TestWsClient;
/** The same agent's second desktop, on A: A's own pushes reach it at once, and once. */
let deskOnA: TestWsClient;

const AGENT = 'agent-o';
/** A deadline a busy machine meets while the servers start (the default, 100 ms, is for decisions). */
const REDIS_TIMEOUT_MS = '500';
const start = () => testServer({ OFFERLOOP_API_KEYS: KEYS, REDIS_TIMEOUT_MS, ...target.env }, () => now);

beforeAll(async () => {
  // Persisted, so that the population (and the push stream) survive the crash, as in production.
  redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  target = redisTarget({ url: redis.url });
  await loadRecords(target, FIXTURE_RECORDS);
  a = await start();
  b = await start();
  desk = await TestWsClient.open(`ws://127.0.0.1:${await listen(b.app)}/v1/ws`, { key: 'agent-key' });
  await desk.request({ type: 'subscribe', agentId: AGENT });
  deskOnA = await TestWsClient.open(`ws://127.0.0.1:${await listen(a.app)}/v1/ws`, { key: 'agent-key' });
  await deskOnA.request({ type: 'subscribe', agentId: AGENT });
});
afterAll(async () => {
  desk?.close();
  deskOnA?.close();
  await Promise.all([a?.close(), b?.close()]);
  await redis?.stop();
});

const callStarted = (node: OfferloopNode, callId: string) =>
  node.app.inject({
    method: 'POST',
    url: '/v1/interactions/calls',
    headers: auth('agent-key'),
    payload: { type: 'call.started', callId, agentId: AGENT, customerId: 'cust-1' },
  });

const pushesOf = (client: TestWsClient, callId: string) =>
  client.received.filter((m) => m.type === 'call' && m.callId === callId);

/** A sample of a node's /metrics (0 when absent). */
async function metric(node: OfferloopNode, name: string, labels: Record<string, string> = {}) {
  const { samples } = parseExposition((await node.services.metrics.scrape()).body);
  const sample = samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return sample?.value ?? 0;
}

/** Both servers hear each other again: a fresh push from A reaches the desk on B live. */
async function expectBackToNormal(marker: string) {
  await eventually(async () => {
    for (const node of [a, b]) {
      expect((await node.app.inject({ url: '/health/ready' })).json()).toMatchObject({ redis: 'up' });
    }
  }, 15_000);
  expect((await callStarted(a, marker)).statusCode).toBe(200);
  await desk.next((m) => m.type === 'call' && m.callId === marker);
}

/**
 * A push made on A while Redis was away: kept (not relayed yet), then on the desk on B once Redis
 * is back, once. Pushes are relayed in order, so when a later push from A has reached B, every copy
 * of the earlier one (a retry may store it twice) has been read by B before it.
 */
async function expectDeliveredOnceAfter(callId: string, recover: () => Promise<void>, marker: string) {
  const relayedBefore = await metric(a, 'offerloop_push_relayed_total');
  const answer = await callStarted(a, callId);
  expect(answer.statusCode).toBe(200);
  expect(answer.json()).toMatchObject({ sessions: 1 }); // A's own desktop, at once
  await eventually(async () => {
    expect(await metric(a, 'offerloop_push_relay_retries_total')).toBeGreaterThan(0);
    expect(await metric(a, 'offerloop_push_relay_pending')).toBe(1);
  }, 10_000);
  expect(pushesOf(desk, callId)).toEqual([]);
  await recover();
  const backAt = Date.now();
  const pushed = await desk.next((m) => m.type === 'call' && m.callId === callId, 15_000);
  // The figure docs/channels.md quotes (printed, not asserted: speed belongs to bench/).
  console.log(
    `[push-relay-outage] ${callId}: on the desk on B ${Date.now() - backAt} ms after Redis was back`,
  );
  expect(pushed).toMatchObject({ event: 'call.started', agentId: AGENT });
  expect((pushed.decision as { decisionId: string }).decisionId).toBe(answer.json().decisionId);
  await expectBackToNormal(marker);
  expect(await metric(a, 'offerloop_push_relay_pending')).toBe(0);
  expect(await metric(a, 'offerloop_push_relayed_total')).toBeGreaterThanOrEqual(relayedBefore + 2);
  expect(pushesOf(desk, callId)).toEqual([]); // next() took the one delivery; no second came
  await deskOnA.next((m) => m.type === 'call' && m.callId === callId);
  await deskOnA.next((m) => m.type === 'call' && m.callId === marker);
  expect([...pushesOf(deskOnA, callId), ...pushesOf(deskOnA, marker)]).toEqual([]);
}

describe('pushes between two servers on one Redis', () => {
  it('flow live while Redis is up: A to the desk on B, and to the desk on A once', async () => {
    await expectBackToNormal('o-live');
    await deskOnA.next((m) => m.type === 'call' && m.callId === 'o-live');
    expect(pushesOf(deskOnA, 'o-live')).toEqual([]);
  });

  it('a push made while Redis is dead reaches the desk on B once Redis is restarted, once', async () => {
    await redis.kill();
    await expectDeliveredOnceAfter(
      'o-dead',
      async () => {
        await redis.start();
      },
      'o-dead-after',
    );
  });

  it('a push made while Redis hangs (SIGSTOP) reaches the desk on B once it continues, once', async () => {
    redis.pause();
    try {
      await expectDeliveredOnceAfter(
        'o-hung',
        async () => {
          // Long enough for the connections to be found hung and rebuilt (hungAfterMs 3000).
          await sleep(3500);
          redis.resume();
        },
        'o-hung-after',
      );
    } finally {
      redis.resume();
    }
  });

  it('a push older than the bound by the time Redis is back is given up, not delivered', async () => {
    const expiredBefore = await metric(a, 'offerloop_push_relay_dropped_total', { reason: 'expired' });
    await redis.kill();
    expect((await callStarted(a, 'o-stale')).statusCode).toBe(200);
    await eventually(async () => {
      expect(await metric(a, 'offerloop_push_relay_pending')).toBe(1);
    }, 10_000);
    now += PUSH_MAX_AGE_MS + 1;
    await eventually(async () => {
      expect(await metric(a, 'offerloop_push_relay_dropped_total', { reason: 'expired' })).toBe(
        expiredBefore + 1,
      );
      expect(await metric(a, 'offerloop_push_relay_pending')).toBe(0);
    }, 10_000);
    await redis.start();
    await expectBackToNormal('o-stale-after');
    expect(pushesOf(desk, 'o-stale')).toEqual([]);
  });
});

describe('pushes in the stream that B did not hear live', () => {
  const stream = () => `${target.config.prefix}:{push}:log`;
  /** Appends a push to the stream as a relay whose live message was lost would have left it. */
  const append = (callId: string, seq: number, createdAt: number) =>
    redisCommand(
      redis.port,
      'XADD',
      stream(),
      '*',
      'e',
      encodeEnvelope({
        serverId: 'a-server-gone-quiet',
        seq,
        createdAt,
        topics: [`agent:${AGENT}`],
        push: JSON.stringify({ type: 'call', event: 'call.started', callId, agentId: AGENT }),
      }),
    );

  it('reach the desk on B from the stream, in order, except one older than the bound', async () => {
    const replayedBefore = await metric(b, 'offerloop_push_replayed_total');
    const expiredBefore = await metric(b, 'offerloop_push_received_skipped_total', { reason: 'expired' });
    await append('o-quiet-stale', 1, now - PUSH_MAX_AGE_MS - 1);
    await append('o-quiet-1', 2, now);
    await append('o-quiet-2', 3, now);
    await desk.next((m) => m.callId === 'o-quiet-1', 10_000);
    await desk.next((m) => m.callId === 'o-quiet-2', 10_000);
    expect(pushesOf(desk, 'o-quiet-stale')).toEqual([]);
    expect(await metric(b, 'offerloop_push_replayed_total')).toBe(replayedBefore + 2);
    expect(await metric(b, 'offerloop_push_received_skipped_total', { reason: 'expired' })).toBe(
      expiredBefore + 1,
    );
    // A read them too and delivered them to its own desktop: they were no push of its own.
    await deskOnA.next((m) => m.callId === 'o-quiet-2', 10_000);
  });

  it('are delivered once though stored twice (a relay retried after Redis took it)', async () => {
    await append('o-twice', 4, now);
    await append('o-twice', 4, now);
    await append('o-twice-after', 5, now);
    await desk.next((m) => m.callId === 'o-twice', 10_000);
    await desk.next((m) => m.callId === 'o-twice-after', 10_000);
    expect(pushesOf(desk, 'o-twice')).toEqual([]);
    expect(await metric(b, 'offerloop_push_received_skipped_total', { reason: 'duplicate' })).toBeGreaterThan(
      0,
    );
  });
});

describe('a relay that hears a push after one it missed', () => {
  it('reads the missed one from the stream at once, then delivers both in order, each once; and one never stored', async () => {
    // Two relays as the servers build them, with the every-second read out of the way: only the
    // gap a live message shows can bring the missed push.
    const keys = new RedisKeys(`${target.config.prefix}-gap`);
    const options = { clock: () => now, tailCheckMs: 3_600_000 };
    const connections = await Promise.all([0, 1].map(() => RedisConnection.open(target.config, testLog)));
    const [hubA, hubB] = [new PushHub(), new PushHub()];
    const inbox: string[] = [];
    hubB.subscribe('agent:x', {
      deliver: (frame) => {
        inbox.push(frame.toString());
        return true;
      },
    });
    const relays = [
      await RedisPushRelay.start(connections[0]!, keys, hubA, testLog, options),
      await RedisPushRelay.start(connections[1]!, keys, hubB, testLog, options),
    ];
    try {
      hubA.publish(['agent:x'], 'first');
      await eventually(async () => expect(inbox).toEqual(['first']));
      // Stored by a relay whose live message B did not hear.
      await redisCommand(
        redis.port,
        'XADD',
        keys.pushStream(),
        '*',
        'e',
        encodeEnvelope({ serverId: 'quiet', seq: 1, createdAt: now, topics: ['agent:x'], push: 'missed' }),
      );
      hubA.publish(['agent:x'], 'second');
      await eventually(async () => expect(inbox).toEqual(['first', 'missed', 'second']));
      hubA.publish(['agent:x'], 'third');
      await eventually(async () => expect(inbox).toEqual(['first', 'missed', 'second', 'third']));
      expect(relays[1]!.stats).toMatchObject({ replayed: 2, skippedDuplicate: 0 });
      // Published, but not in the stream (its master failed over before the replica had it): B
      // reads the stream once, delivers it as it is, and goes on with what follows.
      const orphan = encodeEnvelope({
        serverId: 'lost',
        seq: 1,
        createdAt: now,
        topics: ['agent:x'],
        push: 'orphan',
      });
      await redisCommand(redis.port, 'PUBLISH', keys.push(), `9999999999999-0\n9999999999998-0\n${orphan}`);
      await eventually(async () => expect(inbox.at(-1)).toBe('orphan'));
      hubA.publish(['agent:x'], 'fourth');
      await eventually(async () =>
        expect(inbox).toEqual(['first', 'missed', 'second', 'third', 'orphan', 'fourth']),
      );
    } finally {
      for (const relay of relays) relay.close();
      for (const connection of connections) connection.close();
    }
  });
});

describe('pushes between two servers on a Redis Cluster with replicas', () => {
  let cluster: RedisClusterProcess;
  let onCluster: RedisTarget;
  let ca: OfferloopNode;
  let cb: OfferloopNode;
  let clusterDesk: TestWsClient;

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3, replicas: 1 });
    // As docs/operations.md asks: the other masters serve their slots while one is failed over.
    for (const url of cluster.nodes) {
      await redisCommand(Number(new URL(url).port), 'CONFIG', 'SET', 'cluster-require-full-coverage', 'no');
    }
    onCluster = redisTarget({ nodes: cluster.nodes });
    await loadRecords(onCluster, FIXTURE_RECORDS);
    const startOnCluster = () =>
      testServer({ OFFERLOOP_API_KEYS: KEYS, REDIS_TIMEOUT_MS, ...onCluster.env }, () => now);
    ca = await startOnCluster();
    cb = await startOnCluster();
    clusterDesk = await TestWsClient.open(`ws://127.0.0.1:${await listen(cb.app)}/v1/ws`, {
      key: 'agent-key',
    });
    await clusterDesk.request({ type: 'subscribe', agentId: AGENT });
  }, 90_000);
  afterAll(async () => {
    clusterDesk?.close();
    await Promise.all([ca?.close(), cb?.close()]);
    await cluster?.stop();
  });

  /** The index (in masters()) of the master serving the push stream's slot now. */
  async function holderOfStream(): Promise<number> {
    const slot = keySlot(`${onCluster.config.prefix}:{push}:log`);
    const masters = await cluster.masters();
    const holder = masters.findIndex((m) => m.slots.some(([first, last]) => slot >= first && slot <= last));
    expect(holder).toBeGreaterThanOrEqual(0);
    return holder;
  }

  it('a push made while the master of the push stream is dead reaches the desk on B after its replica took over, once', async () => {
    expect((await callStarted(ca, 'c-live')).statusCode).toBe(200);
    await clusterDesk.next((m) => m.type === 'call' && m.callId === 'c-live');

    const killed = await cluster.killMaster(await holderOfStream());
    const answer = await callStarted(ca, 'c-dead');
    expect(answer.statusCode).toBe(200);
    await eventually(async () => {
      expect(await metric(ca, 'offerloop_push_relay_retries_total')).toBeGreaterThan(0);
    }, 10_000);
    expect(pushesOf(clusterDesk, 'c-dead')).toEqual([]);
    await cluster.waitForFailover(killed);
    const failedOverAt = Date.now();

    const pushed = await clusterDesk.next((m) => m.type === 'call' && m.callId === 'c-dead', 20_000);
    console.log(
      `[push-relay-outage] c-dead: on the desk on B ${Date.now() - failedOverAt} ms after the failover`,
    );
    expect((pushed.decision as { decisionId: string } | null)?.decisionId).toBe(answer.json().decisionId);
    await eventually(async () => {
      expect(await metric(ca, 'offerloop_push_relay_pending')).toBe(0);
    }, 10_000);
    expect((await callStarted(ca, 'c-after')).statusCode).toBe(200);
    await clusterDesk.next((m) => m.type === 'call' && m.callId === 'c-after', 10_000);
    expect(pushesOf(clusterDesk, 'c-dead')).toEqual([]);
    // Back as the replica of its successor, for the next failover.
    await cluster.restart(killed);
  }, 60_000);
  it('a push made while the master of the push stream hangs (SIGSTOP) reaches the desk on B after the failover, once', async () => {
    const paused = await cluster.pauseMaster(await holderOfStream());
    try {
      const answer = await callStarted(ca, 'c-hung');
      expect(answer.statusCode).toBe(200);
      await eventually(async () => {
        expect(await metric(ca, 'offerloop_push_relay_pending')).toBe(1);
      }, 10_000);
      await cluster.waitForFailover(paused);
      const failedOverAt = Date.now();
      const pushed = await clusterDesk.next((m) => m.type === 'call' && m.callId === 'c-hung', 20_000);
      console.log(
        `[push-relay-outage] c-hung: on the desk on B ${Date.now() - failedOverAt} ms after the failover`,
      );
      expect((pushed.decision as { decisionId: string } | null)?.decisionId).toBe(answer.json().decisionId);
    } finally {
      // Back as a replica of its successor; what it was sent while stopped may run now (a second copy).
      await cluster.resumeMaster(paused);
    }
    expect((await callStarted(ca, 'c-hung-after')).statusCode).toBe(200);
    await clusterDesk.next((m) => m.type === 'call' && m.callId === 'c-hung-after', 15_000);
    expect(pushesOf(clusterDesk, 'c-hung')).toEqual([]);
  }, 60_000);
});
