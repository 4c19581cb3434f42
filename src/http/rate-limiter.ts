import { LRUCache } from 'lru-cache';

/** One token bucket: `tokens` left at `at` (ms). Holds up to one second's worth of requests. */
interface Bucket {
  tokens: number;
  at: number;
}

/** Client IPs remembered for per-IP limits; the least recently seen are forgotten first. */
const MAX_CLIENTS = 100_000;

/**
 * Token buckets per API key and per client IP. A bucket of rate R holds at most R tokens (a burst of
 * one second) and refills at R per second; a request takes one token. Pure: the caller passes the
 * clock. Answers 0 when the request may go, else the milliseconds until a token is back.
 */
export class RateLimiter {
  private readonly keys = new Map<string, Bucket>();
  private readonly clients = new LRUCache<string, Bucket>({ max: MAX_CLIENTS });

  /** Takes a token from the bucket of key `name`. */
  takeForKey(name: string, rate: number, now: number): number {
    let bucket = this.keys.get(name);
    if (bucket === undefined) {
      bucket = { tokens: rate, at: now };
      this.keys.set(name, bucket);
    }
    return take(bucket, rate, now);
  }

  /** Takes a token from the bucket of one client (`key name|ip`) of a public key. */
  takeForClient(client: string, rate: number, now: number): number {
    let bucket = this.clients.get(client);
    if (bucket === undefined) {
      bucket = { tokens: rate, at: now };
      this.clients.set(client, bucket);
    }
    return take(bucket, rate, now);
  }
}

function take(bucket: Bucket, rate: number, now: number): number {
  const elapsed = now - bucket.at;
  if (elapsed > 0) {
    bucket.tokens = Math.min(rate, bucket.tokens + (elapsed * rate) / 1000);
    bucket.at = now;
  }
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return 0;
  }
  return Math.ceil(((1 - bucket.tokens) * 1000) / rate);
}
