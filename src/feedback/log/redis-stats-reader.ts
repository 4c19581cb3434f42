import { RedisUnavailableError } from '../../errors.js';
import type { RedisConnection } from '../../store/redis/redis-connection.js';
import type { RedisKeys } from '../../store/redis/redis-keys.js';
import type { DayCounters, StatsReader } from '../stats-reader.js';
import { StatsUnavailableError } from '../stats-reader.js';

/**
 * Reads the consumers' counter hashes `p:fb:{S}:stats:<day>`: one HGETALL per day per shard, all
 * in flight at once, summed over shards. Each key lives in one slot, so this works on a cluster too.
 */
export class RedisStatsReader implements StatsReader {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly shards: number,
    /** A year of days is hundreds of hashes: more than the deadline of a decision's single read. */
    private readonly timeoutMs = 10_000,
  ) {}

  async read(days: readonly number[]): Promise<Map<number, DayCounters>> {
    const reads = days.map((day) => {
      const hashes: Promise<string[]>[] = [];
      for (let shard = 0; shard < this.shards; shard++)
        hashes.push(this.hgetall(this.keys.feedbackStats(shard, day)));
      return Promise.all(hashes);
    });
    let replies: string[][][];
    try {
      replies = await Promise.all(reads);
    } catch (err) {
      if (err instanceof RedisUnavailableError) throw new StatsUnavailableError(err.message);
      throw err;
    }
    const out = new Map<number, DayCounters>();
    days.forEach((day, i) => {
      const counters = new Map<string, number>();
      for (const flat of replies[i]!) {
        for (let j = 0; j < flat.length; j += 2) {
          const field = flat[j]!;
          counters.set(field, (counters.get(field) ?? 0) + Number(flat[j + 1]));
        }
      }
      out.set(day, counters);
    });
    return out;
  }

  private hgetall(key: string): Promise<string[]> {
    return this.redis.send<string[]>(key, ['HGETALL', key], { timeoutMs: this.timeoutMs });
  }
}
