import { describe, expect, it } from 'vitest';
import { testLog } from '../../../test/helpers.js';
import { redisDeployments } from '../../../test/support/offerloop-node.js';
import type { RedisConfig } from '../../config.js';
import { RateLimiter } from '../../http/rate-limiter.js';
import { RedisConnection } from './redis-connection.js';
import { RedisKeys } from './redis-keys.js';
import { RedisRateSync } from './redis-rate-sync.js';

// Two servers' limiters on one Redis, synced by hand (the timer never fires) on a clock of the
// test's own: what one takes, the other is charged with, and the key itself never reaches Redis.

const KEY = 'shared-secret-api-key';
const RATE = 10;

/** Two servers' connections, limiters and syncs on one deployment. */
async function twoServers(config: RedisConfig) {
  const keys = new RedisKeys(config.prefix);
  const redisA = await RedisConnection.open(config, testLog);
  const redisB = await RedisConnection.open(config, testLog);
  const a = new RateLimiter();
  const b = new RateLimiter();
  const syncA = new RedisRateSync(redisA, keys, a, testLog, NEVER_MS);
  const syncB = new RedisRateSync(redisB, keys, b, testLog, NEVER_MS);
  return { keys, redisA, redisB, a, b, syncA, syncB };
}
/** Long enough that only the test's own sync() calls sync. */
const NEVER_MS = 3_600_000;

describe.each(redisDeployments())('Redis rate sync on %s', (_name, target) => {
  it("charges each server's bucket with what the other took", async () => {
    const { keys, redisA, redisB, a, b, syncA, syncB } = await twoServers(target().config);
    try {
      // Both see the key (one request each), and their first syncs are baselines.
      expect(a.takeForKey(KEY, RATE, 0)).toBe(0);
      expect(b.takeForKey(KEY, RATE, 0)).toBe(0);
      await syncA.sync();
      await syncB.sync();
      // A takes its other 9; B has taken nothing more.
      for (let i = 0; i < 9; i++) expect(a.takeForKey(KEY, RATE, 0)).toBe(0);
      await syncA.sync(); // A hears of B's 1: one token owed.
      await syncB.sync(); // B hears of A's 9: B's last 9 tokens are gone.
      expect(b.takeForKey(KEY, RATE, 0)).toBe(100);
      expect(a.takeForKey(KEY, RATE, 0)).toBe(200);
      // A second later each bucket has refilled one second's worth, less the debt.
      for (let i = 0; i < 9; i++) expect(a.takeForKey(KEY, RATE, 1000)).toBe(0);
      expect(a.takeForKey(KEY, RATE, 1000)).toBe(100);
      expect(syncA.mode).toBe('cluster');
      // One hash, a field per key that says nothing of the key.
      const hash = keys.rateTaken();
      const fields = await redisA.send<string[]>(hash, ['HGETALL', hash]);
      expect(fields).toHaveLength(2);
      expect(fields[0]).toMatch(/^[0-9a-f]{16}$/);
      expect(fields[0]).not.toContain(KEY.slice(0, 6));
      expect(fields[1]).toBe('11'); // A's 1 and 9, B's 1: what was synced
      expect(await redisA.send<number>(hash, ['TTL', hash])).toBeGreaterThan(0);
    } finally {
      syncA.close();
      syncB.close();
      redisA.close();
      redisB.close();
    }
  });

  it('a server that cannot reach Redis keeps its own limit, and the others are not charged for it', async () => {
    const { redisA, redisB, a, b, syncA, syncB } = await twoServers(target().config);
    try {
      a.takeForKey(KEY, RATE, 0);
      b.takeForKey(KEY, RATE, 0);
      await syncA.sync();
      await syncB.sync();
      // A's connection is gone: its syncs fail, and what it takes meanwhile is its own business.
      redisA.close();
      for (let i = 0; i < 9; i++) expect(a.takeForKey(KEY, RATE, 0)).toBe(0);
      await syncA.sync();
      expect(syncA.mode).toBe('local');
      await syncB.sync();
      // B heard nothing of A's 9: it still has its 9.
      for (let i = 0; i < 9; i++) expect(b.takeForKey(KEY, RATE, 0)).toBe(0);
      expect(b.takeForKey(KEY, RATE, 0)).toBe(100);
    } finally {
      syncA.close();
      syncB.close();
      redisB.close();
    }
  });
});
