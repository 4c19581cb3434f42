import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testLog } from '../../../test/helpers.js';
import {
  FIXTURE_RECORDS,
  loadRecords,
  type RedisTarget,
  redisDeployments,
} from '../../../test/support/offerloop-node.js';
import type { ContactEvent } from '../../domain/contact.js';
import { profileFromRecord } from '../../domain/profile.js';
import type { PopulationVersion } from './population-version.js';
import { RedisConnection } from './redis-connection.js';
import { RedisContactHistoryStore } from './redis-contact-history-store.js';
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

// Calls made together (one turn of the event loop) go out as one script call on one Redis, and one
// call each on a cluster: either way each caller gets what a call of its own would have answered.
describe.each(redisDeployments())('calls made together on %s', (_name, makeTarget) => {
  let target: RedisTarget;
  let redis: RedisConnection;
  let keys: RedisKeys;
  let history: RedisContactHistoryStore;

  beforeEach(async () => {
    target = makeTarget();
    redis = await RedisConnection.open(target.config, testLog);
    keys = new RedisKeys(target.config.prefix);
    history = new RedisContactHistoryStore(redis, keys, {
      maxEvents: 3,
      maxCacheBytes: 1 << 20,
      retention: () => ({ impressionsMs: 7 * DAY, reactionsMs: 30 * DAY }),
    });
  });
  afterEach(() => redis.close());

  it('reads each profile as a read of its own would, unknown customers as none', async () => {
    await loadRecords(target, FIXTURE_RECORDS);
    const store = await RedisProfileStore.open(redis, keys);
    const ids = [...FIXTURE_RECORDS.map((r) => r.id), 'nobody', FIXTURE_RECORDS[0]!.id];
    const alone = [];
    for (const id of ids) alone.push(await store.get(id));
    const together = await Promise.all(ids.map((id) => store.get(id)));
    expect(together).toEqual(alone);
    expect(together.map((l) => l.profile?.id ?? null)).toEqual([
      ...FIXTURE_RECORDS.map((r) => r.id),
      null,
      'cust-1',
    ]);
    expect(together[1]!.profile!.holdings).toEqual(profileFromRecord(FIXTURE_RECORDS[1]!).holdings);
  });

  it('fails only the reads of a broken bucket', async () => {
    await loadRecords(target, FIXTURE_RECORDS);
    const store = await RedisProfileStore.open(redis, keys);
    const [broken, ...others] = FIXTURE_RECORDS.map((r) => r.id);
    const population = (store as unknown as { population: PopulationVersion }).population;
    const bucket = population.bucketKeyOf(keys, broken!);
    await redis.send(bucket, ['DEL', bucket]);
    await redis.send(bucket, ['SET', bucket, 'not a hash']);
    const sameBucket = others.filter((id) => population.bucketOf(id) === population.bucketOf(broken!));
    const results = await Promise.allSettled([broken!, ...others].map((id) => store.get(id)));
    const failed = [broken!, ...others].filter((_, i) => results[i]!.status === 'rejected');
    expect(failed).toEqual([broken!, ...sameBucket]);
    expect(failed.length).toBeLessThan(FIXTURE_RECORDS.length);
  });

  it('appends for many customers at once, each against its own revision', async () => {
    const ids = ['a', 'b', 'c', 'd'];
    const seen = await Promise.all(ids.map((id) => history.lastSeen(id)));
    const outcomes = await Promise.all(
      ids.map((id, i) => history.appendIfUnchanged(id, seen[i]!, [shown(`offer-${id}`)])),
    );
    expect(outcomes).toEqual(ids.map(() => ({ appended: true, degraded: false })));
    for (const id of ids) expect((await history.read(id)).events).toEqual([shown(`offer-${id}`)]);
  });

  it('appends one of two decisions for one customer made together; the other gets the newer history', async () => {
    const seen = await history.lastSeen('twice');
    const [first, second] = await Promise.all([
      history.appendIfUnchanged('twice', seen, [shown('one')]),
      history.appendIfUnchanged('twice', seen, [shown('two')]),
    ]);
    expect(first).toEqual({ appended: true, degraded: false });
    expect(second.appended).toBe(false);
    if (second.appended) return;
    expect(second.newer.events).toEqual([shown('one')]);
    // Deciding again on the newer history goes through, after the first.
    expect(await history.appendIfUnchanged('twice', second.newer, [shown('two')])).toEqual({
      appended: true,
      degraded: false,
    });
    const after = await history.read('twice');
    expect(after.events).toEqual([shown('one'), shown('two')]);
    expect(Number(after.revision)).toBeGreaterThan(Number(second.newer.revision));
  });

  it('keeps the newest events only, and lives as long as the policies look back', async () => {
    let seen = await history.lastSeen('long');
    for (let i = 0; i < 3; i++) {
      const outcome = await history.appendIfUnchanged('long', seen, [
        shown(`o${2 * i}`),
        shown(`o${2 * i + 1}`),
      ]);
      expect(outcome.appended).toBe(true);
      seen = await history.lastSeen('long');
    }
    expect((await history.read('long')).events.map((e) => e.offerId)).toEqual(['o3', 'o4', 'o5']);
    const list = keys.contacts('long');
    const ttl = await redis.send<number>(list, ['PTTL', list]);
    expect(ttl).toBeGreaterThan(7 * DAY - 60_000);
    expect(ttl).toBeLessThanOrEqual(7 * DAY);
  });

  it('fails only the append of a customer whose keys are broken', async () => {
    const list = keys.contacts('broken');
    await redis.send(list, ['SET', list, 'not a list']);
    const ids = ['ok-1', 'broken', 'ok-2'];
    const seen = await Promise.all(ids.map((id) => history.lastSeen(id)));
    const results = await Promise.allSettled(
      ids.map((id, i) => history.appendIfUnchanged(id, seen[i]!, [shown('x')])),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await history.read('ok-2')).events).toEqual([shown('x')]);
  });
});
