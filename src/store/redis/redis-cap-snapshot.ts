import type { CapUsage } from '../../domain/contact.js';
import { DAY_MS } from '../../ruleset/time.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

/**
 * The shared cap and budget counters as they are now, read once (three HGETALLs) and never
 * written: what `offerloop what-if` starts from on Redis, as a server's run starts from its live
 * counters. `today` is the UTC day of `now`.
 */
export async function readCapSnapshot(
  redis: RedisConnection,
  keys: RedisKeys,
  now: number,
): Promise<CapUsage> {
  const read = async (key: string) => {
    const flat = await redis.send<string[]>(key, ['HGETALL', key]);
    const counts = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) counts.set(flat[i]!, Number(flat[i + 1]));
    return counts;
  };
  const day = Math.floor(now / DAY_MS);
  const [total, today, spend] = await Promise.all([
    read(keys.capsTotal()),
    read(keys.capsDay(day)),
    read(keys.capsSpend()),
  ]);
  const count = (counts: Map<string, number>, field: string) => counts.get(field) ?? 0;
  return {
    offerTotal: (id) => count(total, `o:${id}`),
    offerToday: (id, at) => (Math.floor(at / DAY_MS) === day ? count(today, `o:${id}`) : 0),
    campaignTotal: (id) => count(total, `c:${id}`),
    campaignToday: (id, at) => (Math.floor(at / DAY_MS) === day ? count(today, `c:${id}`) : 0),
    campaignSpend: (id) => count(spend, `c:${id}`),
  };
}
