import type { ChallengerStore, StoredChallenger } from '../challenger-store.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

/** The test in one Redis key (JSON); its changes announced on a channel of their own. */
export class RedisChallengerStore implements ChallengerStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  async get(): Promise<StoredChallenger | null> {
    const key = this.keys.challenger();
    const json = await this.redis.send<string | null>(key, ['GET', key]);
    return json === null ? null : (JSON.parse(json) as StoredChallenger);
  }

  async put(test: StoredChallenger): Promise<void> {
    const key = this.keys.challenger();
    await this.redis.send(key, ['SET', key, JSON.stringify(test)]);
  }

  async clear(): Promise<boolean> {
    const key = this.keys.challenger();
    return (await this.redis.send<number>(key, ['DEL', key])) === 1;
  }

  async announce(): Promise<void> {
    await this.redis.publish(this.keys.challengerChannel(), 'changed');
  }

  /** Also called when Redis is back: an announcement may have been missed while it was away. */
  onAnnounce(listener: () => void): Promise<void> {
    this.redis.on('up', listener);
    return this.redis.subscribe(this.keys.challengerChannel(), () => listener());
  }
}
