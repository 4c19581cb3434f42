import { afterEach, describe, expect, it } from 'vitest';
import { testLog } from '../../../test/helpers.js';
import { type RedisTarget, redisDeployments, redisTarget } from '../../../test/support/offerloop-node.js';
import { RedisConnection } from '../../store/redis/redis-connection.js';
import { RedisKeys } from '../../store/redis/redis-keys.js';
import { CLUSTER_FEEDBACK_SHARDS, feedbackShards } from './feedback-shards.js';

const opened: RedisConnection[] = [];
afterEach(() => {
  for (const redis of opened.splice(0)) redis.close();
});

/** A connection to the deployment, and keys of a prefix of their own. */
async function fresh(target: RedisTarget) {
  const { url, clusterNodes } = target.config;
  const own = redisTarget(url !== null ? { url } : { nodes: clusterNodes });
  const redis = await RedisConnection.open(own.config, testLog);
  opened.push(redis);
  return { redis, keys: new RedisKeys(own.config.prefix) };
}

describe.each(redisDeployments())('the feedback log’s shard count on %s', (name, target) => {
  const cluster = name.includes('Cluster');

  it('is fixed by the first server: 16 on a cluster, 1 on one Redis, unless FEEDBACK_SHARDS says', async () => {
    const { redis, keys } = await fresh(target());
    const first = await feedbackShards(redis, keys, null);
    expect(first).toBe(cluster ? CLUSTER_FEEDBACK_SHARDS : 1);
    expect(await feedbackShards(redis, keys, null)).toBe(first);
    const other = await fresh(target());
    expect(await feedbackShards(other.redis, other.keys, 4)).toBe(4);
    expect(await feedbackShards(other.redis, other.keys, null)).toBe(4);
  });

  it('keeps 1 for a log written before the count was recorded', async () => {
    const { redis, keys } = await fresh(target());
    const log = keys.feedbackLog(0);
    await redis.send(log, ['XADD', log, '*', 't', 'd']);
    expect(await feedbackShards(redis, keys, null)).toBe(1);
  });

  it('refuses a configured count that differs from the log’s, naming both', async () => {
    const { redis, keys } = await fresh(target());
    await feedbackShards(redis, keys, 8);
    await expect(feedbackShards(redis, keys, 2)).rejects.toThrow(
      /FEEDBACK_SHARDS is 2, but the feedback log has 8 shards/,
    );
  });

  it('agrees between servers starting at once', async () => {
    const a = await fresh(target());
    const b = await RedisConnection.open(target().config, testLog);
    opened.push(b);
    const counts = await Promise.all([
      feedbackShards(a.redis, a.keys, null),
      feedbackShards(b, a.keys, null),
    ]);
    expect(counts[0]).toBe(counts[1]);
  });
});
