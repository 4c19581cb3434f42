import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testLog } from '../../../test/helpers.js';
import { type RedisProcess, startRedis } from '../../../test/support/redis.js';
import { RedisCapCounters } from './redis-cap-counters.js';
import { RedisConnection } from './redis-connection.js';
import { RedisKeys } from './redis-keys.js';

// While a sync carries this server's counts to Redis, reads still count them: a cap read low for
// that round trip let an outbound selection pass a budget (test/selection.int.test.ts).

const NOW = Date.parse('2026-11-22T12:00:00Z');

describe('Redis cap counters during a sync', () => {
  let server: RedisProcess;
  beforeAll(async () => {
    server = await startRedis();
  }, 30_000);
  afterAll(() => server?.stop());

  it('count what the sync is carrying until Redis answers, and then once', async () => {
    const redis = await RedisConnection.open(
      { url: server.url, clusterNodes: [], prefix: 'sync', timeoutMs: 1000 },
      testLog,
    );
    const counters = new RedisCapCounters(redis, new RedisKeys('sync'), testLog, () => NOW, 3_600_000);
    try {
      for (let i = 0; i < 4; i++) counters.record('o', 'c', NOW, 0.5);
      const read = () => [
        counters.offerTotal('o'),
        counters.offerToday('o', NOW),
        counters.campaignTotal('c'),
        counters.campaignToday('c', NOW),
        counters.campaignSpend('c'),
      ];
      const syncing = counters.sync();
      expect(read()).toEqual([4, 4, 4, 4, 2]);
      counters.record('o', 'c', NOW, 0.5);
      expect(read()).toEqual([5, 5, 5, 5, 2.5]);
      await syncing;
      expect(read()).toEqual([5, 5, 5, 5, 2.5]);
      await counters.sync();
      expect(read()).toEqual([5, 5, 5, 5, 2.5]);
    } finally {
      await counters.close();
      redis.close();
    }
  });
});
