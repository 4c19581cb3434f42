import { describe, expect, it } from 'vitest';
import { CachedReading } from './cached-reading.js';

describe('CachedReading', () => {
  it('reads at most once per period, and callers during a read share it', async () => {
    let now = 0;
    let reads = 0;
    const reading = new CachedReading(
      async () => ++reads,
      5_000,
      () => now,
    );
    const [a, b] = await Promise.all([reading.get(), reading.get()]);
    expect([a, b, reads]).toEqual([1, 1, 1]);
    now = 4_999;
    expect(await reading.get()).toBe(1);
    now = 5_000;
    expect(await reading.get()).toBe(2);
  });

  it('a failed read reads undefined, and is not retried before the period is over', async () => {
    let now = 0;
    let fail = true;
    let reads = 0;
    const reading = new CachedReading(
      async () => {
        reads++;
        if (fail) throw new Error('Redis is unavailable');
        return 7;
      },
      1_000,
      () => now,
    );
    expect(await reading.get()).toBeUndefined();
    fail = false;
    expect(await reading.get()).toBeUndefined();
    expect(reads).toBe(1);
    now = 1_000;
    expect(await reading.get()).toBe(7);
  });
});
