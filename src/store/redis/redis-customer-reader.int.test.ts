import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testLog } from '../../../test/helpers.js';
import {
  FIXTURE_RECORDS,
  loadRecords,
  type RedisTarget,
  redisDeployments,
} from '../../../test/support/offerloop-node.js';
import type { ContactEvent } from '../../domain/contact.js';
import { TieredProfileStore } from '../tiered-profile-store.js';
import { RedisConnection } from './redis-connection.js';
import { RedisContactHistoryStore } from './redis-contact-history-store.js';
import { RedisCustomerReader } from './redis-customer-reader.js';
import { RedisKeys } from './redis-keys.js';
import { RedisProfileStore } from './redis-profile-store.js';

const DAY = 86_400_000;
const shown = (offerId: string, at = 1_767_225_600_000): ContactEvent => ({
  offerId,
  campaignId: 'cards',
  channel: 'web',
  outcome: 'impression',
  at,
});

/** One server's stores over a connection of its own. */
async function server(target: RedisTarget) {
  const redis = await RedisConnection.open(target.config, testLog);
  const keys = new RedisKeys(target.config.prefix);
  const profiles = await RedisProfileStore.open(redis, keys);
  const history = new RedisContactHistoryStore(redis, keys, {
    maxEvents: 100,
    maxCacheBytes: 1 << 20,
    retention: () => ({ impressionsMs: 7 * DAY, reactionsMs: 30 * DAY }),
  });
  let reads = 0;
  const counting = new Proxy(profiles, {
    get(target, prop, receiver) {
      if (prop === 'getWithHistory' || prop === 'get') reads++;
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const tier = new TieredProfileStore(counting, { maxBytes: 1 << 20 });
  const reader = new RedisCustomerReader(tier, counting, history);
  return { redis, tier, history, reader, reads: () => reads };
}

describe.each(redisDeployments())('a decision’s reads of its customer on %s', (name, makeTarget) => {
  const cluster = name.includes('Cluster');
  let target: RedisTarget;
  let one: Awaited<ReturnType<typeof server>>;
  let two: Awaited<ReturnType<typeof server>>;

  beforeEach(async () => {
    target = makeTarget();
    await loadRecords(target, FIXTURE_RECORDS);
    [one, two] = await Promise.all([server(target), server(target)]);
  });
  afterEach(() => {
    one.redis.close();
    two.redis.close();
  });

  it('reads the profile, and no history for a customer nobody contacted', async () => {
    const read = await one.reader.read('cust-1');
    expect(read.lookup).toEqual(await one.tier.get('cust-1'));
    expect(read.lookup.profile?.id).toBe('cust-1');
    expect(read.history).toMatchObject({ events: [], revision: '0', degraded: false });
    const nobody = await one.reader.read('nobody');
    expect(nobody.lookup).toEqual({ profile: null, degraded: false });
  });

  it(
    cluster
      ? 'decides on its own view of the history (a bucket and a history are in different slots)'
      : 'brings what another server appended with the profile, so the append goes through first time',
    async () => {
      // Server one decided for cust-2 before; then server two did.
      const first = await one.reader.read('cust-2');
      expect((await one.history.appendIfUnchanged('cust-2', first.history, [shown('a')])).appended).toBe(
        true,
      );
      const seenByTwo = await two.history.read('cust-2');
      expect((await two.history.appendIfUnchanged('cust-2', seenByTwo, [shown('b')])).appended).toBe(true);
      one.tier.clear();

      const again = await one.reader.read('cust-2');
      expect(again.lookup.profile?.id).toBe('cust-2');
      if (cluster) {
        expect(again.history.events).toEqual([shown('a')]);
        return;
      }
      expect(again.history.events).toEqual([shown('a'), shown('b')]);
      expect(again.history.revision).toBe((await two.history.read('cust-2')).revision);
      expect((await one.history.appendIfUnchanged('cust-2', again.history, [shown('c')])).appended).toBe(
        true,
      );
      expect((await two.history.read('cust-2')).events).toEqual([shown('a'), shown('b'), shown('c')]);
    },
  );

  it('keeps the history it saw when Redis holds that revision still', async () => {
    const first = await one.reader.read('cust-3');
    expect((await one.history.appendIfUnchanged('cust-3', first.history, [shown('a')])).appended).toBe(true);
    const view = await one.history.lastSeen('cust-3');
    one.tier.clear();
    const before = one.reads();
    expect((await one.reader.read('cust-3')).history).toBe(view);
    expect(one.reads()).toBe(before + 1);
  });

  it('costs a profile in the memory tier no Redis read: the history is this server’s view', async () => {
    await one.reader.read('cust-1');
    const before = one.reads();
    const seenByTwo = await two.history.read('cust-1');
    expect((await two.history.appendIfUnchanged('cust-1', seenByTwo, [shown('b')])).appended).toBe(true);
    const read = await one.reader.read('cust-1');
    expect(one.reads()).toBe(before);
    expect(read.lookup.profile?.id).toBe('cust-1');
    expect(read.history.events).toEqual([]);
  });

  it('reads many customers together, each with its own history', async () => {
    const ids = FIXTURE_RECORDS.map((r) => r.id);
    for (const id of ids) {
      const seen = await two.history.read(id);
      await two.history.appendIfUnchanged(id, seen, [shown(`for-${id}`)]);
    }
    const reads = await Promise.all(ids.map((id) => one.reader.read(id)));
    expect(reads.map((r) => r.lookup.profile?.id)).toEqual(ids);
    expect(reads.map((r) => r.history.events)).toEqual(
      ids.map((id) => (cluster ? [] : [shown(`for-${id}`)])),
    );
  });
});
