import type { WhatIfRunStore } from '../what-if-run-store.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

/** A run is looked at for a day at most: its report is for deciding, not an archive. */
const KEPT_SECONDS = 24 * 60 * 60;

/** Each run's last status in a string key of its own, expiring a day after its last update. */
export class RedisWhatIfRunStore implements WhatIfRunStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  async put(id: string, json: string): Promise<void> {
    const key = this.keys.whatIf(id);
    await this.redis.send(key, ['SET', key, json, 'EX', String(KEPT_SECONDS)]);
  }

  get(id: string): Promise<string | null> {
    const key = this.keys.whatIf(id);
    return this.redis.send<string | null>(key, ['GET', key]);
  }
}
