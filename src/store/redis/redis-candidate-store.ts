import type { CandidateStore, StoredCandidate } from '../candidate-store.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

/** Candidate rulesets in one Redis hash, name → JSON: a handful of rules directories at most. */
export class RedisCandidateStore implements CandidateStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  async put(candidate: StoredCandidate): Promise<void> {
    const key = this.keys.candidates();
    await this.redis.send(key, ['HSET', key, candidate.name, JSON.stringify(candidate)]);
  }

  async get(name: string): Promise<StoredCandidate | null> {
    const key = this.keys.candidates();
    const json = await this.redis.send<string | null>(key, ['HGET', key, name]);
    return json === null ? null : (JSON.parse(json) as StoredCandidate);
  }

  async list(): Promise<StoredCandidate[]> {
    const key = this.keys.candidates();
    const all = await this.redis.send<string[]>(key, ['HVALS', key]);
    return all.map((json) => JSON.parse(json) as StoredCandidate);
  }

  async delete(name: string): Promise<boolean> {
    const key = this.keys.candidates();
    return (await this.redis.send<number>(key, ['HDEL', key, name])) === 1;
  }
}
