import { describe, expect, it } from 'vitest';
import { MAX_BATCH, RedisBatch } from './redis-script.js';

/** A batch whose calls are recorded and answered by `answer` (each item's reply, or an Error). */
function recorded(when: 'tick' | 'immediate', answer: (items: readonly number[]) => (number | Error)[]) {
  const calls: number[][] = [];
  const batch = new RedisBatch<number, number>((items) => {
    calls.push([...items]);
    return Promise.resolve(answer(items));
  }, when);
  return { calls, batch };
}

describe('RedisBatch', () => {
  it.each(['tick', 'immediate'] as const)('sends what one turn asks as one call (%s)', async (when) => {
    const { calls, batch } = recorded(when, (items) => items.map((i) => i * 10));
    const replies = await Promise.all([1, 2, 3].map((i) => batch.add(i)));
    expect(replies).toEqual([10, 20, 30]);
    expect(calls).toEqual([[1, 2, 3]]);
    expect(await batch.add(4)).toBe(40);
    expect(calls).toEqual([[1, 2, 3], [4]]);
  });

  it('gathers for a tick what the promise jobs of one callback ask, as the appends a reply sets off', async () => {
    const { calls, batch } = recorded('tick', (items) => items.map((i) => i));
    const started = Promise.resolve();
    const replies = await Promise.all(
      [1, 2, 3].map((i) => started.then(() => Promise.resolve()).then(() => batch.add(i))),
    );
    expect(replies).toEqual([1, 2, 3]);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('gathers for an immediate what separate callbacks ask, as the reads of requests arriving together', async () => {
    const { calls, batch } = recorded('immediate', (items) => items.map((i) => i));
    const replies = await Promise.all(
      [1, 2, 3].map((i) => new Promise<number>((resolve) => process.nextTick(() => resolve(batch.add(i))))),
    );
    expect(replies).toEqual([1, 2, 3]);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('fails one item alone on its own error, and every item when the call fails', async () => {
    const { batch } = recorded('tick', (items) => items.map((i) => (i === 2 ? new Error('two') : i)));
    const results = await Promise.allSettled([1, 2, 3].map((i) => batch.add(i)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);

    const failing = new RedisBatch<number, number>(() => Promise.reject(new Error('down')), 'tick');
    const all = await Promise.allSettled([1, 2].map((i) => failing.add(i)));
    expect(all.map((r) => r.status === 'rejected' && (r.reason as Error).message)).toEqual(['down', 'down']);

    const throwing = new RedisBatch<number, number>(() => {
      throw new Error('thrown');
    }, 'tick');
    await expect(throwing.add(1)).rejects.toThrow('thrown');
  });

  it(`sends at most ${MAX_BATCH} items per call`, async () => {
    const { calls, batch } = recorded('immediate', (items) => items.map((i) => i));
    const n = MAX_BATCH * 2 + 5;
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => batch.add(i)));
    expect(replies).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(calls.map((c) => c.length)).toEqual([MAX_BATCH, MAX_BATCH, 5]);
  });
});
