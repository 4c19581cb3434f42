import { LRUCache } from 'lru-cache';
import { ErrorReply } from 'redis';
import { CHANNELS, channelIndex } from '../../domain/channel.js';
import { CONTACT_OUTCOMES, type ContactEvent, type ContactOutcome, isTouch } from '../../domain/contact.js';
import { RedisUnavailableError } from '../../errors.js';
import type { ContactLookback } from '../../ruleset/snapshot.js';
import {
  APPENDED,
  type AppendOutcome,
  CONTACT_EVENTS_KEPT,
  type ContactHistory,
  type ContactHistoryStore,
  MemoryContactHistoryStore,
} from '../contact-history-store.js';
import type { RedisArg, RedisConnection, SendOptions } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import type { HistoryProbe } from './redis-profile-store.js';
import { callOf, RedisBatch, RedisScript } from './redis-script.js';

// KEYS: contacts list, revision. Returns { revision, events }.
const READ = new RedisScript(`
return { redis.call('GET', KEYS[2]) or '0', redis.call('LRANGE', KEYS[1], 0, -1) }
`);

// KEYS: contacts list, revision. ARGV: expected revision (-1: any), events kept, TTL ms, events…
// Returns { new revision } when appended, or { revision, events } of the newer history when not.
// A revision is the server time in microseconds (or one more than the last, if that is larger),
// never a count: after an expired history starts again from nothing, a node's cached revision of
// the old one can never match by chance. The TTL only ever grows: an impression must not cut
// short the life of an older reject.
// A blind append (-1: reactions, from the feedback consumer) skips events already held: the log
// is delivered at least once, and a redelivered accept must not count twice (only within the
// events kept). The compare-and-append of decisions never pays for that LRANGE.
// Guarded by redis-contact-history-dedupe.int.test.ts.
const APPEND = new RedisScript(`
local revision = redis.call('GET', KEYS[2]) or '0'
local kept = tonumber(ARGV[2])
local length
if ARGV[1] ~= '-1' then
  if revision ~= ARGV[1] then
    return { revision, redis.call('LRANGE', KEYS[1], 0, -1) }
  end
  length = redis.call('RPUSH', KEYS[1], unpack(ARGV, 4))
else
  local held = {}
  for _, e in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do held[e] = true end
  local fresh = {}
  for i = 4, #ARGV do
    if not held[ARGV[i]] then
      held[ARGV[i]] = true
      fresh[#fresh + 1] = ARGV[i]
    end
  end
  if #fresh == 0 then return { revision } end
  length = redis.call('RPUSH', KEYS[1], unpack(fresh))
end
if length > kept then redis.call('LTRIM', KEYS[1], -kept, -1) end
local ttl = math.max(tonumber(ARGV[3]), redis.call('PTTL', KEYS[1]))
redis.call('PEXPIRE', KEYS[1], ttl)
local time = redis.call('TIME')
local next = string.format('%.0f', math.max(tonumber(revision) + 1, tonumber(time[1]) * 1000000 + tonumber(time[2])))
redis.call('SET', KEYS[2], next, 'PX', ttl)
return { next }
`);

// The compare-and-append of APPEND for many customers at once (decisions of one turn of the event
// loop), each as if its own call, in order: a customer twice in a batch is appended once, and the
// second finds the revision moved on. KEYS: contacts list, revision, per customer. ARGV: events
// kept, then per customer its expected revision, TTL ms, number of events, events… Answers per
// customer { new revision } or { revision, events } as APPEND does, or { false, error }.
const APPEND_MANY = new RedisScript(`
local kept = tonumber(ARGV[1])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local function append(list, rev, expected, ttl, from, to)
  local revision = redis.call('GET', rev) or '0'
  if revision ~= expected then
    return { revision, redis.call('LRANGE', list, 0, -1) }
  end
  if redis.call('RPUSH', list, unpack(ARGV, from, to)) > kept then redis.call('LTRIM', list, -kept, -1) end
  ttl = math.max(ttl, redis.call('PTTL', list))
  redis.call('PEXPIRE', list, ttl)
  local next = string.format('%.0f', math.max(tonumber(revision) + 1, now))
  redis.call('SET', rev, next, 'PX', ttl)
  return { next }
end
local out = {}
local a = 2
for k = 1, #KEYS, 2 do
  local n = tonumber(ARGV[a + 2])
  local ok, reply = pcall(append, KEYS[k], KEYS[k + 1], ARGV[a], tonumber(ARGV[a + 1]), a + 3, a + 2 + n)
  if ok then out[#out + 1] = reply else out[#out + 1] = { false, tostring(reply.err or reply) } end
  a = a + 3 + n
end
return out
`);

