import { CHANNELS, channelIndex } from '../../domain/channel.js';
import type { ContactEvent, ContactOutcome } from '../../domain/contact.js';
import { DAY_MS } from '../../ruleset/time.js';
import {
  type ContactHistory,
  type ContactHistoryStore,
  MemoryContactHistoryStore,
} from '../contact-history-store.js';
import { type RedisConnection, RedisUnavailableError } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import { RedisScript } from './redis-script.js';

// KEYS: contacts list, revision. Returns { revision, events }.
const READ = new RedisScript(`
return { redis.call('GET', KEYS[2]) or '0', redis.call('LRANGE', KEYS[1], 0, -1) }
`);

// KEYS: contacts list, revision. ARGV: expected revision (-1: any), events kept, TTL ms, events…
// Returns { new revision } when appended, or { revision, events } of the newer history when not.
// The TTL only ever grows: an impression must not cut short the life of an older reject.
const APPEND = new RedisScript(`
local revision = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[1] ~= '-1' and revision ~= tonumber(ARGV[1]) then
  return { tostring(revision), redis.call('LRANGE', KEYS[1], 0, -1) }
end
redis.call('RPUSH', KEYS[1], unpack(ARGV, 4))
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
local ttl = math.max(tonumber(ARGV[3]), redis.call('PTTL', KEYS[1]))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('SET', KEYS[2], revision + 1, 'PX', ttl)
return { tostring(revision + 1) }
`);

/**
 * How long contacts matter to the contact policies in force: impressions for the longest limit
 * window, accepts and rejects for the longest suppression. A customer's history expires after
 * that, so anonymous visitors' histories do not pile up in Redis.
 */
export interface HistoryRetention {
  readonly impressionsMs: number;
  readonly reactionsMs: number;
}

export interface RedisHistoryOptions {
  /** Events kept per customer, newest. */
  readonly maxEvents: number;
  /** Read for every write, so that a ruleset reload changes it. */
  readonly retention: () => HistoryRetention;
}

const OUTCOMES: readonly ContactOutcome[] = ['impression', 'accept', 'reject'];

/**
 * Contact history in Redis, exact across nodes: reads and appends are Lua scripts over the
 * customer's two keys (one slot, thanks to the hash tag), so a compare-and-append is atomic.
 * While Redis is down, reads and writes fall back to this node's memory and say so (`degraded`).
 */
export class RedisContactHistoryStore implements ContactHistoryStore {
  private readonly fallback = new MemoryContactHistoryStore({
    maxCustomers: 100_000,
    maxEventsPerCustomer: 100,
  });

  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly options: RedisHistoryOptions = {
      maxEvents: 100,
      retention: () => ({ impressionsMs: 30 * DAY_MS, reactionsMs: 365 * DAY_MS }),
    },
  ) {}

  async read(customerId: string): Promise<ContactHistory> {
    try {
      const reply = await READ.run<[string, string[]]>(this.redis, this.keyPair(customerId), []);
      return { revision: Number(reply[0]), events: reply[1].map(decodeEvent), degraded: false };
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      return { ...(await this.fallback.read(customerId)), degraded: true };
    }
  }

  async appendIfUnchanged(
    customerId: string,
    seen: ContactHistory,
    events: readonly ContactEvent[],
  ): Promise<ContactHistory | null> {
    // A decision taken on this node's memory stays there: it cannot be checked against Redis.
    if (seen.degraded)
      return this.fallback.appendIfUnchanged(customerId, { ...seen, degraded: false }, events);
    return this.write(customerId, String(seen.revision), events);
  }

  async append(customerId: string, events: readonly ContactEvent[]): Promise<void> {
    await this.write(customerId, '-1', events);
  }

  async erase(customerId: string): Promise<void> {
    await this.fallback.erase(customerId);
    const [contacts, revision] = this.keyPair(customerId);
    // One DEL of two keys of one slot: atomic, and valid in a cluster.
    await this.redis.send(contacts, ['DEL', contacts, revision]);
  }

  private async write(
    customerId: string,
    expected: string,
    events: readonly ContactEvent[],
  ): Promise<ContactHistory | null> {
    if (events.length === 0) return null;
    const retention = this.options.retention();
    const ttl = events.some((e) => e.outcome !== 'impression')
      ? retention.reactionsMs
      : retention.impressionsMs;
    try {
      const reply = await APPEND.run<[string] | [string, string[]]>(this.redis, this.keyPair(customerId), [
        expected,
        String(this.options.maxEvents),
        String(Math.max(ttl, 1)),
        ...events.map(encodeEvent),
      ]);
      if (reply.length === 1) return null;
      return { revision: Number(reply[0]), events: reply[1].map(decodeEvent), degraded: false };
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      await this.fallback.append(customerId, events);
      return null;
    }
  }

  private keyPair(customerId: string): [string, string] {
    return [this.keys.contacts(customerId), this.keys.contactsRevision(customerId)];
  }
}

/** `at|channel outcome|offerId|campaignId`, e.g. `1767225600000|10|gold-card|cards`. */
export function encodeEvent(e: ContactEvent): string {
  return `${e.at}|${channelIndex(e.channel)}${OUTCOMES.indexOf(e.outcome)}|${e.offerId}|${e.campaignId}`;
}

export function decodeEvent(text: string): ContactEvent {
  const a = text.indexOf('|');
  const b = text.indexOf('|', a + 1);
  const c = text.indexOf('|', b + 1);
  return {
    at: Number(text.slice(0, a)),
    channel: CHANNELS[text.charCodeAt(a + 1) - 48]!,
    outcome: OUTCOMES[text.charCodeAt(a + 2) - 48]!,
    offerId: text.slice(b + 1, c),
    campaignId: text.slice(c + 1),
  };
}
