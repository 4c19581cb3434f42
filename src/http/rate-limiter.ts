import { LRUCache } from 'lru-cache';

/**
 * One token bucket: `tokens` left at `at` (ms). Holds up to one second's worth of requests; below
 * zero when other servers took more of a shared key than this one had left (a debt it refills).
 */
interface Bucket {
  tokens: number;
  at: number;
  /** Requests let through since the last `drainTaken()` (key buckets; client buckets never drain). */
  taken: number;
}

/** Client IPs remembered for per-IP limits; the least recently seen are forgotten first. */
const MAX_CLIENTS = 100_000;

/**
 * Token buckets per API key and per client IP. A bucket of rate R holds at most R tokens (a burst of
 * one second) and refills at R per second; a request takes one token. Pure: the caller passes the
 * clock. Answers 0 when the request may go, else the milliseconds until a token is back.
 *
 * **Cluster-wide key limits.** Alone, each server lets R per second through: N servers, N × R. With
 * Redis, a sync (`store/redis/redis-rate-sync.ts`) hands each key's `drainTaken()` counts to a
 * shared total every P ms and `charge()`s the bucket with what the other servers took meanwhile
 * (`SharedTakes`), so a bucket refills only with what the others left. The decision stays local
 * and synchronous; what a server does not know yet is the error:
 *
 * Over any T seconds the cluster lets through at most R × (T + 1), what one bucket would, plus what
 * the other servers let through in the last L before the last request admitted that its server had
 * not heard of yet, L = 2P + one round trip (a count waits up to P to leave, the reader up to P to
 * ask). Each other server lets through at most its bucket plus R × L in L, so the extra is at most
 * (N − 1) × R × (1 + L) (every other server bursting a full bucket unheard), and (N − 1) × (R × L + 1)
 * under sustained load (buckets drained). It does not grow with T: a burst is a debt the buckets
 * repay. Per-process limits allowed N × R × (T + 1). A server's first sync (at start, and after an
 * outage) is a baseline: what the others took in the P + one round trip before it is not charged to
 * it, once: at most a bucket and R × (P + round trip) each, R × (P + round trip) + 1 each under
 * sustained load. The servers' rates are assumed equal (a rolling config change makes the bound
 * the larger rate's). Per-client-IP limits of public keys stay per server. Without Redis (or while
 * it is away) each server keeps its local limit, as before.
 */
export class RateLimiter {
  private readonly keys = new Map<string, Bucket>();
  private readonly clients = new LRUCache<string, Bucket>({ max: MAX_CLIENTS });
  private readonly shared = new SharedTakes();

  /** Takes a token from the bucket of key `name`. */
  takeForKey(name: string, rate: number, now: number): number {
    return take(bucketIn(this.keys, name, rate, now), rate, now);
  }

  /** Takes a token from the bucket of one client (`key name|ip`) of a public key. */
  takeForClient(client: string, rate: number, now: number): number {
    return take(bucketIn(this.clients, client, rate, now), rate, now);
  }

  /**
   * Each key seen so far, with the requests it let through since the last call (0 included: the
   * sync still needs the others' use of it), and counts from zero again.
   */
  drainTaken(): [name: string, taken: number][] {
    const out: [string, number][] = [];
    for (const [name, bucket] of this.keys) {
      out.push([name, bucket.taken]);
      bucket.taken = 0;
    }
    return out;
  }

  /**
   * Takes `count` tokens that other servers' requests used from key `name`'s bucket, below zero if
   * need be: the cluster went over, and this server waits until the debt is refilled.
   */
  charge(name: string, count: number): void {
    const bucket = this.keys.get(name);
    if (bucket !== undefined && count > 0) bucket.tokens -= count;
  }

  /**
   * A sync added `added` of key `name`'s takes to the shared count and read `total` back: charges
   * the bucket with what the other servers took since the previous sync.
   */
  settle(name: string, added: number, total: number): void {
    this.charge(name, this.shared.othersTook(name, added, total));
  }

  /** A sync failed: the next one that succeeds is a new baseline (SharedTakes.forget()). */
  forgetTotals(): void {
    this.shared.forget();
  }
}

/**
 * What the other servers took of each key, from the shared totals a sync reads back: the growth of
 * the total since the previous sync less what this server added. Syncs must not overlap. Pure.
 */
export class SharedTakes {
  private readonly totals = new Map<string, number>();

  /**
   * `total`: key `name`'s shared count, read in the same step that added this server's `added`.
   * Answers the others' takes since the previous total: 0 the first time (a baseline), and 0 when
   * the total went down (Redis lost its counts: a restart, an expiry), which starts over from it.
   */
  othersTook(name: string, added: number, total: number): number {
    const previous = this.totals.get(name);
    this.totals.set(name, total);
    if (previous === undefined) return 0;
    const others = total - previous - added;
    return others > 0 ? others : 0;
  }

  /**
   * Forgets every total: after a failed sync nobody knows whether its counts arrived, and what the
   * others took while this server could not hear them must not fall on it at once when it can.
   */
  forget(): void {
    this.totals.clear();
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
    bucket = { tokens: rate, at: now, taken: 0 };
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
    bucket.taken++;
    return 0;
  }
  return Math.ceil(((1 - bucket.tokens) * 1000) / rate);
}
