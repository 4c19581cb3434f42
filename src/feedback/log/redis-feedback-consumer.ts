import type { Logger } from 'pino';
import { ErrorReply } from 'redis';
import type { ContactEvent } from '../../domain/contact.js';
import { RedisUnavailableError } from '../../errors.js';
import type { ContactHistoryStore } from '../../store/contact-history-store.js';
import type { RedisConnection, RedisReply } from '../../store/redis/redis-connection.js';
import type { RedisKeys } from '../../store/redis/redis-keys.js';
import { RedisScript } from '../../store/redis/redis-script.js';
import { type CounterIncrement, contactEventOf, countersOf } from '../feedback-effects.js';
import { FEEDBACK_TYPES, type LogEntry } from '../feedback-event.js';
import { decodeLogEntry, fieldsOf, LogEntryError } from '../log-entry.js';
import { type GroupPosition, type StreamId, trimPoint } from '../stream-id.js';
import { type CustomerLoop, concernsCustomer } from './customer-loop.js';

/** The consumer group of the server's consumers and `offerloop worker` (unless told otherwise). */
export const DEFAULT_FEEDBACK_GROUP = 'offerloop';

export interface FeedbackConsumerOptions {
  /** Shards of the feedback log; this consumer reads every one. */
  readonly shards: number;
  /** Consumer group; default 'offerloop'. */
  readonly group?: string;
  /** This consumer's name in the group: unique per process (e.g. host-pid). */
  readonly name: string;
  /** Entries read per shard at a time; default 500. */
  readonly batch?: number;
  /** Sleep when no shard had anything new; default 50 ms. */
  readonly idleMs?: number;
  /** Entries delivered this long ago and not acknowledged are taken over; default 30 s. */
  readonly claimIdleMs?: number;
  /** How often to look for such entries; default 5 s. */
  readonly claimEveryMs?: number;
  /** Entries delivered this often without being processed go to the dead-letter stream; default 5. */
  readonly maxDeliveries?: number;
  /** Lifetime of a day's stats hash after its last write; default 400 days (a year of reports). */
  readonly statsTtlMs?: number;
  /** Log entries older than this are trimmed, once every group has processed them. */
  readonly retentionMs: number;
  /** How often to trim; default 10 s. */
  readonly trimEveryMs?: number;
  /** What outcomes and conversions do to their customer, applied before an entry is acknowledged. */
  readonly loop?: CustomerLoop | undefined;
}

export interface FeedbackConsumerStats {
  /** Entries this consumer acknowledged (and so applied). */
  readonly processed: number;
  readonly deadLettered: number;
  /** Entries taken over from idle deliveries (a crashed or stalled consumer, or an earlier failure). */
  readonly claimed: number;
  /** Unexpected errors (not Redis being unavailable). */
  readonly failures: number;
}

// KEYS: the shard's log, then the stats hashes of the days the batch touches (one slot: tag {S}).
// ARGV: group, stats TTL ms, m, then the batch's m counters, each once: KEYS index, field, i|f;
// then per entry: id, n, and n × (counter number 1…m, amount).
// An entry's counters are applied only by the call whose XACK removed it from the pending list:
// delivery is at least once (a claimed entry may be processed twice), counting is exactly once.
// Guarded by redis-feedback-consumer.int.test.ts "counts each entry once". Whole counts of the
// entries acknowledged are summed here and added once per counter; revenues (f) are added one by
// one, HINCRBYFLOAT's rounding as before.
// Returns how many entries this call acknowledged.
const ACK_AND_COUNT = new RedisScript(`
local log, group = KEYS[1], ARGV[1]
local m = tonumber(ARGV[3])
local keys, fields, float = {}, {}, {}
for c = 1, m do
  local at = 1 + 3 * c
  keys[c], fields[c], float[c] = KEYS[tonumber(ARGV[at])], ARGV[at + 1], ARGV[at + 2] == 'f'
end
local sums, touched = {}, {}
local acked = 0
local i = 4 + 3 * m
local last = #ARGV
while i <= last do
  local n = tonumber(ARGV[i + 1])
  local first = i + 2
  if redis.call('XACK', log, group, ARGV[i]) == 1 then
    acked = acked + 1
    for j = first, first + 2 * (n - 1), 2 do
      local c = tonumber(ARGV[j])
      if float[c] then
        redis.call('HINCRBYFLOAT', keys[c], fields[c], ARGV[j + 1])
        touched[keys[c]] = true
      else
        sums[c] = (sums[c] or 0) + tonumber(ARGV[j + 1])
      end
    end
  end
  i = first + 2 * n
end
for c, sum in pairs(sums) do
  redis.call('HINCRBY', keys[c], fields[c], string.format('%d', sum))
  touched[keys[c]] = true
end
for key in pairs(touched) do redis.call('PEXPIRE', key, ARGV[2]) end
return acked
`);

