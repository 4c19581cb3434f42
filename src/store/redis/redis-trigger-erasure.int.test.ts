import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testLog } from '../../../test/helpers.js';
import { type RedisTarget, redisDeployments } from '../../../test/support/offerloop-node.js';
import type { WebhookJob } from '../webhook-outbox.js';
import { RedisAdviserBooks } from './redis-adviser-books.js';
import { RedisConnection } from './redis-connection.js';
import { RedisKeys } from './redis-keys.js';
import { RedisWebhookOutbox } from './redis-webhook-outbox.js';

// What an erasure asks of the triggers' Redis stores (docs/decisions/0009-erasure.md): a customer
// leaves every book; their webhook jobs, waiting, in flight and dead, are found and dropped, and a
// job dropped in flight is not brought back by its dispatcher's retry or dead letter.

const job = (id: string, customerId: string): WebhookJob => ({
  id,
  webhook: 'crm',
  customerId,
  body: JSON.stringify({ type: 'trigger', customerId }),
  attempts: 0,
  createdAt: 0,
  lastError: null,
});

describe.each(redisDeployments())('erasure in the triggers’ stores on %s', (_name, makeTarget) => {
  let target: RedisTarget;
  let redis: RedisConnection;
  let keys: RedisKeys;

  beforeEach(async () => {
    target = makeTarget();
    redis = await RedisConnection.open(target.config, testLog);
    keys = new RedisKeys(target.config.prefix);
  });
  afterEach(() => redis.close());

  it('takes customers out of every book, and leaves the others in', async () => {
    const books = new RedisAdviserBooks(redis, keys);
    await books.put('adv-1', ['c-1', 'c-2']);
    await books.put('adv-2', ['c-3']);
    expect(await books.forget(['c-1', 'c-3', 'nobody'])).toBe(2);
    expect([await books.book('adv-1'), await books.book('adv-2')]).toEqual([['c-2'], []]);
    expect([await books.adviserOf('c-1'), await books.adviserOf('c-2')]).toEqual([null, 'adv-1']);
  });

  it("finds and drops a customer's jobs, waiting, leased and dead; a dropped job stays dropped", async () => {
    const outbox = new RedisWebhookOutbox(redis, keys);
    // More jobs than one HSCAN page, so that the erasure reads the hash page by page.
    for (let i = 0; i < 1200; i++) await outbox.add(job(`other-${i}`, 'c-2'), 10_000);
    await outbox.add(job('a', 'c-1'), 0);
    await outbox.add(job('b', 'c-1'), 0);
    await outbox.add(job('c', 'c-1'), 5_000);
    await outbox.add(job('d', 'c-2'), 5_000);
    const [a, b] = await outbox.take(0, 2, 1_000);
    await outbox.dead({ ...b!, attempts: 1, lastError: 'HTTP 500' });
    await outbox.dead({ ...job('d', 'c-2'), attempts: 1, lastError: 'HTTP 500' });

    const mine = await outbox.jobsOf(['c-1']);
    expect(mine.pending.map((j) => j.id).sort()).toEqual(['a', 'c']);
    expect(mine.dead).toMatchObject([{ id: 'b', customerId: 'c-1', lastError: 'HTTP 500' }]);
    expect(await outbox.forget(['c-1'])).toBe(3);

    // The dispatcher held `a` during the erasure: what it does next adds nothing.
    await outbox.retry({ ...a!, attempts: 1, lastError: 'timeout' }, 0);
    await outbox.dead({ ...a!, attempts: 1, lastError: 'timeout' });
    expect(await outbox.jobsOf(['c-1'])).toEqual({ pending: [], dead: [] });
    expect(await outbox.pending()).toBe(1200);
    expect((await outbox.deadLetters(10)).map((j) => j.id)).toEqual(['d']);
    expect(await outbox.take(0, 10, 1_000)).toEqual([]);
  });
});
