import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  FIXTURE_RECORDS,
  loadRecords,
  type OfferloopNode,
  redisTarget,
  startNode,
} from './support/offerloop-node.js';
import { type RedisProcess, startRedis } from './support/redis.js';

// Two servers on one Redis share an API key of rate R. Its limit holds across them (the sync of
// src/store/redis/redis-rate-sync.ts): over T seconds both together let through at most
// R × (T + 1) + (N − 1) × R × (1 + L) (src/http/rate-limiter.ts), not N × R × (T + 1) as two
// per-process limits would. L is taken at 1 s, five times its value, for a busy machine: still the
// old behaviour would fail. With Redis gone, each server keeps its own limit.

const RATE = 20;
const SERVERS = 2;
/** Generous: two sync periods and a round trip are 0.2 s, unless the machine is very busy. */
const L_SECONDS = 1;
const LOAD_MS = 4000;

let redis: RedisProcess;
let nodes: OfferloopNode[] = [];

beforeAll(async () => {
  redis = await startRedis();
  const target = redisTarget({ url: redis.url });
  await loadRecords(target, FIXTURE_RECORDS);
  const env = { OFFERLOOP_API_KEYS: `limited-key=admin;rate=${RATE}` };
  nodes = [await startNode(target, env), await startNode(target, env)];
});
afterAll(async () => {
  for (const node of nodes) await node.close();
  await redis?.stop();
});

/**
 * Requests of the key on every server, a round every few ms (far above the rate) for `ms`: answers
 * how many each server let through (anything but 429), and the seconds from the first to the last.
 */
async function load(ms: number): Promise<{ admitted: number[]; seconds: number }> {
  const admitted = nodes.map(() => 0);
  const started = Date.now();
  while (Date.now() - started < ms) {
    const answers = await Promise.all(
      nodes.map((node) =>
        node.app.inject({ url: '/v1/ruleset', headers: { authorization: 'Bearer limited-key' } }),
      ),
    );
    answers.forEach((res, i) => {
      if (res.statusCode !== 429) admitted[i]!++;
    });
    // Timers (the syncs) run between rounds.
    await sleep(2);
  }
  return { admitted, seconds: (Date.now() - started) / 1000 };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const readiness = async (node: OfferloopNode) =>
  (await node.app.inject({ url: '/health/ready' })).json() as { rateLimits?: string };
/** A metric of the server without labels, as a scrape would read it. */
const metric = async (node: OfferloopNode, name: string) =>
  (await node.services.metrics.registry.getSingleMetric(name)?.get())?.values[0]?.value;

describe('a key rate-limited across two servers on one Redis', () => {
  it('lets through about the rate in all, not twice the rate', async () => {
    const { admitted, seconds } = await load(LOAD_MS);
    const bound = RATE * (seconds + 1) + (SERVERS - 1) * RATE * (1 + L_SECONDS);
    const perProcess = SERVERS * RATE * (seconds + 1);
    expect(bound).toBeLessThan(perProcess * 0.8);
    expect(sum(admitted)).toBeLessThanOrEqual(bound);
    // Not starved either: about R × T, and each server has its share.
    expect(sum(admitted)).toBeGreaterThanOrEqual(RATE * seconds * 0.75);
    for (const a of admitted) expect(a).toBeGreaterThan(0);
    for (const node of nodes) {
      expect((await readiness(node)).rateLimits).toBe('cluster');
      expect(await metric(node, 'offerloop_rate_limits_local')).toBe(0);
    }
  });

  it('with Redis gone, each server falls back to its own limit', async () => {
    await redis.kill();
    for (const node of nodes) {
      await eventually(async () => expect((await readiness(node)).rateLimits).toBe('local'));
      expect(await metric(node, 'offerloop_rate_limits_local')).toBe(1);
      expect(await metric(node, 'offerloop_rate_limit_fallbacks_total')).toBe(1);
    }
    // Debts of the first test are refilled: each bucket starts full, as a server's own would.
    await sleep(1500);
    const { admitted, seconds } = await load(LOAD_MS);
    // Each server its own R × (T + 1), as before: together more than the cluster-wide bound allows.
    for (const a of admitted) {
      expect(a).toBeLessThanOrEqual(RATE * (seconds + 1) + 1);
      expect(a).toBeGreaterThanOrEqual(RATE * seconds * 0.75);
    }
    expect(sum(admitted)).toBeGreaterThan(RATE * (seconds + 1) + (SERVERS - 1) * RATE * (1 + L_SECONDS));
  });

  it('with Redis back, the limit holds across servers again, and nobody pays for the outage', async () => {
    await redis.start();
    for (const node of nodes) {
      await eventually(async () => expect((await readiness(node)).rateLimits).toBe('cluster'), 10_000);
    }
    const { admitted, seconds } = await load(LOAD_MS);
    expect(sum(admitted)).toBeLessThanOrEqual(RATE * (seconds + 1) + (SERVERS - 1) * RATE * (1 + L_SECONDS));
    // What each let through alone during the outage is not charged now: neither is starved.
    expect(sum(admitted)).toBeGreaterThanOrEqual(RATE * seconds * 0.75);
    for (const a of admitted) expect(a).toBeGreaterThan(0);
  });
});
