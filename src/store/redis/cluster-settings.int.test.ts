import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testLog } from '../../../test/helpers.js';
import { type RedisClusterProcess, redisCommand, startRedisCluster } from '../../../test/support/redis.js';
import { warnOfClusterSettings } from './cluster-settings.js';
import { RedisConnection } from './redis-connection.js';

let cluster: RedisClusterProcess;
let redis: RedisConnection;

beforeAll(async () => {
  cluster = await startRedisCluster();
  redis = await RedisConnection.open(
    { url: null, clusterNodes: cluster.nodes, prefix: 't', timeoutMs: 1000 },
    testLog,
  );
}, 60_000);
afterAll(async () => {
  redis?.close();
  await cluster?.stop();
});

describe('the cluster settings checked at start', () => {
  it('warns while any master requires full coverage (Redis’ default), and not once none does', async () => {
    expect(await warnOfClusterSettings(redis, testLog)).toBe(true);
    for (const url of cluster.nodes)
      await redisCommand(Number(new URL(url).port), 'CONFIG', 'SET', 'cluster-require-full-coverage', 'no');
    expect(await warnOfClusterSettings(redis, testLog)).toBe(false);
  });
});
