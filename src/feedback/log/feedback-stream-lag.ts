import type { RedisConnection, RedisReply } from '../../store/redis/redis-connection.js';
import type { RedisKeys } from '../../store/redis/redis-keys.js';
import { DEFAULT_FEEDBACK_GROUP } from './redis-feedback-consumer.js';

/** How far the consumers are behind the feedback log, summed over its shards. */
export interface StreamLag {
  /**
   * Entries appended but not yet delivered to the consumer group (XINFO GROUPS `lag`, Redis ≥ 7);
   * null when Redis does not know it (older Redis, or entries deleted from the middle of a stream).
   */
  readonly lag: number | null;
  /** Entries delivered to a consumer and not yet acknowledged. */
  readonly pending: number;
}

/**
 * One shard's group as XINFO GROUPS describes it (flat `[name, v, consumers, v, pending, v, …]`
 * per group). A shard that has no such group yet (no consumer started) is entirely behind:
 * `entries`, its XLEN, is the lag then.
 */
export function groupLagOf(reply: RedisReply, group: string, entries: number): StreamLag {
  if (!Array.isArray(reply)) throw new Error('unexpected XINFO GROUPS reply');
  for (const g of reply as readonly RedisReply[]) {
    if (!Array.isArray(g)) throw new Error('unexpected XINFO GROUPS reply');
    const fields = g as readonly RedisReply[];
    const info = new Map<string, RedisReply>();
    for (let i = 0; i + 1 < fields.length; i += 2) info.set(String(fields[i]), fields[i + 1]!);
    if (String(info.get('name')) !== group) continue;
    const pending = info.get('pending');
    const lag = info.get('lag');
    return {
      pending: typeof pending === 'number' ? pending : 0,
      lag: typeof lag === 'number' ? lag : null,
    };
  }
  return { lag: entries, pending: 0 };
}

/** Adds up the shards' lags; unknown if any shard's is. */
export function sumLags(lags: readonly StreamLag[]): StreamLag {
  let lag: number | null = 0;
  let pending = 0;
  for (const l of lags) {
    lag = lag === null || l.lag === null ? null : lag + l.lag;
    pending += l.pending;
  }
  return { lag, pending };
}

/**
 * Reads the consumer group's lag on every shard (one XLEN and one XINFO GROUPS each, pipelined):
 * for /metrics, so with a short deadline. A shard whose stream does not exist yet has no lag.
 */
export async function readStreamLag(
  redis: RedisConnection,
  keys: RedisKeys,
  shards: number,
  timeoutMs: number,
  group = DEFAULT_FEEDBACK_GROUP,
): Promise<StreamLag> {
  const perShard = await Promise.all(
    Array.from({ length: shards }, async (_, shard): Promise<StreamLag> => {
      const key = keys.feedbackLog(shard);
      const [entries, groups] = await Promise.all([
        redis.send<number>(key, ['XLEN', key], { timeoutMs }),
        redis.send<RedisReply>(key, ['XINFO', 'GROUPS', key], { timeoutMs }).catch((err: Error) => {
          // No stream yet: nothing was ever logged on this shard.
          if (/no such key/i.test(err.message)) return [];
          throw err;
        }),
      ]);
      return groupLagOf(groups, group, entries);
    }),
  );
  return sumLags(perShard);
}
