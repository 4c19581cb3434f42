import type { RedisConnection, RedisReply } from './redis-connection.js';

export type StreamEntry = readonly [id: string, fields: readonly string[]];

/** Entries per XRANGE: a page is one round trip, small enough not to stall Redis. */
const PAGE = 1000;

/**
 * Pages of XRANGE start..end ('-' and '+' for the whole stream); each page starts just after the
 * last id of the previous one. Off the request path: no deadline but the connection's.
 */
export async function* streamPages(
  redis: RedisConnection,
  key: string,
  start = '-',
  end = '+',
): AsyncGenerator<StreamEntry[]> {
  for (;;) {
    let reply: RedisReply;
    try {
      reply = await redis.send<RedisReply>(key, ['XRANGE', key, start, end, 'COUNT', String(PAGE)]);
    } catch (err) {
      throw new Error(`reading ${key}: ${(err as Error).message}`);
    }
    const page = streamEntries(reply, key);
    if (page.length > 0) yield page;
    if (page.length < PAGE) return;
    // Exclusive start (Redis 6.2+): an id can be the last of its millisecond, so `id+1` is not an id.
    start = `(${page[page.length - 1]![0]}`;
  }
}

function streamEntries(reply: RedisReply, key: string): StreamEntry[] {
  if (!Array.isArray(reply)) throw new Error(`reading ${key}: XRANGE answered no list`);
  return reply.map((entry: RedisReply): StreamEntry => {
    if (Array.isArray(entry) && typeof entry[0] === 'string' && Array.isArray(entry[1])) {
      const fields = entry[1] as readonly RedisReply[];
      if (fields.every((f) => typeof f === 'string')) return [entry[0], fields as readonly string[]];
    }
    throw new Error(`reading ${key}: XRANGE answered an entry that is not [id, fields]`);
  });
}
