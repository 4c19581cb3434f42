import { type LearnedFacts, NO_FACTS } from '../../learning/profile-learning.js';
import type { LearnedFactsStore, VersionedFacts } from '../learned-facts-store.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import { RedisScript } from './redis-script.js';

// KEYS: the customer's facts. ARGV: the JSON read before (empty: none), the new JSON.
// Sets only if nobody wrote meanwhile: 1 when set, 0 when the facts changed (read again, retry).
const COMPARE_AND_SET = new RedisScript(`
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`);

const MAX_ATTEMPTS = 10;
/** In the background (feedback consumers): a slow Redis may take its time. */
const TIMEOUT = { timeoutMs: 2000 };

/**
 * Learned facts on Redis: one JSON string per customer (`p:learned:{id}`, tagged like the
 * customer's contact keys), written by compare-and-set, since consumers of two feedback shards may
 * apply a customer's outcome and conversion at once. No expiry: a relationship value is for life;
 * erasure deletes it.
 */
export class RedisLearnedFactsStore implements LearnedFactsStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  async get(customerId: string): Promise<LearnedFacts> {
    return (await this.read(customerId)).facts;
  }

  async read(customerId: string): Promise<VersionedFacts> {
    const key = this.keys.learned(customerId);
    const text = await this.redis.send<string | null>(key, ['GET', key], TIMEOUT);
    return { facts: parse(text), version: text ?? '' };
  }

  async replace(customerId: string, read: VersionedFacts, next: LearnedFacts): Promise<boolean> {
    const key = this.keys.learned(customerId);
    const args = [String(read.version), JSON.stringify(next)];
    return (await COMPARE_AND_SET.run<number>(this.redis, [key], args, TIMEOUT)) === 1;
  }

  async update(customerId: string, change: (current: LearnedFacts) => LearnedFacts): Promise<LearnedFacts> {
    const key = this.keys.learned(customerId);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const text = await this.redis.send<string | null>(key, ['GET', key], TIMEOUT);
      const current = parse(text);
      const next = change(current);
      if (next === current) return current;
      const set = await COMPARE_AND_SET.run<number>(
        this.redis,
        [key],
        [text ?? '', JSON.stringify(next)],
        TIMEOUT,
      );
      if (set === 1) return next;
    }
    throw new Error(`learned facts of ${customerId} kept changing under ${MAX_ATTEMPTS} attempts`);
  }

  async erase(customerId: string): Promise<void> {
    const key = this.keys.learned(customerId);
    await this.redis.send(key, ['DEL', key]);
  }

  async each(visit: (customerId: string, facts: LearnedFacts) => Promise<void>): Promise<number> {
    const pattern = `${this.keys.learned('')}`.replace('{}', '{*}');
    let visited = 0;
    await this.redis.scan(pattern, async (found, send) => {
      for (const key of found) {
        const id = key.slice(key.indexOf('{') + 1, key.lastIndexOf('}'));
        await visit(id, parse((await send(['GET', key])) as string | null));
        visited++;
      }
    });
    return visited;
  }
}

function parse(text: string | null): LearnedFacts {
  if (text === null) return NO_FACTS;
  return { ...NO_FACTS, ...(JSON.parse(text) as Partial<LearnedFacts>) };
}
