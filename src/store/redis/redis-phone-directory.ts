import type { CustomerProfile } from '../../domain/profile.js';
import { type PhoneDirectory, phoneOf } from '../phone-directory.js';
import { bucketOf } from './population-version.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

/** Numbers spread over this many small hashes (cheap per entry, spread over a cluster). */
const PHONE_BUCKETS = 1024;

/** The bucket of a normalised number; the bulk loader writes the same buckets. */
export function phoneBucketOf(phone: string): number {
  return bucketOf(phone, PHONE_BUCKETS);
}

/**
 * The phone directory in Redis, written by the bulk loader and when a profile is created or changed
 * through the API. Not versioned: lookups are confirmed against the profile in force.
 */
export class RedisPhoneDirectory implements PhoneDirectory {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  lookup(phone: string): Promise<string | null> {
    const key = this.keys.phoneBucket(phoneBucketOf(phone));
    return this.redis.send<string | null>(key, ['HGET', key, phone]);
  }

  /**
   * Removes the number if it still names one of the ids. Only the number the profile has now is
   * known: one it had before a change stays until a load or a change writes it again (see
   * docs/decisions/0009-erasure.md).
   */
  async forget(phone: string | null, customerIds: readonly string[]): Promise<void> {
    if (phone === null) return;
    const key = this.keys.phoneBucket(phoneBucketOf(phone));
    const id = await this.redis.send<string | null>(key, ['HGET', key, phone]);
    if (id !== null && customerIds.includes(id)) await this.redis.send(key, ['HDEL', key, phone]);
  }

  async record(profile: CustomerProfile): Promise<void> {
    const phone = phoneOf(profile);
    if (phone === null) return;
    const key = this.keys.phoneBucket(phoneBucketOf(phone));
    await this.redis.send(key, ['HSET', key, phone, profile.id]);
  }
}
