import type { CustomerProfile } from '../../domain/profile.js';
import { type PhoneDirectory, phoneOf } from '../phone-directory.js';
import { bucketOf } from './population-version.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

/** Numbers spread over this many small hashes (cheap per entry, spread over a cluster). */
const PHONE_BUCKETS = 1024;

/** The phone directory in Redis, written when a profile is created or changed through the API. */
export class RedisPhoneDirectory implements PhoneDirectory {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  lookup(phone: string): Promise<string | null> {
    const key = this.keys.phoneBucket(bucketOf(phone, PHONE_BUCKETS));
    return this.redis.send<string | null>(key, ['HGET', key, phone]);
  }

  async record(profile: CustomerProfile): Promise<void> {
    const phone = phoneOf(profile);
    if (phone === null) return;
    const key = this.keys.phoneBucket(bucketOf(phone, PHONE_BUCKETS));
    await this.redis.send(key, ['HSET', key, phone, profile.id]);
  }
}
