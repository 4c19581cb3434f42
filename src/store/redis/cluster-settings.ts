import type { Logger } from 'pino';
import type { RedisConnection, RedisReply } from './redis-connection.js';

/**
 * Warns at start of a cluster setting that turns one master's loss into everyone's: with
 * cluster-require-full-coverage on (Redis' default), every node refuses every command (CLUSTERDOWN)
 * from the moment a master is judged failed until its replica has taken over, so every decision
 * is degraded meanwhile instead of that master's share. Managed services may forbid CONFIG: then
 * nothing is said.
 */
export async function warnOfClusterSettings(redis: RedisConnection, log: Logger): Promise<boolean> {
  if (!redis.isCluster) return false;
  let replies: RedisReply[];
  try {
    replies = await redis.eachMaster((send) => send(['CONFIG', 'GET', 'cluster-require-full-coverage']));
  } catch (err) {
    log.debug({ err: (err as Error).message }, 'cannot read the cluster settings');
    return false;
  }
  const full = replies.some((reply) => Array.isArray(reply) && String(reply[1]) === 'yes');
  if (full)
    log.warn(
      'Redis Cluster: cluster-require-full-coverage is yes, so while a master is lost every node refuses ' +
        'every command and every decision is degraded; set it to no to lose only that master’s share',
    );
  return full;
}
