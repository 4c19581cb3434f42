import { describe, expect, it } from 'vitest';
import { MemoryAdviserBooks } from './adviser-books.js';
import { MemoryEventDedupe } from './event-dedupe.js';
import { MemoryWebhookOutbox, type WebhookJob } from './webhook-outbox.js';

describe('MemoryEventDedupe', () => {
  it('claims an id once within its TTL, again after it, and again once released', async () => {
    let now = 1_000;
    const dedupe = new MemoryEventDedupe(() => now);
    expect(await dedupe.claim('e-1', 100)).toBe(true);
    expect(await dedupe.claim('e-1', 100)).toBe(false);
    now += 100;
    expect(await dedupe.claim('e-1', 100)).toBe(true);
    await dedupe.release('e-1');
    expect(await dedupe.claim('e-1', 100)).toBe(true);
  });
});

describe('MemoryEventDedupe bounds', () => {
  it('keeps at most maxIds, forgetting the oldest first', async () => {
    const dedupe = new MemoryEventDedupe(() => 0, 2);
    for (const id of ['a', 'b', 'c']) expect(await dedupe.claim(id, 1000)).toBe(true);
    expect(await dedupe.claim('c', 1000)).toBe(false);
    expect(await dedupe.claim('a', 1000)).toBe(true);
  });
});

describe('MemoryAdviserBooks', () => {
  it('a book replaces the last one; a customer moves from another adviser’s book', async () => {
    const books = new MemoryAdviserBooks();
    await books.put('adv-1', ['c-1', 'c-2']);
    await books.put('adv-2', ['c-2', 'c-3']);
    expect(await books.book('adv-1')).toEqual(['c-1']);
    expect(await books.adviserOf('c-2')).toBe('adv-2');
    await books.put('adv-2', ['c-3']);
    expect(await books.adviserOf('c-2')).toBeNull();
    expect(await books.book('adv-2')).toEqual(['c-3']);
    expect(await books.adviserOf('nobody')).toBeNull();
  });

  it('forgets customers from every book (erasure)', async () => {
    const books = new MemoryAdviserBooks();
    await books.put('adv-1', ['c-1', 'c-2']);
    await books.put('adv-2', ['c-3']);
    expect(await books.forget(['c-1', 'c-3', 'nobody'])).toBe(2);
    expect([await books.book('adv-1'), await books.book('adv-2')]).toEqual([['c-2'], []]);
    expect(await books.adviserOf('c-3')).toBeNull();
  });
});

describe('MemoryWebhookOutbox', () => {
  const job = (id: string, customerId = 'c-1'): WebhookJob => ({
    id,
    webhook: 'crm',
    customerId,
    body: '{}',
    attempts: 0,
    createdAt: 0,
    lastError: null,
  });

  it('takes what is due, leases it, and gives it again when the lease runs out', async () => {
    const outbox = new MemoryWebhookOutbox();
    await outbox.add(job('a'), 0);
    await outbox.add(job('b'), 500);
    expect((await outbox.take(100, 10, 1000)).map((j) => j.id)).toEqual(['a']);
    expect(await outbox.take(200, 10, 1000)).toEqual([]);
    expect((await outbox.take(1100, 10, 1000)).map((j) => j.id)).toEqual(['a', 'b']);
    await outbox.done(job('a'));
    await outbox.retry({ ...job('b'), attempts: 1, lastError: 'HTTP 500' }, 5000);
    expect(await outbox.take(4000, 10, 1000)).toEqual([]);
    await outbox.dead({ ...job('b'), attempts: 2, lastError: 'HTTP 500' });
    expect(await outbox.pending()).toBe(0);
    expect(await outbox.deadLetters(10)).toMatchObject([{ id: 'b', attempts: 2, lastError: 'HTTP 500' }]);
  });

  it("finds and forgets a customer's jobs, waiting and dead; a job forgotten in flight stays forgotten", async () => {
    const outbox = new MemoryWebhookOutbox();
    await outbox.add(job('a'), 0);
    await outbox.add(job('b'), 0);
    await outbox.add(job('c', 'c-2'), 0);
    const [a] = await outbox.take(0, 1, 1000);
    await outbox.dead({ ...job('b'), attempts: 3, lastError: 'HTTP 500' });
    const mine = await outbox.jobsOf(['c-1']);
    expect([mine.pending.map((j) => j.id), mine.dead.map((j) => j.id)]).toEqual([['a'], ['b']]);
    expect(await outbox.forget(['c-1'])).toBe(2);
    // The dispatcher held `a` during the erasure: its retry and its dead letter add nothing.
    await outbox.retry({ ...a!, attempts: 1 }, 0);
    await outbox.dead({ ...a!, attempts: 1 });
    expect(await outbox.jobsOf(['c-1'])).toEqual({ pending: [], dead: [] });
    expect([await outbox.pending(), await outbox.deadLetters(10)]).toEqual([1, []]);
  });
});
