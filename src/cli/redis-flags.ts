import type { RedisConfig } from '../config.js';
import { UsageError } from './args.js';

/** The flags every command that talks to Redis takes; spread into a command's own flags. */
export const REDIS_FLAGS = {
  redis: { type: 'string', placeholder: 'URL', description: 'one Redis (default: $REDIS_URL)' },
  cluster: {
    type: 'string',
    placeholder: 'URL,URL',
    description: 'Redis Cluster nodes instead (default: $REDIS_CLUSTER_NODES)',
  },
  prefix: {
    type: 'string',
    placeholder: 'P',
    description: 'key prefix (default: $REDIS_PREFIX or offerloop)',
  },
} as const;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Where a command finds Redis: `--redis` or `--cluster` (never both), else REDIS_URL or
 * REDIS_CLUSTER_NODES, else `fallbackUrl` (null: the command must be told). A background
 * command's calls get a long deadline.
 */
export function redisTargetOf(
  flags: {
    readonly redis?: string | undefined;
    readonly cluster?: string | undefined;
    readonly prefix?: string | undefined;
  },
  env: Env,
  fallbackUrl: string | null,
): RedisConfig {
  const fromEnv = (name: string) => (env[name] === '' ? undefined : env[name]);
  if (flags.redis !== undefined && flags.cluster !== undefined) {
    throw new UsageError('give --redis or --cluster, not both');
  }
  const prefix = flags.prefix ?? fromEnv('REDIS_PREFIX') ?? 'offerloop';
  const url = flags.redis ?? (flags.cluster === undefined ? fromEnv('REDIS_URL') : undefined);
  const cluster = flags.cluster ?? (url === undefined ? fromEnv('REDIS_CLUSTER_NODES') : undefined);
  if (url === undefined && cluster !== undefined) {
    const nodes = cluster
      .split(',')
      .map((n) => n.trim())
      .filter((n) => n !== '');
    if (nodes.length === 0) throw new UsageError('--cluster needs at least one URL');
    return { url: null, clusterNodes: nodes, prefix, timeoutMs: 10_000 };
  }
  const target = url ?? fallbackUrl;
  if (target === null) throw new UsageError('say where Redis is: --redis URL or --cluster URL,URL');
  return { url: target, clusterNodes: [], prefix, timeoutMs: 10_000 };
}

/** A command reads its population from a file (--profiles) or from Redis, not both. */
export function checkPopulationFlags(flags: {
  readonly profiles?: string | undefined;
  readonly redis?: string | undefined;
  readonly cluster?: string | undefined;
}): void {
  if (flags.profiles !== undefined && (flags.redis !== undefined || flags.cluster !== undefined))
    throw new UsageError('give --profiles or Redis (--redis, --cluster), not both');
}
