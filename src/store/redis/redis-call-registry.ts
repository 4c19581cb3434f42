import type { Logger } from 'pino';
import { CALL_TTL_MS, type CallRegistry, type CallState, MemoryCallRegistry } from '../call-registry.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

/**
 * Calls in Redis, so that a call.context reaching another server than its call.started finds the
 * call. This server's memory keeps a copy that is read only when Redis fails: a CTI that keeps
 * talking to one server goes on working while Redis is away, and a copy that another server's
 * call.ended made stale is never preferred to Redis. Guarded by channels-redis.int.test.ts.
 */
export class RedisCallRegistry implements CallRegistry {
  private readonly local = new MemoryCallRegistry();

  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly log: Logger,
  ) {}

  async get(callId: string): Promise<CallState | null> {
    const key = this.keys.call(callId);
    try {
      const json = await this.redis.send<string | null>(key, ['GET', key]);
      return json === null ? null : (JSON.parse(json) as CallState);
    } catch (err) {
      const local = await this.local.get(callId);
      if (local === null) throw err;
      return local;
    }
  }

  async put(call: CallState): Promise<void> {
    await this.local.put(call);
    const key = this.keys.call(call.callId);
    try {
      await this.redis.send(key, ['SET', key, JSON.stringify(call), 'PX', String(CALL_TTL_MS)]);
    } catch (err) {
      this.log.warn({ err }, 'call state kept in this server only: Redis unavailable');
    }
  }

  /** Calls in Redis (every master scanned: calls in progress are few) of any of the ids. */
  async callsOf(customerIds: readonly string[]): Promise<CallState[]> {
    const pattern = this.keys.call('*');
    const calls: CallState[] = [];
    await this.redis.scan(pattern, async (keys, send) => {
      for (const key of keys) {
        const json = (await send(['GET', key])) as string | null;
        const call = json === null ? null : (JSON.parse(json) as CallState);
        if (call?.customerId != null && customerIds.includes(call.customerId)) calls.push(call);
      }
    });
    return calls;
  }

  async forgetCustomers(customerIds: readonly string[]): Promise<number> {
    await this.local.forgetCustomers(customerIds);
    const calls = await this.callsOf(customerIds);
    for (const call of calls) {
      const key = this.keys.call(call.callId);
      await this.redis.send(key, ['DEL', key]);
    }
    return calls.length;
  }

  async end(callId: string): Promise<CallState | null> {
    const local = await this.local.end(callId);
    const key = this.keys.call(callId);
    try {
      const json = await this.redis.send<string | null>(key, ['GETDEL', key]);
      return json === null ? null : (JSON.parse(json) as CallState);
    } catch (err) {
      if (local !== null) return local;
      throw err;
    }
  }
}
