import { DEAD_LETTERS_KEPT, type WebhookJob, type WebhookOutbox } from '../webhook-outbox.js';
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
const DEAD = new RedisScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
return 1
`);
const DONE = new RedisScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])
`);

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

  retry(job: WebhookJob, dueAt: number): Promise<void> {
    return this.add(job, dueAt);
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
}
