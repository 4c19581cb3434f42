import { createHash } from 'node:crypto';
import { ErrorReply } from 'redis';
import type { RedisArg, RedisConnection, RedisReply, SendOptions } from './redis-connection.js';

/**
 * A Lua script run by its SHA1 (EVALSHA), loaded with EVAL the first time a node does not know it.
 * Every key it touches is passed in KEYS, so that a cluster routes it by the first one and refuses
 * keys of different slots.
 */
export class RedisScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run<T extends RedisReply>(
    redis: RedisConnection,
    keys: readonly string[],
    args: readonly RedisArg[],
    options?: SendOptions,
  ): Promise<T> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await redis.send<T>(keys[0], ['EVALSHA', this.sha, ...tail], options);
    } catch (err) {
      if (!(err instanceof ErrorReply) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.send<T>(keys[0], ['EVAL', this.source, ...tail], options);
    }
  }
}