export interface RedisHistoryOptions {
  /** Events kept per customer, newest. */
  readonly maxEvents: number;
  /**
   * Memory for the histories this node saw last, estimated. Bounded by bytes, not customers:
   * histories grow with every decision, to `maxEvents` each (a soak grew a customer-bounded cache
   * to gigabytes).
   */
  readonly maxCacheBytes: number;
  /**
   * How long a customer's history must live: impressions as long as the longest limit window,
   * reactions as long as the longest suppression; so anonymous visitors' histories do not pile
   * up. Read for every write (a property of the ruleset in force), so a reload changes it.
   */
  readonly retention: () => ContactLookback;
}

/** What APPEND answers: `{ new revision }`, or `{ revision, events }` of a newer history. */
type AppendReply = [string] | [string, string[]];

/** A compare-and-append waiting for its batch: the customer's two keys, and APPEND's arguments. */
interface Append {
  readonly keys: [string, string];
  readonly revision: string;
  readonly ttl: string;
  readonly events: readonly string[];
}

/** Deadline of a blind append: reactions are appended in the background, by feedback consumers. */
const BACKGROUND: SendOptions = { timeoutMs: 2000 };
/** The APPEND script's "whatever the revision": a blind append, which skips events already held. */
const ANY_REVISION = '-1';

const OUTCOMES: readonly ContactOutcome[] = CONTACT_OUTCOMES;

const DEGRADED: AppendOutcome = Object.freeze({ appended: true, degraded: true });

/** A customer this node has not seen: assume no history; the append corrects that if wrong. */
const NEVER_SEEN: ContactHistory = Object.freeze({
  revision: '0',
  events: Object.freeze([]),
  degraded: false,
});

/**
 * Contact history in Redis, exact across nodes: reads and appends are Lua scripts over the
 * customer's two keys (one slot, thanks to the hash tag), so a compare-and-append is atomic.
 * Decisions start from the history this node saw last (kept in memory), so a decision costs one
 * round trip, the append; if another node wrote since, the append fails and returns the newer
 * history in the same round trip. While Redis is down, reads and writes fall back to this node's
 * memory and say so (`degraded`).
 */
