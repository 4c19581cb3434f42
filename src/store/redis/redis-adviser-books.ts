import type { AdviserBooks } from '../adviser-books.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import { RedisScript } from './redis-script.js';

// KEYS: the customer → adviser hash, the adviser's book. ARGV: the adviser, the prefix of book keys,
// then the customers. Every book shares the tag {advisers} with the hash (one slot), so the other
// advisers' books a customer leaves are reachable from here; books are loaded rarely, and small.
const PUT = new RedisScript(`
local of, book, adviser, prefix = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
for _, c in ipairs(redis.call('SMEMBERS', book)) do redis.call('HDEL', of, c) end
redis.call('DEL', book)
for i = 3, #ARGV do
  local c = ARGV[i]
  local before = redis.call('HGET', of, c)
  if before and before ~= adviser then redis.call('SREM', prefix .. before, c) end
  redis.call('HSET', of, c, adviser)
  redis.call('SADD', book, c)
end
return #ARGV - 2
`);

// KEYS: the customer → adviser hash. ARGV: the prefix of book keys, then the customers: each leaves
// the book the hash names (a customer is in one book at most).
const FORGET = new RedisScript(`
local of, prefix, n = KEYS[1], ARGV[1], 0
for i = 2, #ARGV do
  local c = ARGV[i]
  local adviser = redis.call('HGET', of, c)
  if adviser then
    redis.call('SREM', prefix .. adviser, c)
    redis.call('HDEL', of, c)
    n = n + 1
  end
end
return n
`);

/** Advisers' books shared by every server: a set per adviser, and a hash customer → adviser. */
export class RedisAdviserBooks implements AdviserBooks {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  async put(adviserId: string, customerIds: readonly string[]): Promise<void> {
    await PUT.run(
      this.redis,
      [this.keys.adviserOf(), this.keys.adviserBook(adviserId)],
      [adviserId, this.keys.adviserBook(''), ...new Set(customerIds)],
    );
  }

  book(adviserId: string): Promise<readonly string[]> {
    const key = this.keys.adviserBook(adviserId);
    return this.redis.send<string[]>(key, ['SMEMBERS', key]);
  }

  adviserOf(customerId: string): Promise<string | null> {
    const key = this.keys.adviserOf();
    return this.redis.send<string | null>(key, ['HGET', key, customerId]);
  }

  forget(customerIds: readonly string[]): Promise<number> {
    return FORGET.run<number>(
      this.redis,
      [this.keys.adviserOf()],
      [this.keys.adviserBook(''), ...customerIds],
    );
  }
}
