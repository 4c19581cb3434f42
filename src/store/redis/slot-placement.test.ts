import keySlot from 'cluster-key-slot';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from './redis-keys.js';
import { bucketTag, customerSlot, SLOTS, slotBucketOf, tagOfSlot } from './slot-placement.js';

const keys = new RedisKeys('p');
const ids = Array.from({ length: 20_000 }, (_, i) => `cust-${i}`);

/** Which of three masters serves a slot, as `redis-cli --cluster create` splits them. */
const masterOf = (slot: number) => (slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2);

describe('slot placement of profile buckets', () => {
  it('has a tag for every slot that lands in that slot', () => {
    for (let slot = 0; slot < SLOTS; slot++) expect(keySlot(tagOfSlot(slot))).toBe(slot);
  });

  it('puts a customer in the slot of its {id} keys, as Redis reads the tag', () => {
    for (const id of ['cust-1', 'a}b', 'x{y}z', '{}', 'ünïcödé'])
      expect(customerSlot(id)).toBe(keySlot(keys.contacts(id)));
  });

  it('spreads customers over every bucket, each bucket holding adjacent slots only', () => {
    for (const buckets of [16, 1024, 40_000]) {
      const seen = new Set<number>();
      for (const id of ids) {
        const bucket = slotBucketOf(id, buckets);
        expect(bucket).toBeGreaterThanOrEqual(0);
        expect(bucket).toBeLessThan(buckets);
        seen.add(bucket);
        const first = keySlot(bucketTag(bucket, buckets));
        const slot = customerSlot(id);
        expect(slot).toBeGreaterThanOrEqual(first);
        expect(slot).toBeLessThanOrEqual(first + Math.ceil(SLOTS / buckets));
      }
      // 20,000 customers fill every one of 1,024 buckets; of 40,000, they cannot.
      if (buckets <= 1024) expect(seen.size).toBe(buckets);
    }
  });

  it('keeps a bucket and its customers on one master for all but a few customers', () => {
    const buckets = 1024;
    let apart = 0;
    for (const id of ids) {
      const bucket = keys.bucket(7, slotBucketOf(id, buckets), bucketTag(slotBucketOf(id, buckets), buckets));
      if (masterOf(keySlot(bucket)) !== masterOf(keySlot(keys.contacts(id)))) apart++;
    }
    // Two buckets of 1,024 lie astride a boundary of the masters' slot runs: 0.1 % of customers (ADR 0010).
    expect(apart / ids.length).toBeLessThan(0.002);
  });
});