export class RedisContactHistoryStore implements ContactHistoryStore {
  private readonly seen: LRUCache<string, ContactHistory>;
  /** What this node decides from while Redis is down, in the same budget at full histories. */
  private readonly fallback: MemoryContactHistoryStore;
  /**
   * The compare-and-appends of the decisions one Redis reply set going, in one script call (one
   * Redis); on a cluster each customer's keys have a slot of their own, so each is a call of its own.
   */
  private readonly appends: RedisBatch<Append, AppendReply> | null;
  /** APPEND's "events kept" argument. */
  private readonly kept: string;

  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly options: RedisHistoryOptions,
  ) {
    this.seen = new LRUCache<string, ContactHistory>({
      maxSize: options.maxCacheBytes,
      sizeCalculation: historyBytes,
    });
    this.fallback = new MemoryContactHistoryStore({
      maxCustomers: Math.max(
        1,
        Math.floor(options.maxCacheBytes / (HISTORY_BYTES + CONTACT_EVENTS_KEPT * EVENT_BYTES)),
      ),
      maxEventsPerCustomer: CONTACT_EVENTS_KEPT,
    });
    this.kept = String(options.maxEvents);
    this.appends = redis.isCluster ? null : new RedisBatch((batch) => this.appendMany(batch), 'tick');
  }

  async read(customerId: string): Promise<ContactHistory> {
    try {
      const reply = await READ.run<[string, string[]]>(this.redis, this.keyPair(customerId), []);
      return this.remember(customerId, reply[0], reply[1].map(decodeEvent));
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      return { ...(await this.fallback.read(customerId)), degraded: true };
    }
  }

  lastSeen(customerId: string): Promise<ContactHistory> {
    return Promise.resolve(this.seenOrNever(customerId));
  }

  /** What lastSeen() answers, without a promise. */
  seenOrNever(customerId: string): ContactHistory {
    return this.seen.get(customerId) ?? NEVER_SEEN;
  }

  /** What a profile read checks of the history in the same call (RedisProfileStore.getWithHistory). */
  probeOf(customerId: string, seen: ContactHistory): HistoryProbe {
    return { keys: this.keyPair(customerId), revision: seen.revision };
  }

  /**
   * What such a check found: the history seen, when Redis is still at its revision; else the
   * events read with the new revision, remembered as this node's last view.
   */
  adopt(
    customerId: string,
    seen: ContactHistory,
    revision: string,
    events: readonly string[] | null,
  ): ContactHistory {
    if (events === null || revision === seen.revision) return seen;
    return this.remember(customerId, revision, events.map(decodeEvent));
  }

  async appendIfUnchanged(
    customerId: string,
    seen: ContactHistory,
    events: readonly ContactEvent[],
  ): Promise<AppendOutcome> {
    if (events.length === 0) return APPENDED;
    // A decision taken on this node's memory stays there: it cannot be checked against Redis.
    if (seen.degraded) {
      const outcome = await this.fallback.appendIfUnchanged(customerId, { ...seen, degraded: false }, events);
      return outcome.appended ? DEGRADED : { appended: false, newer: { ...outcome.newer, degraded: true } };
    }
    try {
      const reply = await this.runAppend(customerId, seen.revision, events);
      if (reply.length === 2) {
        return { appended: false, newer: this.remember(customerId, reply[0], reply[1].map(decodeEvent)) };
      }
      const all = seen.events.concat(events);
      const max = this.options.maxEvents;
      this.remember(customerId, reply[0], all.length > max ? all.slice(-max) : all);
      return APPENDED;
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      this.seen.delete(customerId);
      await this.fallback.append(customerId, events);
      return DEGRADED;
    }
  }

  /**
   * Reactions from the feedback log, whatever the revision; the script skips events the list
   * holds. No fallback to memory: the consumer keeps the entry pending and retries, so an outage
   * rejects. A background deadline, since no request waits for it.
   */
  async append(customerId: string, events: readonly ContactEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.runAppend(customerId, ANY_REVISION, events, BACKGROUND);
    // What Redis holds now is not what this node saw plus these events.
    this.seen.delete(customerId);
  }

  /** Drops this node's copy (another node erased the customer). */
  forget(customerId: string): void {
    this.seen.delete(customerId);
  }

  async erase(customerId: string): Promise<void> {
    this.seen.delete(customerId);
    await this.fallback.erase(customerId);
    const [contacts, revision] = this.keyPair(customerId);
    // One DEL of two keys of one slot: atomic, and valid in a cluster.
    await this.redis.send(contacts, ['DEL', contacts, revision]);
  }

  /**
   * Runs the APPEND script: `{ new revision }`, or `{ revision, events }` when `revision` is stale.
   * A compare-and-append on one Redis goes out with the others of its turn (APPEND_MANY).
   */
  private runAppend(
    customerId: string,
    revision: string,
    events: readonly ContactEvent[],
    options?: SendOptions,
  ): Promise<AppendReply> {
    const keys = this.keyPair(customerId);
    const ttl = this.ttlOf(events);
    if (this.appends !== null && revision !== ANY_REVISION && options === undefined) {
      return this.appends.add({ keys, revision, ttl, events: events.map(encodeEvent) });
    }
    const args: RedisArg[] = [revision, this.kept, ttl];
    for (const e of events) args.push(encodeEvent(e));
    return APPEND.run(this.redis, keys, args, options);
  }

  /** One APPEND_MANY call for a batch of compare-and-appends (APPEND alone for one). */
  private async appendMany(batch: readonly Append[]): Promise<(AppendReply | Error)[]> {
    if (batch.length === 1) {
      const { keys, revision, ttl, events } = batch[0]!;
      return [await APPEND.run<AppendReply>(this.redis, keys, [revision, this.kept, ttl, ...events])];
    }
    const command = callOf(batch.length * 2);
    for (const a of batch) command.push(a.keys[0], a.keys[1]);
    command.push(this.kept);
    for (const a of batch) {
      command.push(a.revision, a.ttl, String(a.events.length));
      for (const e of a.events) command.push(e);
    }
    const replies = await APPEND_MANY.send<(AppendReply | [null, string])[]>(
      this.redis,
      batch[0]!.keys[0],
      command,
    );
    return replies.map((r) => (r[0] === null ? new ErrorReply(String(r[1])) : (r as AppendReply)));
  }

  /** Touches (shown and held-out offers) live as long as impressions; reactions and outcomes longer. */
  private ttlOf(events: readonly ContactEvent[]): string {
    const retention = this.options.retention();
    const ttl = events.some((e) => !isTouch(e.outcome)) ? retention.reactionsMs : retention.impressionsMs;
    return String(Math.max(ttl, 1));
  }

  private remember(customerId: string, revision: string, events: readonly ContactEvent[]): ContactHistory {
    const history: ContactHistory = { revision, events, degraded: false };
    this.seen.set(customerId, history);
    return history;
  }

  private keyPair(customerId: string): [string, string] {
    return [this.keys.contacts(customerId), this.keys.contactsRevision(customerId)];
  }
}

