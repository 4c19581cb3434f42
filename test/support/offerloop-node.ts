import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import type { RedisConfig } from '../../src/config.js';
import type { ProfileRecord } from '../../src/domain/profile.js';
import { type LoadResult, loadPopulation } from '../../src/store/redis/bulk-loader.js';
import { RedisConnection } from '../../src/store/redis/redis-connection.js';
import { RedisKeys } from '../../src/store/redis/redis-keys.js';
import { FIXTURE_PROFILES, type TestServer, testLog, testServer } from '../helpers.js';
import { type RedisClusterProcess, type RedisProcess, startRedis, startRedisCluster } from './redis.js';

export const NOW = Date.parse('2026-11-22T12:00:00Z');

/** The fixture customers as records, ready to load. */
export const FIXTURE_RECORDS: readonly ProfileRecord[] = readFileSync(FIXTURE_PROFILES, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as ProfileRecord);
export const KEYS = 'agent-key=decide+feedback,admin-key=admin';
export const auth = (key: string) => ({ authorization: `Bearer ${key}` });

/** Where a test's servers find Redis: one node or a cluster, and a prefix of its own. */
export interface RedisTarget {
  readonly env: Readonly<Record<string, string>>;
  readonly config: RedisConfig;
}

export function redisTarget(where: { url: string } | { nodes: readonly string[] }): RedisTarget {
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  if ('url' in where) {
    return {
      env: { REDIS_URL: where.url, REDIS_PREFIX: prefix },
      config: { url: where.url, clusterNodes: [], prefix, timeoutMs: 1000 },
    };
  }
  return {
    env: { REDIS_CLUSTER_NODES: where.nodes.join(','), REDIS_PREFIX: prefix },
    config: { url: null, clusterNodes: where.nodes, prefix, timeoutMs: 1000 },
  };
}

/**
 * One Redis and a three-master Redis Cluster for the test file (started in beforeAll, stopped in
 * afterAll), as describe.each rows: a name, and a target with a prefix of its own on that deployment.
 */
export function redisDeployments(): [name: string, target: () => RedisTarget][] {
  let single: RedisProcess | undefined;
  let cluster: RedisClusterProcess | undefined;
  beforeAll(async () => {
    [single, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([single?.stop(), cluster?.stop()]);
  });
  return [
    ['one Redis', () => redisTarget({ url: single!.url })],
    ['a three-master Redis Cluster', () => redisTarget({ nodes: cluster!.nodes })],
  ];
}

/** One Offerloop server on Redis, as `npm start` builds it, reached through inject. */
export type OfferloopNode = TestServer;

export function startNode(target: RedisTarget, env: Record<string, string> = {}): Promise<OfferloopNode> {
  return testServer({ OFFERLOOP_API_KEYS: KEYS, ...target.env, ...env }, () => NOW);
}

/** NDJSON lines as a file's chunks would come, `perChunk` lines each (memory of their own). */
export function ndjson(lines: readonly string[], perChunk = 1000): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < lines.length; i += perChunk) {
    chunks.push(new TextEncoder().encode(`${lines.slice(i, i + perChunk).join('\n')}\n`));
  }
  return chunks;
}

/** Loads records as a new population version, as `offerloop load` does. */
export async function loadRecords(
  target: RedisTarget,
  records: readonly ProfileRecord[],
  graceMs = 200,
): Promise<LoadResult> {
  const redis = await RedisConnection.open({ ...target.config, timeoutMs: 5000 }, testLog);
  try {
    const chunks = ndjson(records.map((r) => JSON.stringify(r)));
    return await loadPopulation(redis, new RedisKeys(target.config.prefix), toAsync(chunks), {
      buckets: 16,
      source: 'test',
      graceMs,
    });
  } finally {
    redis.close();
  }
}

export async function* toAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

/** Retries `check` until it passes or `ms` elapse (for what travels through pub/sub). */
export async function eventually(check: () => Promise<void>, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
