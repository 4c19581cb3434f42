import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import {
  ErasedIds,
  ErasureHasher,
  type ErasureMessage,
  type Tombstone,
  type TombstoneStore,
  tombstoneRefresher,
} from '../erased-ids.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

/**
 * Tombstones in one sorted set (`p:erased`: hash → when erased, epoch ms of the erasing server),
 * shared by every server and every bulk load. One key: a few hundred thousand members at most
 * (three years of erasures), read whole only when a server or a load starts.
 */
export class RedisTombstoneStore implements TombstoneStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  async since(since: number): Promise<readonly Tombstone[]> {
    const key = this.keys.erased();
    const flat = await this.redis.send<string[]>(
      key,
      ['ZRANGE', key, String(since), '+inf', 'BYSCORE', 'WITHSCORES'],
      { timeoutMs: 10_000 },
    );
    const out: Tombstone[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ tombstone: flat[i]!, at: Number(flat[i + 1]) });
    return out;
  }

  async add(tombstones: readonly Tombstone[]): Promise<void> {
    if (tombstones.length === 0) return;
    const key = this.keys.erased();
    const args = ['ZADD', key];
    for (const t of tombstones) args.push(String(t.at), t.tombstone);
    await this.redis.send(key, args, { timeoutMs: 5000 });
  }

  async remove(tombstone: string): Promise<void> {
    const key = this.keys.erased();
    await this.redis.send(key, ['ZREM', key, tombstone]);
  }

  expire(before: number): Promise<number> {
    const key = this.keys.erased();
    return this.redis.send<number>(key, ['ZREMRANGEBYSCORE', key, '-inf', `(${before}`]);
  }
}

/**
 * The hasher of a deployment: OFFERLOOP_ERASURE_PEPPER when configured (it must be the same on
 * every server and for `offerloop load`); otherwise a random pepper kept in Redis, created by the
 * first server to start. The latter is weaker: whoever reads a copy of Redis can then test guessed
 * ids against the tombstones, so a warning says so.
 */
export async function erasureHasherOf(
  redis: RedisConnection,
  keys: RedisKeys,
  pepper: string | null,
  log: Logger | null,
): Promise<ErasureHasher> {
  let hasher: ErasureHasher;
  if (pepper !== null) {
    hasher = new ErasureHasher(pepper);
  } else {
    const key = keys.erasurePepper();
    await redis.send(key, ['SET', key, randomBytes(32).toString('base64'), 'NX'], { timeoutMs: 5000 });
    const kept = await redis.send<string>(key, ['GET', key], { timeoutMs: 5000 });
    log?.warn(
      'OFFERLOOP_ERASURE_PEPPER is not set: tombstones of erased customers are keyed with a pepper kept in Redis itself (set one for production, the same on every server)',
    );
    hasher = new ErasureHasher(Buffer.from(kept, 'base64'));
  }
  // Every server and every load must key tombstones alike, or an erased customer would come back:
  // the first one leaves a check value, the others compare theirs with it.
  const checkKey = keys.erasurePepperCheck();
  const check = hasher.tombstone(PEPPER_CHECK);
  await redis.send(checkKey, ['SET', checkKey, check, 'NX'], { timeoutMs: 5000 });
  const expected = await redis.send<string>(checkKey, ['GET', checkKey], { timeoutMs: 5000 });
  if (expected !== check)
    throw new ErasurePepperMismatchError(
      'OFFERLOOP_ERASURE_PEPPER is not the pepper the tombstones in Redis were made with: set the same one on every server and for offerloop load',
    );
  return hasher;
}

const PEPPER_CHECK = '\u0000pepper-check';

/** A server or a load with another pepper than the deployment's: it would not recognise erased ids. */
export class ErasurePepperMismatchError extends Error {}

/**
 * The tombstones a process that erases nothing needs to know (`offerloop worker`): read at start,
 * kept up to date from the `erasures` channel, after an outage, and every 30 s.
 */
export async function followTombstones(
  redis: RedisConnection,
  keys: RedisKeys,
  pepper: string | null,
  log: Logger,
  clock: () => number,
): Promise<{ readonly erased: ErasedIds; close(): void }> {
  const erased = new ErasedIds(await erasureHasherOf(redis, keys, pepper, log));
  const refresh = tombstoneRefresher(new RedisTombstoneStore(redis, keys), erased, clock);
  await refresh();
  const onUp = () => void refresh().catch(() => {});
  redis.on('up', onUp);
  const timer = setInterval(onUp, 30_000).unref();
  await redis.subscribe(keys.erasures(), (text) => {
    const message = JSON.parse(text) as ErasureMessage;
    if (message.kind === 'lift') erased.removeTombstone(message.tombstone);
    else erased.addTombstones(message.ids.map((id) => erased.tombstoneOf(id)));
  });
  return {
    erased,
    close() {
      clearInterval(timer);
      redis.off('up', onUp);
    },
  };
}