/**
 * `at|channel outcome|offerId|campaignId`, e.g. `1767225600000|10|gold-card|cards`; an outcome adds
 * `|productId` (its offer and campaign are those credited, or empty), an impression in a placement
 * `||placement` (no product), a touch of a champion/challenger test `|product|placement|a` (the
 * champion) or `|…|…|c` (the challenger), the two before it empty when absent.
 */
function encodeEvent(e: ContactEvent): string {
  const head = `${e.at}|${channelIndex(e.channel)}${OUTCOMES.indexOf(e.outcome)}|${e.offerId}|${e.campaignId}`;
  if (e.arm !== undefined)
    return `${head}|${e.productId ?? ''}|${e.placement ?? ''}|${e.arm === 'challenger' ? 'c' : 'a'}`;
  if (e.placement !== undefined) return `${head}|${e.productId ?? ''}|${e.placement}`;
  return e.productId === undefined ? head : `${head}|${e.productId}`;
}

/**
 * Heap bytes of a history held in `seen`: the entry, its key, revision and array and the LRU's
 * bookkeeping, and per event an object of five fields, a boxed time and two short strings. Measured
 * (heap after GC, 20,000 decoded histories in an LRUCache): 1,816 bytes with 5 events, 6,789 with 40.
 */
const HISTORY_BYTES = 1100;
const EVENT_BYTES = 140;
function historyBytes(history: ContactHistory): number {
  return HISTORY_BYTES + history.events.length * EVENT_BYTES;
}

function decodeEvent(text: string): ContactEvent {
  const a = text.indexOf('|');
  const b = text.indexOf('|', a + 1);
  const c = text.indexOf('|', b + 1);
  const d = text.indexOf('|', c + 1);
  const event: ContactEvent = {
    at: Number(text.slice(0, a)),
    channel: CHANNELS[text.charCodeAt(a + 1) - 48]!,
    outcome: OUTCOMES[text.charCodeAt(a + 2) - 48]!,
    offerId: text.slice(b + 1, c),
    campaignId: d < 0 ? text.slice(c + 1) : text.slice(c + 1, d),
  };
  if (d < 0) return event;
  const p = text.indexOf('|', d + 1);
  const productId = p < 0 ? text.slice(d + 1) : text.slice(d + 1, p);
  const withProduct = productId === '' ? event : { ...event, productId };
  if (p < 0) return withProduct;
  const q = text.indexOf('|', p + 1);
  if (q < 0) return { ...withProduct, placement: text.slice(p + 1) };
  // A touch of a champion/challenger test: its placement may be empty.
  const placement = text.slice(p + 1, q);
  const arm = text.charCodeAt(q + 1) === 99 /* c */ ? 'challenger' : 'champion';
  return placement === '' ? { ...withProduct, arm } : { ...withProduct, placement, arm };
}
