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
    return take(bucketIn(this.keys, name, rate, now), rate, now);
  }

  /** Takes a token from the bucket of one client (`key name|ip`) of a public key. */
  takeForClient(client: string, rate: number, now: number): number {
    return take(bucketIn(this.clients, client, rate, now), rate, now);
  }
}

/** The bucket of `id`, a full one the first time the id is seen. */
function bucketIn(
  buckets: { get(id: string): Bucket | undefined; set(id: string, bucket: Bucket): unknown },
  id: string,
  rate: number,
  now: number,
): Bucket {
  let bucket = buckets.get(id);
  if (bucket === undefined) {
    bucket = { tokens: rate, at: now };
    buckets.set(id, bucket);
  }
  return bucket;
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
