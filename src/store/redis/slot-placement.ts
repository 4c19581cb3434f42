import keySlot from 'cluster-key-slot';
import { stableHash32 } from '../../domain/stable-hash.js';

/**
 * Where a customer's profile bucket lives in a Redis Cluster: next to the customer's other keys.
 *
 * A customer's contact history, learned facts and identities are tagged `{id}`, so they live in the
 * slot of the id. A bucket holds many customers; placed by a plain hash of the id, a customer's
 * bucket and history would sit on two masters, and losing either master would degrade the
 * customer: about 5/9 of all decisions with one master of three down, instead of 1/3. So buckets
 * are laid out along the slots: bucket n of B holds the customers whose (slot + a fraction drawn
 * from the id) falls in [n, n + 1) × 16384 / B, and its key is tagged to land in the first of those
 * slots. A bucket's slots are adjacent, and masters own runs of adjacent slots, so a bucket and its
 * customers share a master, except for a bucket astride the boundary of two masters' runs (with
 * 1,024 buckets and 3 masters, about 0.1 % of customers).
 */
export const SLOTS = 16_384;

/** The bucket of `customerId` among `buckets`. */
export function slotBucketOf(customerId: string, buckets: number): number {
  return bucketAt(customerSlot(customerId), stableHash32(customerId), buckets);
}

/** The bucket of a customer in `slot` whose id hashes (stableHash32) to `hash`. */
export function bucketAt(slot: number, hash: number, buckets: number): number {
  const position = slot + hash / 4_294_967_296;
  return Math.min(buckets - 1, Math.floor((position * buckets) / SLOTS));
}

/**
 * The slot of the keys tagged `{id}`: the tag ends at the id's first `}`, if it has one. (Ids,
 * unlike keys, are hashed whole unless they carry braces of their own.)
 */
export function customerSlot(customerId: string): number {
  const close = customerId.indexOf('}');
  return keySlot(close < 0 ? customerId : customerId.slice(0, close));
}

/** customerSlot() of an id given as bytes (the loader's fast path). */
export function customerSlotOfBytes(bytes: Buffer, start: number, end: number): number {
  const close = bytes.indexOf(0x7d, start);
  return keySlot(bytes.subarray(start, close < 0 || close > end ? end : close));
}

/** The hash tag (without braces) that puts bucket `bucket` of `buckets` in its first slot. */
export function bucketTag(bucket: number, buckets: number): string {
  return tagOfSlot(Math.floor((bucket * SLOTS) / buckets));
}

let tags: string[] | null = null;

/**
 * A short string whose key slot is `slot`. The table is found once per process by counting in
 * base 36 until every slot has a string (about 170,000 CRC16s of a few bytes: a few ms).
 */
export function tagOfSlot(slot: number): string {
  if (tags === null) {
    const table = new Array<string>(SLOTS);
    let missing = SLOTS;
    for (let i = 0; missing > 0; i++) {
      const tag = i.toString(36);
      const s = keySlot(tag);
      if (table[s] === undefined) {
        table[s] = tag;
        missing--;
      }
    }
    tags = table;
  }
  return tags[slot]!;
}
