import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postDecision } from './helpers.js';
import {
  auth,
  eventually,
  FIXTURE_RECORDS,
  loadRecords,
  type OfferloopNode,
  type RedisTarget,
  redisTarget,
  startNode,
} from './support/offerloop-node.js';
import { type RedisProcess, startRedis } from './support/redis.js';

let redis: RedisProcess;
let target: RedisTarget;
let node: OfferloopNode;
/** A second server, whose changes `node` must keep hearing about after every outage. */
let other: OfferloopNode;

beforeAll(async () => {
  // Persisted, so that the population survives the crash and the restart.
  redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  target = redisTarget({ url: redis.url });
  await loadRecords(target, FIXTURE_RECORDS);
  node = await startNode(target, { REDIS_TIMEOUT_MS: '150' });
  other = await startNode(target);
});
afterAll(async () => {
  await other?.close();
  await node?.close();
  await redis?.stop();
});

const decide = (customerId: string) => postDecision(node.app, 'agent-key', { customerId, channel: 'web' });
const ready = async () => (await node.app.inject({ url: '/health/ready' })).json();

/** A change made on the other server reaches this one: the invalidation channel works again. */
async function expectInvalidationsHeard(clv: number) {
  await eventually(async () => {
    expect((await other.app.inject({ url: '/health/ready' })).json()).toMatchObject({ status: 'ready' });
  }, 15_000);
  await eventually(async () => {
    expect(
      (await node.app.inject({ url: '/v1/customers/cust-1', headers: auth('agent-key') })).statusCode,
    ).toBe(200);
  }); // cust-1 is now in node's memory
  const patched = await other.app.inject({
    method: 'PATCH',
    url: '/v1/customers/cust-1',
    headers: auth('admin-key'),
    payload: { attributes: { clv } },
  });
  expect(patched.statusCode).toBe(200);
  await eventually(async () => {
    const dossier = await node.app.inject({ url: '/v1/customers/cust-1', headers: auth('agent-key') });
    expect(dossier.json().attributes.clv).toBe(clv);
  }, 2000);
}

/** Back to normal: Redis answers, a customer not in memory is found, nothing is degraded. */
async function expectRecovered(customerId: string) {
  await eventually(async () => {
    expect(await ready()).toMatchObject({ status: 'ready', redis: 'up' });
    const decision = (await decide(customerId)).json();
    expect(decision).toMatchObject({ customerKnown: true, degraded: false });
  }, 15_000);
}

describe('when Redis dies', () => {
  it('keeps answering: customers in memory as themselves, others as anonymous, all marked degraded', async () => {
    expect((await decide('cust-1')).json()).toMatchObject({ customerKnown: true, degraded: false }); // cached
    await redis.kill();
    const cached = await decide('cust-1');
    expect(cached.statusCode).toBe(200);
    expect(cached.json()).toMatchObject({ customerKnown: true, degraded: true });
    expect(cached.json().offers.length).toBeGreaterThan(0);
    const cold = await decide('cust-2');
    expect(cold.statusCode).toBe(200);
    expect(cold.json()).toMatchObject({ customerKnown: false, degraded: true });
    const dossier = await node.app.inject({ url: '/v1/customers/cust-1', headers: auth('agent-key') });
    expect(dossier.json()).toMatchObject({ customerId: 'cust-1', degraded: true });
  });

  it('reports the degraded state on /health/ready, still 200 so the load balancer keeps the node', async () => {
    await eventually(async () => {
      const res = await node.app.inject({ url: '/health/ready' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ status: 'degraded', redis: 'unavailable' });
    });
  });

  it('reconnects by itself when Redis is back, and hears other servers again', async () => {
    await redis.start();
    await expectRecovered('cust-2');
    await expectInvalidationsHeard(1111);
  });
});

describe('when Redis hangs (SIGSTOP)', () => {
  it('answers within the deadline, degraded, while the process is stopped', async () => {
    redis.pause();
    try {
      // Redis stays stopped until the finally below: without the deadline this would never answer.
      const res = await decide('cust-3');
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ degraded: true });
      await eventually(async () => expect(await ready()).toMatchObject({ status: 'degraded' }));
      // Long enough for the health check to give up on the silent connection and replace it.
      const replacedBefore = (await ready()).hungConnectionsReplaced;
      await eventually(async () => {
        expect((await ready()).hungConnectionsReplaced).toBeGreaterThan(replacedBefore);
      }, 6000);
      expect((await decide('cust-3')).json()).toMatchObject({ degraded: true });
    } finally {
      redis.resume();
    }
  });

  it('recovers when the process continues, over the rebuilt connection, and hears other servers again', async () => {
    await expectRecovered('cust-3');
    await expectInvalidationsHeard(2222);
  });
});
