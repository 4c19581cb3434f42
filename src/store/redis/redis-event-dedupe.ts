import type { EventDedupe } from '../event-dedupe.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

/** Event ids seen by any server: a key per id, set if absent, expiring after the TTL. */
export class RedisEventDedupe implements EventDedupe {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  async claim(eventId: string, ttlMs: number): Promise<boolean> {
    const key = this.keys.triggerEvent(eventId);
    const reply = await this.redis.send<string | null>(key, ['SET', key, '1', 'NX', 'PX', String(ttlMs)]);
    return reply === 'OK';
  }

  async release(eventId: string): Promise<void> {
    const key = this.keys.triggerEvent(eventId);
    await this.redis.send(key, ['DEL', key]);
  }
}