// KEYS: log, dead-letter stream. ARGV: group, id, reason, deliveries.
// Moves an entry that keeps failing to the dead-letter stream (its fields, then id, reason and
// deliveries) and acknowledges it, only if it is still pending: a slow consumer may have just
// processed it. Returns 1 when moved.
const DEAD_LETTER = new RedisScript(`
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local found = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
local args = { KEYS[2], '*' }
if found[1] then
  for _, v in ipairs(found[1][2]) do args[#args + 1] = v end
end
for _, v in ipairs({ 'id', ARGV[2], 'reason', ARGV[3], 'deliveries', ARGV[4] }) do args[#args + 1] = v end
redis.call('XADD', unpack(args))
return 1
`);

/** The consumer works in the background: a slow Redis may take its time rather than fail a request. */
const COMMAND_TIMEOUT_MS = 2_000;
const BACKOFF_MIN_MS = 200;
/** Pause after a batch that was not full, so that the next one gathers more. */
const GATHER_MS = 20;
/**
 * Requests first. While this process's own log keeps appending (it nudges its consumers: requests
 * are being served), a consumer in it with a backlog (its last read was a full batch) takes at most
 * YIELD_SHARE of the time, pausing after each batch (at least YIELD_MS), for at most MAX_YIELD_MS
 * in a row; then it works at full speed until it has caught up. A burst of requests thus has most
 * of the process and of Redis for a few seconds, and the backlog it leaves is worked off after it,
 * or alongside it past MAX_YIELD_MS. A consumer in a process of its own (`offerloop worker`) is
 * never nudged and never pauses.
 */
const YIELD_SHARE = 0.2;
const YIELD_MS = 20;
/** The log appended this recently: requests are being served. */
const ACTIVE_MS = 50;
const MAX_YIELD_MS = 5_000;
const BACKOFF_MAX_MS = 2_000;
/** Entries looked at per XPENDING / XAUTOCLAIM, and rounds of XAUTOCLAIM per claim pass. */
const CLAIM_COUNT = 100;
const CLAIM_ROUNDS = 20;
/** Failure reasons remembered for dead letters; beyond that the oldest are forgotten. */
const MAX_REASONS = 10_000;

interface RawEntry {
  readonly id: StreamId;
  /** Null: the entry was deleted from the stream while pending. */
  readonly fields: readonly string[] | null;
}

interface Effects {
  readonly id: StreamId;
  /** Null: an entry deleted while pending. */
  readonly entry: LogEntry | null;
  counters: readonly CounterIncrement[];
  readonly contact: { readonly customerId: string; readonly event: ContactEvent } | null;
}

/**
 * Turns the feedback log into aggregates: reads every shard's stream in a consumer group, appends
 * accepts and rejects to contact history, then acknowledges each entry and applies its counters in
 * one script per batch. Entries of a consumer that died are claimed after `claimIdleMs`; entries
 * that keep failing end in the dead-letter stream; the log is trimmed to its retention, never past
 * what a group has not processed. Redis trouble is waited out; the loop never throws.
 */
export class RedisFeedbackConsumer {
  private readonly group: string;
  private readonly batch: number;
  private readonly idleMs: number;
  private readonly claimIdleMs: number;
  private readonly claimEveryMs: number;
  private readonly maxDeliveries: number;
  private readonly trimEveryMs: number;
  private readonly statsTtlMs: number;
  private readonly counts = { processed: 0, deadLettered: 0, claimed: 0, failures: 0 };
  private readonly reasons = new Map<StreamId, string>();
  private groupsReady = false;
  private nextClaimAt = 0;
  private nextTrimAt = 0;
  private backoffMs = 0;
  private closing = false;
  private nudged = false;
  /** performance.now() of the last nudge. */
  private nudgedAt = Number.NEGATIVE_INFINITY;
  /** When this consumer began pausing for the requests of this process (null: it is not). */
  private yieldingSince: number | null = null;
  /** A batch failed: this consumer's pending entries are read again before new ones. */
  private retryOwn = false;
  private wake: { readonly fn: () => void; readonly byNudge: boolean } | null = null;
  private loop: Promise<void> = Promise.resolve();

