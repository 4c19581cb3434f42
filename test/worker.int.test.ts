import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeAttribution } from '../src/feedback/log-entry.js';
import { DAY_MS } from '../src/ruleset/time.js';
import { RedisConnection } from '../src/store/redis/redis-connection.js';
import { RedisKeys } from '../src/store/redis/redis-keys.js';
import { FIXTURE_RULES, testLog } from './helpers.js';
import { type RedisProcess, startRedis } from './support/redis.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = path.join(root, 'bin/offerloop');

/** `offerloop worker` as an operator runs it; its output is kept for the failure message. */
function spawnWorker(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const { REDIS_URL: _url, REDIS_CLUSTER_NODES: _nodes, REDIS_PREFIX: _prefix, ...inherited } = process.env;
  const child = spawn(process.execPath, [bin, 'worker'], {
    cwd: root,
    env: { ...inherited, OFFERLOOP_RULES: FIXTURE_RULES, OFFERLOOP_WATCH_RULES: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return { child, output: () => text };
}

async function exitCode(child: ChildProcess, ms = 10_000): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return code;
}

// The CLI runs the compiled code (dist/, built by `npm run build`, which CI runs before the tests).
describe('offerloop worker', () => {
  let server: RedisProcess;
  let redis: RedisConnection;

  beforeAll(async () => {
    server = await startRedis();
    redis = await RedisConnection.open(
      { url: server.url, clusterNodes: [], prefix: 'admin', timeoutMs: 5000 },
      testLog,
    );
  });
  afterAll(async () => {
    redis?.close();
    await server?.stop();
  });

  it('consumes every shard of the feedback log into counters, and exits 0 on SIGTERM', async () => {
    const prefix = `t-${randomUUID().slice(0, 8)}`;
    const keys = new RedisKeys(prefix);
    const { child, output } = spawnWorker({
      REDIS_URL: server.url,
      REDIS_PREFIX: prefix,
      OFFERLOOP_API_KEYS: 'ops-key=admin',
      FEEDBACK_SHARDS: '2',
      OFFERLOOP_LOG_LEVEL: 'warn',
    });
    try {
      const at = Date.now();
      const day = Math.floor(at / DAY_MS);
      const offer = {
        offerId: 'gold-card',
        campaignId: 'cards',
        segmentId: null,
        score: 1,
        propensity: 0.1,
        probability: 1,
      };
      for (const shard of [0, 1]) {
        const key = keys.feedbackLog(shard);
        const decision = {
          decisionId: `d${shard}`,
          customerId: 'cust-1',
          channel: 'web',
          placement: null,
          rulesetVersion: 'v1',
          at,
          offers: [offer],
          heldOut: [],
        };
        await redis.send(key, ['XADD', key, '*', 't', 'd', 'e', JSON.stringify(decision)]);
      }
      const click = {
        eventId: 'e1',
        decisionId: 'd1',
        offerId: 'gold-card',
        customerId: 'cust-1',
        type: 'click',
        value: null,
        at,
      };
      const attribution = encodeAttribution({
        channel: 'web',
        campaignId: 'cards',
        segmentId: null,
        heldOut: false,
      });
      const log1 = keys.feedbackLog(1);
      await redis.send(log1, ['XADD', log1, '*', 't', 'f', 'e', JSON.stringify(click), 'x', attribution]);

      const counter = (shard: number, field: string) => {
        const key = keys.feedbackStats(shard, day);
        return redis.send<string | null>(key, ['HGET', key, field]);
      };
      const deadline = Date.now() + 20_000;
      while ((await counter(1, 'gold-card|web|-|clicks')) === null) {
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(`no counters from the worker; its output:\n${output()}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await counter(0, 'gold-card|web|-|impressions')).toBe('1');
      expect(await counter(1, 'gold-card|web|-|impressions')).toBe('1');

      child.kill('SIGTERM');
      expect(await exitCode(child), output()).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('exits 2 with a clear message without Redis', async () => {
    const { child, output } = spawnWorker({});
    expect(await exitCode(child)).toBe(2);
    expect(output()).toMatch(/worker: needs Redis.*REDIS_URL/);
  });
});
