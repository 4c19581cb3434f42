import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisUnavailableError } from '../src/errors.js';
import { RedisConnection } from '../src/store/redis/redis-connection.js';
import { testLog } from './helpers.js';
import { type RedisProcess, startRedis } from './support/redis.js';

// The deadline of a Redis call (REDIS_TIMEOUT_MS) is about Redis, not about this process: an answer
// that arrived while the process was busy must not be taken for an outage.

let redis: RedisProcess;
let connection: RedisConnection;

beforeAll(async () => {
  redis = await startRedis();
  connection = await RedisConnection.open(
    { url: redis.url, clusterNodes: [], prefix: 'deadline', timeoutMs: 50 },
    testLog,
  );
});
afterAll(async () => {
  connection?.close();
  await redis?.stop();
});

/** Keeps this thread busy for `ms`, as a major GC or a long turn of the loop would. */
function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spinning on purpose
  }
}

describe('a Redis call whose deadline passes while the process is busy', () => {
  it('resolves when the answer was read in the meantime too (busy after the command was written)', async () => {
    const reply = connection.send<string>(undefined, ['PING']);
    await new Promise((resolve) => setImmediate(resolve));
    busyFor(200);
    await expect(reply).resolves.toBe('PONG');
  });

  it('resolves with the answer that came in meanwhile', async () => {
    for (let i = 0; i < 3; i++) {
      // Hold the loop past the deadline at once: the driver has not even written the command (it
      // writes in a setImmediate), as when a handler's call is followed by a long turn or a GC.
      const reply = connection.send<string>(undefined, ['PING']);
      busyFor(200);
      await expect(reply).resolves.toBe('PONG');
    }
  });

  it('still rejects when Redis does not answer in time', async () => {
    // A pop that blocks on an empty list answers after 0.3 s, past the 50 ms deadline.
    const slow = connection.send(undefined, ['BLPOP', 'deadline:nothing', '0.3']);
    await expect(slow).rejects.toThrow(RedisUnavailableError);
    await expect(slow).rejects.toThrow(/no answer in 50 ms/);
    // The connection serves again once that answer is in.
    await new Promise((resolve) => setTimeout(resolve, 400));
    await expect(connection.send<string>(undefined, ['PING'])).resolves.toBe('PONG');
  });
});
