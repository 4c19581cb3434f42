import {
  type CustomerJobs,
  DEAD_LETTERS_KEPT,
  type WebhookJob,
  type WebhookOutbox,
} from '../webhook-outbox.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import { RedisScript } from './redis-script.js';

// KEYS: the due sorted set (id → when due), the jobs hash (id → JSON), the dead-letter list; one
// slot ({webhooks}). Times are the servers' clock, passed in: Redis only orders them.
const SCHEDULE = new RedisScript(`
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`);
const TAKE = new RedisScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  local job = redis.call('HGET', KEYS[2], id)
  if job then
    redis.call('ZADD', KEYS[1], ARGV[3], id)
    out[#out + 1] = job
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`);
// A retry or a dead letter of a job no longer in the hash (erased while in flight, or finished by
// another server after its lease ran out) adds nothing.
const RETRY = new RedisScript(`
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`);
const DEAD = new RedisScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
return 1
`);
const DONE = new RedisScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])
`);
// ARGV: how many job ids follow, the ids, then dead letters as stored (removed by value, so that a
// letter pushed meanwhile is untouched).
const FORGET = new RedisScript(`
local n, ids = 0, tonumber(ARGV[1])
for i = 2, ids + 1 do
  redis.call('ZREM', KEYS[1], ARGV[i])
  n = n + redis.call('HDEL', KEYS[2], ARGV[i])
end
for i = ids + 2, #ARGV do n = n + redis.call('LREM', KEYS[3], 0, ARGV[i]) end
return n
`);

/** Jobs read per HSCAN call when looking for a customer's (an erasure, an export). */
const SCAN_COUNT = '500';

/**
 * The webhook outbox in Redis: any server's dispatcher delivers what any server added, and what a
 * server leased but never finished (it died) is due again when the lease runs out.
 */
export class RedisWebhookOutbox implements WebhookOutbox {
  private readonly keyList: readonly string[];

  constructor(
    private readonly redis: RedisConnection,
    keys: RedisKeys,
  ) {
    this.keyList = [keys.webhooksDue(), keys.webhookJobs(), keys.webhooksDead()];
  }

  async add(job: WebhookJob, dueAt: number): Promise<void> {
    await SCHEDULE.run(this.redis, this.keyList, [job.id, JSON.stringify(job), String(dueAt)]);
  }

  async take(now: number, max: number, leaseMs: number): Promise<WebhookJob[]> {
    const jobs = await TAKE.run<string[]>(this.redis, this.keyList, [
      String(now),
      String(max),
      String(now + leaseMs),
    ]);
    return jobs.map((json) => JSON.parse(json) as WebhookJob);
  }

  async done(job: WebhookJob): Promise<void> {
    await DONE.run(this.redis, this.keyList, [job.id]);
  }

  async retry(job: WebhookJob, dueAt: number): Promise<void> {
    await RETRY.run(this.redis, this.keyList, [job.id, JSON.stringify(job), String(dueAt)]);
  }

  async dead(job: WebhookJob): Promise<void> {
    await DEAD.run(this.redis, this.keyList, [job.id, JSON.stringify(job), String(DEAD_LETTERS_KEPT)]);
  }

  async deadLetters(limit: number): Promise<WebhookJob[]> {
    const key = this.keyList[2]!;
    const jobs = await this.redis.send<string[]>(key, ['LRANGE', key, '0', String(limit - 1)]);
    return jobs.map((json) => JSON.parse(json) as WebhookJob);
  }

  pending(): Promise<number> {
    const key = this.keyList[0]!;
    return this.redis.send<number>(key, ['ZCARD', key]);
  }

  async jobsOf(customerIds: readonly string[]): Promise<CustomerJobs> {
    const { pending, dead } = await this.stored(customerIds);
    return { pending: pending.map(([, job]) => job), dead: dead.map(([, job]) => job) };
  }

  async forget(customerIds: readonly string[]): Promise<number> {
    const { pending, dead } = await this.stored(customerIds);
    if (pending.length === 0 && dead.length === 0) return 0;
    return FORGET.run<number>(this.redis, this.keyList, [
      String(pending.length),
      ...pending.map(([, job]) => job.id),
      ...dead.map(([json]) => json),
    ]);
  }

  /**
   * The customers' jobs as stored (JSON) and parsed: the jobs hash page by page (it may be long while
   * a webhook is down), the dead letters at once (a thousand at most).
   */
  private async stored(
    customerIds: readonly string[],
  ): Promise<{ pending: [string, WebhookJob][]; dead: [string, WebhookJob][] }> {
    const of = new Set(customerIds);
    const [, jobsKey, deadKey] = this.keyList as [string, string, string];
    const mine = (json: string): [string, WebhookJob][] => {
      const job = JSON.parse(json) as WebhookJob;
      return of.has(job.customerId) ? [[json, job]] : [];
    };
    const pending: [string, WebhookJob][] = [];
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.send<[string, string[]]>(jobsKey, [
        'HSCAN',
        jobsKey,
        cursor,
        'COUNT',
        SCAN_COUNT,
      ]);
      cursor = next;
      for (let i = 1; i < flat.length; i += 2) pending.push(...mine(flat[i]!));
    } while (cursor !== '0');
    const letters = await this.redis.send<string[]>(deadKey, ['LRANGE', deadKey, '0', '-1']);
    return { pending, dead: letters.flatMap(mine) };
  }
}