  private constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly history: ContactHistoryStore,
    private readonly log: Logger,
    private readonly options: FeedbackConsumerOptions,
  ) {
    this.group = options.group ?? DEFAULT_FEEDBACK_GROUP;
    this.batch = options.batch ?? 500;
    this.idleMs = options.idleMs ?? 50;
    this.claimIdleMs = options.claimIdleMs ?? 30_000;
    this.claimEveryMs = options.claimEveryMs ?? 5_000;
    this.maxDeliveries = options.maxDeliveries ?? 5;
    this.trimEveryMs = options.trimEveryMs ?? 10_000;
    this.statsTtlMs = options.statsTtlMs ?? 400 * 86_400_000;
  }

  /**
   * Creates the group on every shard and starts consuming. Redis being unavailable is not fatal
   * (the loop creates the groups once it answers); any other error (say, a log key that is not a
   * stream) is, since nothing would ever work.
   */
  static async start(
    redis: RedisConnection,
    keys: RedisKeys,
    history: ContactHistoryStore,
    log: Logger,
    options: FeedbackConsumerOptions,
  ): Promise<RedisFeedbackConsumer> {
    const consumer = new RedisFeedbackConsumer(redis, keys, history, log, options);
    try {
      await consumer.ensureGroups();
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      log.warn({ err: err.message }, 'feedback consumer: Redis unavailable; will create its groups later');
    }
    // run() handles its own errors; this only keeps a bug in that handling from crashing the process.
    consumer.loop = consumer.run().catch((err: unknown) => log.error({ err }, 'feedback consumer stopped'));
    return consumer;
  }

  /** New entries were just written in this process: read now rather than after idleMs. */
  nudge(): void {
    this.nudged = true;
    this.nudgedAt = performance.now();
    if (this.wake?.byNudge) this.wake.fn();
  }

  stats(): FeedbackConsumerStats {
    return { ...this.counts };
  }

  /** Finishes the batch in progress, then stops. Idempotent. */
  close(): Promise<void> {
    this.closing = true;
    this.wake?.fn();
    return this.loop;
  }

  private async run(): Promise<void> {
    while (!this.closing) {
      this.nudged = false;
      let read = 0;
      const started = performance.now();
      try {
        if (!this.groupsReady) await this.ensureGroups();
        const now = Date.now();
        // Scheduled before running, so that a pass that keeps failing does not starve reading.
        if (now >= this.nextClaimAt) {
          this.nextClaimAt = now + this.claimEveryMs;
          await this.claimAll();
        }
        if (now >= this.nextTrimAt) {
          this.nextTrimAt = now + this.trimEveryMs;
          await this.trimAll();
        }
        if (this.retryOwn) {
          // What this consumer read before a failure is pending on it: take it up at once rather
          // than after claimIdleMs.
          for (let shard = 0; shard < this.options.shards && !this.closing; shard++)
            await this.rereadShard(shard);
          this.retryOwn = false;
        }
        for (let shard = 0; shard < this.options.shards && !this.closing; shard++) {
          read += await this.readShard(shard);
        }
        this.backoffMs = 0;
      } catch (err) {
        this.failed(err);
        this.retryOwn = true;
        await this.sleep(this.backoffMs, false);
        continue;
      }
      if (read >= this.batch) {
        if (this.yieldsToRequests()) {
          const took = performance.now() - started;
          await this.sleep(Math.max(YIELD_MS, (took * (1 - YIELD_SHARE)) / YIELD_SHARE), false);
        }
        continue;
      }
      this.yieldingSince = null;
      if (read === 0 && this.nudged) continue;
      // A short pause gathers what arrives into the next batch: many small reads cost Redis more
      // than the few milliseconds of lag they save. Only an idle consumer wakes on a nudge.
      await this.sleep(read > 0 ? GATHER_MS : this.idleMs, read === 0);
    }
  }

  /** True when a backlog should wait for this process's requests (see YIELD_MS). */
  private yieldsToRequests(): boolean {
    const now = performance.now();
    if (now - this.nudgedAt > ACTIVE_MS) {
      this.yieldingSince = null;
      return false;
    }
    this.yieldingSince ??= now;
    return now - this.yieldingSince < MAX_YIELD_MS;
  }

  /** Processes this consumer's own pending entries of a shard, oldest first. */
  private async rereadShard(shard: number): Promise<void> {
    let after = '0';
    for (;;) {
      const entries = await this.read(shard, after);
      if (entries.length === 0) return;
      await this.process(shard, entries);
      after = entries[entries.length - 1]!.id;
    }
  }

  private failed(err: unknown): void {
    this.backoffMs = Math.min(Math.max(this.backoffMs * 2, BACKOFF_MIN_MS), BACKOFF_MAX_MS);
    if (err instanceof RedisUnavailableError) {
      this.log.debug({ err: err.message }, 'feedback consumer: Redis unavailable; backing off');
      return;
    }
    if (err instanceof ErrorReply && err.message.startsWith('NOGROUP')) {
      // The stream was deleted (and with it the group): start again from what is there.
      this.groupsReady = false;
      this.log.warn({ err: err.message }, 'feedback consumer: group gone; creating it again');
      return;
    }
    this.counts.failures++;
    this.log.error({ err }, 'feedback consumer failed; retrying');
  }

  private sleep(ms: number, byNudge: boolean): Promise<void> {
    if (this.closing || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = { fn: done, byNudge };
    });
  }

  private send<T extends RedisReply>(key: string, args: string[]): Promise<T> {
    return this.redis.send<T>(key, args, { timeoutMs: COMMAND_TIMEOUT_MS });
  }

  private async ensureGroups(): Promise<void> {
    for (let shard = 0; shard < this.options.shards; shard++) {
      const key = this.keys.feedbackLog(shard);
      try {
        await this.send(key, ['XGROUP', 'CREATE', key, this.group, '0', 'MKSTREAM']);
      } catch (err) {
        if (!(err instanceof ErrorReply && err.message.startsWith('BUSYGROUP'))) throw err;
      }
    }
    this.groupsReady = true;
  }

  /** Reads and processes one batch of new entries of a shard; returns how many were read. */
  private async readShard(shard: number): Promise<number> {
    const entries = await this.read(shard, '>');
    if (entries.length > 0) await this.process(shard, entries);
    return entries.length;
  }

  /** `>`: entries never delivered; an id: this consumer's pending entries after it. */
  private async read(shard: number, from: string): Promise<RawEntry[]> {
    const key = this.keys.feedbackLog(shard);
    // biome-ignore format: the command reads best on one line
    const reply = await this.send<RedisReply>(key, [
      // No BLOCK: the connection is shared with the health check, which a blocked read would stall.
      'XREADGROUP', 'GROUP', this.group, this.options.name, 'COUNT', String(this.batch), 'STREAMS', key, from,
    ]);
    return readGroupEntries(reply);
  }

  /**
   * Applies a batch: contact history first (idempotent: a blind append skips what it holds), then
   * the acknowledgements and counters in one script. An entry that does not decode is left pending:
   * it is claimed again later, and dead-lettered after maxDeliveries.
   */
  private async process(shard: number, entries: readonly RawEntry[]): Promise<void> {
    const effects: Effects[] = [];
    for (const raw of entries) {
      try {
        effects.push(
          raw.fields === null ? { id: raw.id, entry: null, counters: [], contact: null } : effectsOf(raw),
        );
        if (this.reasons.size > 0) this.reasons.delete(raw.id);
      } catch (err) {
        const reason = err instanceof LogEntryError ? err.message : String(err);
        this.rememberReason(raw.id, reason);
        this.log.debug({ shard, id: raw.id, reason }, 'feedback log entry not processed; left pending');
      }
    }
    if (effects.length === 0) return;

    const byId = new Map<string, ContactEvent[]>();
    for (const e of effects) {
      if (e.contact === null) continue;
      const list = byId.get(e.contact.customerId);
      if (list) list.push(e.contact.event);
      else byId.set(e.contact.customerId, [e.contact.event]);
    }
    // A reaction of an anonymous id linked since goes to the customer's history: each id of the
    // batch is resolved once.
    const byCustomer = await this.resolved(byId);
    // Rejects while Redis is unreachable; then nothing is acknowledged and the batch comes back.
    await Promise.all([...byCustomer].map(([customerId, events]) => this.history.append(customerId, events)));
    await this.applyToCustomers(effects);

    const acked = await ACK_AND_COUNT.run<number>(this.redis, ...this.ackAndCount(shard, effects), {
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
    this.counts.processed += acked;
  }

  /** ACK_AND_COUNT's keys and arguments: the batch's counters each named once, then the entries. */
  private ackAndCount(shard: number, effects: readonly Effects[]): [string[], string[]] {
    const keys = [this.keys.feedbackLog(shard)];
    // Per day: its KEYS index, and its counters' numbers by field (a field is either whole or a revenue).
    const days = new Map<number, { readonly key: string; readonly counters: Map<string, string> }>();
    const counters: string[] = [];
    const entries: string[] = [];
    let m = 0;
    for (const e of effects) {
      entries.push(e.id, String(e.counters.length));
      for (const c of e.counters) {
        let day = days.get(c.day);
        if (day === undefined) {
          keys.push(this.keys.feedbackStats(shard, c.day));
          day = { key: String(keys.length), counters: new Map() }; // Lua's KEYS is 1-based
          days.set(c.day, day);
        }
        let counter = day.counters.get(c.field);
        if (counter === undefined) {
          counters.push(day.key, c.field, c.float ? 'f' : 'i');
          counter = String(++m);
          day.counters.set(c.field, counter);
        }
        entries.push(counter, String(c.amount));
      }
    }
    const args = [this.group, String(this.statsTtlMs), String(m)];
    for (const a of counters) args.push(a);
    for (const a of entries) args.push(a);
    return [keys, args];
  }

  /** The contacts of each id under the customer it stands for (an anonymous id may be linked to one). */
  private async resolved(byId: Map<string, ContactEvent[]>): Promise<Map<string, ContactEvent[]>> {
    const loop = this.options.loop;
    if (loop === undefined || byId.size === 0) return byId;
    const ids = [...byId.keys()];
    const customers = await Promise.all(ids.map((id) => loop.resolve(id)));
    const byCustomer = new Map<string, ContactEvent[]>();
    ids.forEach((id, i) => {
      const customer = customers[i]!;
      const events = byId.get(id)!;
      const list = byCustomer.get(customer);
      if (list) list.push(...events);
      else byCustomer.set(customer, events);
    });
    return byCustomer;
  }

  /**
   * The customer loop, in log order per customer (an outcome's credit depends on what came before
   * it), customers in parallel. Before the acknowledgement: a failure leaves the batch pending, and
   * the loop is idempotent when it comes back.
   */
  private async applyToCustomers(effects: Effects[]): Promise<void> {
    const loop = this.options.loop;
    if (loop === undefined) return;
    const byCustomer = new Map<string, Effects[]>();
    for (const e of effects) {
      if (e.entry === null || !concernsCustomer(e.entry)) continue;
      const id = e.entry.kind === 'decision' ? e.entry.decision.customerId : e.entry.event.customerId;
      const list = byCustomer.get(id);
      if (list) list.push(e);
      else byCustomer.set(id, [e]);
    }
    await Promise.all(
      [...byCustomer.values()].map(async (list) => {
        for (const e of list) {
          const credited = await loop.apply(e.entry!);
          if (credited.length > 0) e.counters = [...e.counters, ...credited];
        }
      }),
    );
  }

  private rememberReason(id: StreamId, reason: string): void {
    this.reasons.delete(id);
    this.reasons.set(id, reason);
    if (this.reasons.size > MAX_REASONS) this.reasons.delete(this.reasons.keys().next().value!);
  }

  /** Dead-letters what kept failing, then takes over what a consumer received and never acknowledged. */
  private async claimAll(): Promise<void> {
    for (let shard = 0; shard < this.options.shards && !this.closing; shard++) {
      const key = this.keys.feedbackLog(shard);
      // biome-ignore format: the command reads best on one line
      const idle = await this.send<RedisReply>(key, [
        'XPENDING', key, this.group, 'IDLE', String(this.claimIdleMs), '-', '+', String(CLAIM_COUNT),
      ]);
      for (const p of pendingDetails(idle)) {
        if (p.deliveries >= this.maxDeliveries) await this.deadLetter(shard, p.id, p.deliveries);
      }
      let cursor: StreamId = '0-0';
      for (let round = 0; round < CLAIM_ROUNDS && !this.closing; round++) {
        // biome-ignore format: the command reads best on one line
        const reply = await this.send<RedisReply>(key, [
          'XAUTOCLAIM', key, this.group, this.options.name, String(this.claimIdleMs), cursor,
          'COUNT', String(CLAIM_COUNT),
        ]);
        const claimed = autoclaimReply(reply);
        if (claimed.entries.length > 0) {
          this.counts.claimed += claimed.entries.length;
          this.log.info(
            { shard, entries: claimed.entries.length },
            'feedback consumer: claimed idle entries',
          );
          await this.process(shard, claimed.entries);
        }
        cursor = claimed.next;
        if (cursor === '0-0') break;
      }
    }
  }

  private async deadLetter(shard: number, id: StreamId, deliveries: number): Promise<void> {
    const reason = this.reasons.get(id) ?? `not processed in ${deliveries} deliveries`;
    const moved = await DEAD_LETTER.run<number>(
      this.redis,
      [this.keys.feedbackLog(shard), this.keys.feedbackDead(shard)],
      [this.group, id, reason, String(deliveries)],
      { timeoutMs: COMMAND_TIMEOUT_MS },
    );
    this.reasons.delete(id);
    if (moved === 1) {
      this.counts.deadLettered++;
      this.log.warn({ shard, id, deliveries, reason }, 'feedback log entry dead-lettered');
    }
  }

  /** Trims each shard to the retention, but never past an entry that some group has not processed. */
  private async trimAll(): Promise<void> {
    for (let shard = 0; shard < this.options.shards && !this.closing; shard++) {
      const key = this.keys.feedbackLog(shard);
      // Entry ids are Redis' clock (XADD *), so the retention is measured on that node's clock,
      // not this server's (docs/decisions/0006-clocks.md).
      const [seconds, micros] = await this.send<[string, string]>(key, ['TIME']);
      const redisNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      const cut = `${Math.max(0, redisNow - this.options.retentionMs)}-0`;
      let info: RedisReply;
      try {
        info = await this.send<RedisReply>(key, ['XINFO', 'GROUPS', key]);
      } catch (err) {
        if (err instanceof ErrorReply && /no such key/i.test(err.message)) continue;
        throw err;
      }
      const positions: GroupPosition[] = [];
      for (const g of groupInfos(info)) {
        let oldestPending: StreamId | null = null;
        if (g.pending > 0) {
          const summary = await this.send<RedisReply>(key, ['XPENDING', key, g.name]);
          oldestPending = pendingSummaryOldest(summary);
        }
        positions.push({ pending: g.pending, oldestPending, lastDelivered: g.lastDelivered });
      }
      const point = trimPoint(cut, positions);
      // `~`: Redis drops only whole nodes below the point, which is much cheaper and never goes past it.
      if (point !== '0-0') await this.send(key, ['XTRIM', key, 'MINID', '~', point]);
    }
  }
}

/** The counters and contact event of one entry; throws LogEntryError when it is not well-formed. */
function effectsOf(raw: RawEntry): Effects {
  const entry = decodeLogEntry(fieldsOf(raw.fields ?? []));
  checkShape(entry);
  return { id: raw.id, entry, counters: countersOf(entry), contact: contactEventOf(entry) };
}

/** decodeLogEntry checks the outline; counters need the inner fields too. */
function checkShape(entry: LogEntry): void {
  const str = (v: unknown) => typeof v === 'string' && v !== '';
  const time = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  if (entry.kind === 'decision') {
    const d = entry.decision;
    const offerOk = (o: unknown) => {
      const x = o as { offerId?: unknown; segmentId?: unknown } | null;
      return (
        typeof x === 'object' && x !== null && str(x.offerId) && (x.segmentId === null || str(x.segmentId))
      );
    };
    if (!time(d.at) || !str(d.channel) || !d.offers.every(offerOk) || !d.heldOut.every(offerOk)) {
      throw new LogEntryError('malformed decision entry');
    }
    return;
  }
  if (entry.kind === 'outcome') {
    const o = entry.event;
    if (
      !time(o.at) ||
      !str(o.customerId) ||
      // A lead may name no product; a purchase or a cancel always does.
      !(o.productId === null ? o.type === 'lead' : str(o.productId)) ||
      (o.value !== null && typeof o.value !== 'number')
    )
      throw new LogEntryError('malformed outcome entry');
    return;
  }
  const e = entry.event;
  if (
    !time(e.at) ||
    !str(e.offerId) ||
    !str(e.customerId) ||
    !(FEEDBACK_TYPES as readonly string[]).includes(e.type) ||
    (e.value !== null && typeof e.value !== 'number')
  ) {
    throw new LogEntryError('malformed feedback entry');
  }
}

// Replies, RESP2. Parsed strictly: a shape we do not expect is a bug to hear about, not to guess at.

function unexpected(what: string): Error {
  return new Error(`unexpected ${what} reply from Redis`);
}

function isList(r: RedisReply | undefined): r is readonly RedisReply[] {
  return Array.isArray(r);
}

/** `[[id, [field, value, …] | nil], …]` */
function entryList(reply: RedisReply | undefined, what: string): RawEntry[] {
  if (!isList(reply)) throw unexpected(what);
  return reply.map((e) => {
    if (!isList(e) || typeof e[0] !== 'string') throw unexpected(what);
    const fields = e[1];
    if (fields === null || fields === undefined) return { id: e[0], fields: null };
    if (!isList(fields) || !fields.every((f) => typeof f === 'string')) throw unexpected(what);
    return { id: e[0], fields: fields as readonly string[] };
  });
}

/** XREADGROUP: nil when nothing is new, else `[[stream, entries]]`. */
function readGroupEntries(reply: RedisReply): RawEntry[] {
  if (reply === null) return [];
  if (!isList(reply)) throw unexpected('XREADGROUP');
  return reply.flatMap((stream) => {
    if (!isList(stream)) throw unexpected('XREADGROUP');
    return entryList(stream[1], 'XREADGROUP');
  });
}

/** XAUTOCLAIM (Redis 7): `[next start id, entries, deleted ids]` (6.2 has no third element). */
function autoclaimReply(reply: RedisReply): { next: StreamId; entries: RawEntry[] } {
  if (!isList(reply) || typeof reply[0] !== 'string') throw unexpected('XAUTOCLAIM');
  // Entries deleted while pending are dropped from the pending list by XAUTOCLAIM itself (Redis 7).
  return { next: reply[0], entries: entryList(reply[1], 'XAUTOCLAIM') };
}

/** XPENDING's extended form: `[[id, consumer, idle ms, deliveries], …]`. */
function pendingDetails(reply: RedisReply): { id: StreamId; deliveries: number }[] {
  if (!isList(reply)) throw unexpected('XPENDING');
  return reply.map((p) => {
    if (!isList(p) || typeof p[0] !== 'string' || typeof p[3] !== 'number') throw unexpected('XPENDING');
    return { id: p[0], deliveries: p[3] };
  });
}

/** XPENDING's summary form: `[count, smallest id | nil, greatest id | nil, consumers | nil]`. */
function pendingSummaryOldest(reply: RedisReply): StreamId | null {
  if (!isList(reply)) throw unexpected('XPENDING');
  return typeof reply[1] === 'string' ? reply[1] : null;
}

/** XINFO GROUPS: one flat `[name, n, consumers, n, pending, n, last-delivered-id, id, …]` per group. */
function groupInfos(reply: RedisReply): { name: string; pending: number; lastDelivered: StreamId }[] {
  if (!isList(reply)) throw unexpected('XINFO GROUPS');
  return reply.map((g) => {
    if (!isList(g)) throw unexpected('XINFO GROUPS');
    const info = new Map<string, RedisReply>();
    for (let i = 0; i + 1 < g.length; i += 2) info.set(String(g[i]), g[i + 1]!);
    const name = info.get('name');
    const pending = info.get('pending');
    const last = info.get('last-delivered-id');
    if (typeof name !== 'string' || typeof pending !== 'number' || typeof last !== 'string') {
      throw unexpected('XINFO GROUPS');
    }
    return { name, pending, lastDelivered: last };
  });
}
