import type { RedisConnection } from '../../store/redis/redis-connection.js';
import type { RedisKeys } from '../../store/redis/redis-keys.js';

/**
 * Shards of a new feedback log on a Redis Cluster: enough that the masters share them (one lost
 * master spools only its own shards' events, the others write on), few enough that a tick's items
 * still go out in a handful of script calls.
 */
export const CLUSTER_FEEDBACK_SHARDS = 16;

/**
 * The number of shards of the feedback log, as the log itself records it (`fb:shards`). A reaction
 * goes to its decision's shard by a hash of the decision id modulo this count, so every server,
 * worker and export must use the same one, for as long as the log holds decisions within their
 * reaction window. The first server to write the log fixes it: FEEDBACK_SHARDS if set; else 1 for
 * a log written before the count was recorded (the default then); else 16 on a cluster, 1 on one
 * Redis. A configured count that differs from the log's is refused: it would misroute reactions.
 */
export async function feedbackShards(
  redis: RedisConnection,
  keys: RedisKeys,
  configured: number | null,
): Promise<number> {
  const key = keys.feedbackShards();
  const recorded = await redis.send<string | null>(key, ['GET', key]);
  if (recorded === null) {
    const first = keys.feedbackLog(0);
    const older = (await redis.send<number>(first, ['EXISTS', first])) === 1;
    const count = configured ?? (older ? 1 : redis.isCluster ? CLUSTER_FEEDBACK_SHARDS : 1);
    // NX: of two servers starting at once, the first one's count holds, and the other reads it back.
    await redis.send(key, ['SET', key, String(count), 'NX']);
    return feedbackShards(redis, keys, configured);
  }
  const count = Number(recorded);
  if (configured !== null && configured !== count)
    throw new Error(
      `FEEDBACK_SHARDS is ${configured}, but the feedback log has ${count} shards (${key}): a reaction ` +
        `would be looked for in the wrong shard. Unset FEEDBACK_SHARDS, or set it to ${count}.`,
    );
  return count;
}

/** The shard count the log records, for readers (export, benches): 1 for a log older than the record. */
export async function recordedFeedbackShards(redis: RedisConnection, keys: RedisKeys): Promise<number> {
  const key = keys.feedbackShards();
  const recorded = await redis.send<string | null>(key, ['GET', key]);
  return recorded === null ? 1 : Number(recorded);
}
