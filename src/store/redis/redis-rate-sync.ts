import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import { RedisScript } from './redis-script.js';

// KEYS: the taken hash. ARGV: seconds to expire, then field, count, field, count… Adds each count
// (0 included: HINCRBY by 0 reads the total) and answers the totals in the same order, in the same
// step, so that the growth of a total between two syncs less our own adds is exactly the others'.
const ADD_AND_READ = new RedisScript(`
local totals = {}
for i = 2, #ARGV, 2 do totals[#totals + 1] = redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return totals
`);

/** What the sync needs of the rate limiter (`http/rate-limiter.ts`, where the arithmetic is). */
export interface SharedRateLimiter {
  /** Each key seen, with the requests it let through since the last call. */
  drainTaken(): [name: string, taken: number][];
  /** Charges key `name` with what the others took, from the `total` read after adding `added`. */
  settle(name: string, added: number, total: number): void;
  /** The next sync is a new baseline. */
  forgetTotals(): void;
}

/** Whether key limits hold across servers now, or per server (Redis away). */
export type RateLimitMode = 'cluster' | 'local';

/** The hash lives on while any server syncs; a day after the last one, it goes. */
const TTL_S = String(86_400);
/** Off the request path: a slow answer is better than a lost baseline (a failed sync starts over). */
const SYNC_TIMEOUT_MS = 1000;

/**
 * Makes each API key's rate limit hold across servers: every `syncMs` this server adds the requests
 * each key let through here to a shared count in Redis (one script call, one hash, one slot) and
 * charges each key's bucket with what the other servers took meanwhile. A request never waits for
 * it: the limiter decides locally. The error bound is in `http/rate-limiter.ts`.
 *
 * While Redis is away the limits are per server (the local buckets, uncharged): logged once per
 * outage, shown in `/health/ready` (`rateLimits`) and on `/metrics` (watchRateSync). What a server
 * let through meanwhile is never charged to the others later (it would starve them for as long as
 * the outage lasted): the first sync after is a baseline.
 */
export class RedisRateSync {
  private readonly timer: NodeJS.Timeout;
  private readonly fields = new Map<string, string>();
  private syncing = false;
  private closed = false;
  private current: RateLimitMode = 'cluster';
  private fellBack = 0;

  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly limiter: SharedRateLimiter,
    private readonly log: Logger,
    syncMs = 100,
  ) {
    this.timer = setInterval(() => void this.sync(), syncMs).unref();
  }

  get mode(): RateLimitMode {
    return this.current;
  }

  /** Times the limits fell back to per server (Redis away) since start. */
  get fallbacks(): number {
    return this.fellBack;
  }

  /** One sync: adds this server's takes, charges the others'. Never throws. Public for tests. */
  async sync(): Promise<void> {
    if (this.syncing || this.closed) return;
    const taken = this.limiter.drainTaken();
    if (taken.length === 0) return;
    if (!this.redis.reaches(this.keys.rateTaken())) return this.fallBack('Redis is unavailable');
    this.syncing = true;
    const args: string[] = [TTL_S];
    for (const [name, n] of taken) args.push(this.fieldOf(name), String(n));
    try {
      const totals = await ADD_AND_READ.run<number[]>(this.redis, [this.keys.rateTaken()], args, {
        timeoutMs: SYNC_TIMEOUT_MS,
      });
      if (this.closed) return;
      for (let i = 0; i < taken.length; i++) {
        const [name, n] = taken[i]!;
        this.limiter.settle(name, n, Number(totals[i]));
      }
      if (this.current === 'local') {
        this.current = 'cluster';
        this.log.info('rate limits hold across servers again');
      }
    } catch (err) {
      if (!this.closed) this.fallBack((err as Error).message);
    } finally {
      this.syncing = false;
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }

  private fallBack(why: string): void {
    this.limiter.forgetTotals();
    if (this.current === 'cluster') {
      this.current = 'local';
      this.fellBack++;
      this.log.warn({ err: why }, 'rate limits per server until Redis answers');
    }
  }

  /** A key's field: a hash of it, for the key is a secret and Redis is not the place for it. */
  private fieldOf(name: string): string {
    let field = this.fields.get(name);
    if (field === undefined) {
      field = createHash('sha256').update(name).digest('hex').slice(0, 16);
      this.fields.set(name, field);
    }
    return field;
  }
}

/** The sync's state on `/metrics` (docs/metrics.md), read at scrape time. Only servers on Redis sync. */
export function watchRateSync(registry: Registry, sync: RedisRateSync): void {
  new Gauge({
    name: 'offerloop_rate_limits_local',
    help: "1 while API keys' rate limits hold per server only (Redis away), 0 while they hold across servers.",
    registers: [registry],
    collect() {
      this.set(sync.mode === 'local' ? 1 : 0);
    },
  });
  new Counter({
    name: 'offerloop_rate_limit_fallbacks_total',
    help: "Times API keys' rate limits fell back to per server because the sync with Redis failed.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sync.fallbacks);
    },
  });
}
