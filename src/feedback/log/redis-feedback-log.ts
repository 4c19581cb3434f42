import type { Logger } from 'pino';
import { stableHash32 } from '../../domain/stable-hash.js';
import { RedisUnavailableError } from '../../errors.js';
import type { RedisConnection } from '../../store/redis/redis-connection.js';
import type { RedisKeys } from '../../store/redis/redis-keys.js';
import { RedisScript } from '../../store/redis/redis-script.js';
import { type AttributionWindows, CLOCK_SKEW_MS } from '../attribution.js';
import {
  type DecisionLogEntry,
  type FeedbackEvent,
  type FeedbackStatus,
  type FeedbackVerdict,
  isOutcome,
  type SubmittedEvent,
} from '../feedback-event.js';
import { offerTag } from '../log-entry.js';
import type { FeedbackLog, FeedbackLogHealth } from './feedback-log.js';
import type { FeedbackSpool } from './feedback-spool.js';

// The intake: judges events against their decisions and appends decisions and accepted events to
// the shard's stream, atomically, for a whole group of items at once. The rules are judge()'s
// (attribution.ts), in the same order; feedback-log.contract.int.test.ts holds the two together.
//
// KEYS: [1] the shard's log stream, [2] its stream of rejected replays, then the record of each
// item but r, in order: a decision's or a reaction's decision record `<prefix><decisionId>`, an
// outcome's `<prefix>o:<eventId>` (all of the shard's tag). Every key the script touches is
// declared, so that while its slot migrates Redis redirects or retries the call (ASK, TRYAGAIN)
// instead of letting the script read a record that has moved, or not yet, as missing.
// ARGV: [1] reaction window ms, [2] conversion window ms, [3] clock skew ms, [4] '1': keep
// rejected events (a replay, whose clients were already answered; a duplicate is no rejection
// there, but the replay being idempotent), [5] the server's time now (ms), then items, each field
// sent once:
//   r, receivedAt: when the server received the events that follow (until the next r)
//   d, decisionId, meta `at|channel|customerId`, n, entry JSON, n × (offerId, offer tag)
//   <type>, eventId, decisionId, offerId, customerId, at, value: a reaction (type impression,
//     click, …) whose ids need no escaping in JSON (reactionArgs): its entry JSON is made here
//   j, type, eventId, decisionId, offerId, customerId, at, event JSON: any other reaction
//   o, eventId, outcome JSON (an outcome: checked by the service, deduplicated here by its event
//     id, whose record lives as long as a conversion window)
// Returns { codes, reasons… }: one status code per item but r (STATUS_OF_CODE), then the reason of
// every item not accepted, in order ('' for a decision already recorded). A decision is recorded
// once: a replayed one whose record exists is skipped (one that showed nothing has no record; see
// docs/decisions/0003-feedback-log.md).
// Every time here is the server's clock: a record's expiry is given to Redis as a duration from
// ARGV[5], never as an absolute time, so Redis' own clock may differ (docs/decisions/0006-clocks.md).
const INTAKE = new RedisScript(`
local log, rejected = KEYS[1], KEYS[2]
local reactionMs, conversionMs, skew = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local keepRejected, now = ARGV[4] == '1', tonumber(ARGV[5])
local terminal = { accept = 'accepted', reject = 'rejected', dismiss = 'dismissed' }
local code = { duplicate = 'd', unknown_decision = 'u', unknown_offer = 'o', too_late = 't', conflict = 'c' }

-- One HMGET reads all a verdict needs: the event id, the decision, the offer and the reaction slot.
local function judge(key, eventId, offerId, customerId, kind, at, received, reaction)
  local got = redis.call('HMGET', key, 'e:' .. eventId, 'm', 'o:' .. offerId, reaction)
  local meta, offer, previous = got[2], got[3], got[4]
  if got[1] then return 'duplicate', 'event ' .. eventId .. ' was recorded before' end
  if not meta then return 'unknown_decision', 'no such decision, or it is older than the attribution window' end
  local a = string.find(meta, '|', 1, true)
  local b = string.find(meta, '|', a + 1, true)
  local decidedAt = tonumber(string.sub(meta, 1, a - 1))
  if string.sub(meta, b + 1) ~= customerId then
    return 'conflict', 'customerId is not the customer of the decision'
  end
  if not offer then return 'unknown_offer', 'the decision neither showed nor held out this offer' end
  if at < decidedAt - skew then return 'conflict', 'timestamp is before the decision' end
  if at > received + skew then return 'conflict', 'timestamp is in the future' end
  local window = reactionMs
  if kind == 'convert' then window = conversionMs end
  if at > decidedAt + window then
    return 'too_late', kind .. ' came after the attribution window of ' .. (window / 3600000) .. ' h'
  end
  if string.sub(offer, 1, 1) == 'h' and kind ~= 'convert' then
    return 'conflict', 'the offer was held out (control group) and never shown'
  end
  if terminal[kind] then
    if previous == kind then return 'duplicate', 'the offer was already ' .. terminal[kind] end
    if previous then return 'conflict', 'the offer was already ' .. terminal[previous] end
  elseif previous then
    return 'duplicate', 'a ' .. kind .. ' of this offer was already recorded'
  end
  return 'accepted', string.sub(meta, a + 1, b - 1) .. '|' .. offer
end

local codes = {}
local out = { '' }
local received = 0
local i = 6
local k = 2
local last = #ARGV
while i <= last do
  local tag = ARGV[i]
  if tag == 'r' then
    received = tonumber(ARGV[i + 1])
    i = i + 2
  elseif tag == 'o' then
    k = k + 1
    local key = KEYS[k]
    if redis.call('SET', key, '1', 'NX', 'PX', conversionMs + skew) then
      redis.call('XADD', log, '*', 't', 'o', 'e', ARGV[i + 2])
      codes[#codes + 1] = 'a'
    else
      codes[#codes + 1] = 'd'
      out[#out + 1] = 'event ' .. ARGV[i + 1] .. ' was recorded before'
    end
    i = i + 3
  elseif tag == 'd' then
    k = k + 1
    local key, n = KEYS[k], tonumber(ARGV[i + 3])
    if n > 0 and redis.call('EXISTS', key) == 1 then
      codes[#codes + 1] = 'd'
      out[#out + 1] = ''
    else
      redis.call('XADD', log, '*', 't', 'd', 'e', ARGV[i + 4])
      if n > 0 then
        local meta = ARGV[i + 2]
        local decidedAt = tonumber(string.sub(meta, 1, string.find(meta, '|', 1, true) - 1))
        -- A record lives as long as events may still count (a replayed old decision gets none).
        local ttl = decidedAt + conversionMs + skew - now
        if ttl > 0 then
          local record = { 'HSET', key, 'm', meta }
          for j = 0, n - 1 do
            record[#record + 1] = 'o:' .. ARGV[i + 5 + 2 * j]
            record[#record + 1] = ARGV[i + 6 + 2 * j]
          end
          redis.call(unpack(record))
          redis.call('PEXPIRE', key, ttl)
        end
      end
      codes[#codes + 1] = 'a'
    end
    i = i + 5 + 2 * n
  else
    local kind, eventId, decisionId, offerId, customerId, at, json
    if tag == 'j' then
      kind, eventId, decisionId, offerId = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
      customerId, at, json = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
      i = i + 8
    else
      kind, eventId, decisionId, offerId, customerId, at = tag, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
      -- The entry as JSON.stringify writes a FeedbackEvent: its ids need no escaping (reactionArgs).
      json = '{"eventId":"' .. eventId .. '","decisionId":"' .. decisionId .. '","offerId":"' .. offerId
        .. '","customerId":"' .. customerId .. '","type":"' .. kind .. '","value":' .. ARGV[i + 6] .. ',"at":' .. at .. '}'
      i = i + 7
    end
    k = k + 1
    local key = KEYS[k]
    -- A terminal reaction has one slot per offer (r:); others one per offer and type (n:).
    local reaction, mark = 'n:' .. offerId .. ':' .. kind, '1'
    if terminal[kind] then reaction, mark = 'r:' .. offerId, kind end
    local status, reason = judge(key, eventId, offerId, customerId, kind, tonumber(at), received, reaction)
    if status == 'accepted' then
      redis.call('HSET', key, 'e:' .. eventId, '1', reaction, mark)
      redis.call('XADD', log, '*', 't', 'f', 'e', json, 'x', reason)
      codes[#codes + 1] = 'a'
    else
      if keepRejected and status ~= 'duplicate' then
        redis.call('XADD', rejected, '*', 'e', json, 's', status, 'r', reason)
      end
      codes[#codes + 1] = code[status]
      out[#out + 1] = reason
    end
  end
end
out[1] = table.concat(codes)
return out
`);

/** The intake's status codes (the `code` table of INTAKE), by code. */
const STATUS_OF_CODE: Readonly<Record<string, FeedbackStatus>> = {
  a: 'accepted',
  d: 'duplicate',
  u: 'unknown_decision',
  o: 'unknown_offer',
  t: 'too_late',
  c: 'conflict',
};

/**
 * One decision or event on its way to the log: its script arguments, and what its spool line is
 * made of (spoolLineOf), should Redis fail.
 */
interface Item {
  readonly shard: number;
  /** The key of its record (a decision's, or an outcome's id), declared to the script. */
  readonly record: string;
  readonly args: readonly string[];
  /** The event; null for a decision (its spool line is its entry JSON, in args). */
  readonly event: SubmittedEvent | null;
  /** When the server received the event (an `r` item before it tells the script); 0 for a decision. */
  readonly receivedAt: number;
  /** The submit() call waiting for this event's verdict; null for a decision. */
  readonly batch: Batch | null;
  readonly index: number;
}

/** One submit() call: resolved when its last item is durable. */
interface Batch {
  readonly verdicts: FeedbackVerdict[];
  pending: number;
  failed: boolean;
  resolve(verdicts: FeedbackVerdict[]): void;
  reject(err: Error): void;
}

export interface RedisFeedbackLogOptions {
  readonly shards: number;
  readonly windows: AttributionWindows;
  /** The server's clock: it judges events and dates decision records, never Redis' own clock. */
  readonly clock: () => number;
  /** Called after entries were appended, e.g. to wake an in-process consumer. */
  readonly onAppended?: () => void;
  /**
   * Erasure (docs/decisions/0009-erasure.md): `beforeReplay` learns of erasures this server may
   * have missed, and `replayLine` pseudonymises a spooled line of a person erased since.
   */
  readonly erasure?: { beforeReplay(): Promise<void>; replayLine(line: string): string } | undefined;
}

/** Items per script call: large enough to amortise the round trip, small enough not to stall Redis. */
const CHUNK = 200;
/**
 * Script calls in flight at once. Beyond that, items wait and go out together in the next calls:
 * this bounds how much feedback work Redis has queued ahead of a decision's commands.
 */
const MAX_IN_FLIGHT = 4;
/** A write to Redis that takes longer goes to the spool instead (and is judged again on replay). */
const WRITE_DEADLINE_MS = 1000;
const REPLAY_DEADLINE_MS = 10_000;
/** Below this many spooled lines the drain holds new events in memory for its last step. */
const HOLD_BELOW_LINES = 5000;
const CHECK_EVERY_MS = 1000;
/** Every this many checks with nothing to replay, the spool dir is searched for orphaned segments. */
const ORPHAN_CHECK_EVERY = 10;

const QUEUED: FeedbackVerdict = Object.freeze({ status: 'queued', reason: null });
const ACCEPTED: FeedbackVerdict = Object.freeze({ status: 'accepted', reason: null });

/**
 * The feedback log on Redis Streams, with a local spool for when Redis is away.
 *
 * Items that arrive in one tick are written together: one script call per shard and chunk, so a
 * thousand single-event requests cost a handful of round trips. A call that fails or is late
 * sends its items to the spool (fsynced in groups) and switches its shard to spooling: on a
 * cluster the other shards, on masters that answer, go on writing to Redis. When every spooling
 * shard's master answers again the spool is replayed in order. The replay is idempotent, so an
 * item that did reach Redis before its call timed out is not recorded twice. A reaction goes to
 * its decision's shard, so keeping each shard in order keeps decisions ahead of the reactions to
 * them: a spooling shard's new items go to the spool until the backlog is small, and wait in
 * memory (unacknowledged) while its last segment is replayed.
 */
export class RedisFeedbackLog implements FeedbackLog {
  /**
   * Shards whose items go to the spool, each with the failure that put it there (a count that only
   * grows): a drain puts back to Redis the shards it replayed, not one that failed again meanwhile.
   */
  private readonly spooling = new Map<number, number>();
  private failures = 0;
  /** Checks that found nothing to replay (see ORPHAN_CHECK_EVERY). */
  private idleChecks = 0;
  /** Items waiting to be sent, per shard, and how many in all. */
  private readonly queues: ItemQueue[];
  private queued = 0;
  /** Items that arrived while the drain replays its last segment. */
  private held: Item[] | null = null;
  private scheduled = false;
  private redisCalls = 0;
  private readonly inflight = new Set<Promise<void>>();
  private draining: Promise<void> | null = null;
  private decisionsLost = 0;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private readonly prefixes: readonly string[];
  private readonly streams: readonly (readonly [string, string])[];
  private readonly head: readonly string[];

  private constructor(
    private readonly redis: RedisConnection,
    keys: RedisKeys,
    private readonly spool: FeedbackSpool,
    private readonly log: Logger,
    private readonly options: RedisFeedbackLogOptions,
  ) {
    const shards = Array.from({ length: options.shards }, (_, s) => s);
    this.queues = shards.map(() => new ItemQueue());
    this.prefixes = shards.map((s) => keys.feedbackDecisionPrefix(s));
    this.streams = shards.map((s) => [keys.feedbackLog(s), keys.feedbackRejected(s)] as const);
    this.head = [
      String(options.windows.reactionMs),
      String(options.windows.conversionMs),
      String(CLOCK_SKEW_MS),
    ];
    this.redis.on('up', this.onUp);
    this.timer = setInterval(this.onUp, CHECK_EVERY_MS).unref();
  }

  /** Opens the log; a spool left by an earlier run (a crash, or Redis down at shutdown) is replayed. */
  static open(
    redis: RedisConnection,
    keys: RedisKeys,
    spool: FeedbackSpool,
    log: Logger,
    options: RedisFeedbackLogOptions,
  ): RedisFeedbackLog {
    const feedbackLog = new RedisFeedbackLog(redis, keys, spool, log, options);
    if (spool.hasBacklog()) {
      // Which shards the backlog holds is known only by reading it: all spool until it is replayed.
      for (let shard = 0; shard < options.shards; shard++) feedbackLog.spoolShard(shard);
      feedbackLog.onUp();
    }
    return feedbackLog;
  }

  recordDecision(entry: DecisionLogEntry): void {
    if (this.closed) {
      this.decisionsLost++;
      return;
    }
    this.enqueue(this.decisionItem(entry, JSON.stringify(entry)));
  }

  submit(events: readonly SubmittedEvent[], receivedAt: number): Promise<FeedbackVerdict[]> {
    if (this.closed) return Promise.reject(new Error('the feedback log is closed'));
    if (events.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const batch: Batch = {
        verdicts: new Array(events.length),
        pending: events.length,
        failed: false,
        resolve,
        reject,
      };
      for (let i = 0; i < events.length; i++) this.enqueue(this.itemOf(events[i]!, receivedAt, batch, i));
    });
  }

  health(): FeedbackLogHealth {
    const mode = this.draining !== null ? 'draining' : this.spooling.size > 0 ? 'spooling' : 'direct';
    return { mode, spool: this.spool.stats(), decisionsLost: this.decisionsLost };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.redis.off('up', this.onUp);
    // A drain in progress stops after its current chunk (see replay()); what it held goes out with the rest.
    await this.draining;
    while (this.queued > 0 || this.inflight.size > 0) {
      this.flush();
      await Promise.all(this.inflight);
    }
    await this.spool.close();
  }

  /** A reaction goes to its decision's shard; an outcome, which has none, to its customer's. */
  private itemOf(event: SubmittedEvent, receivedAt: number, batch: Batch | null, index: number): Item {
    if (isOutcome(event)) {
      const shard = this.shardOf(event.customerId);
      const args = ['o', event.eventId, JSON.stringify(event)];
      return {
        shard,
        record: `${this.prefixes[shard]}o:${event.eventId}`,
        args,
        event,
        receivedAt,
        batch,
        index,
      };
    }
    const shard = this.shardOf(event.decisionId);
    return {
      shard,
      record: this.prefixes[shard] + event.decisionId,
      args: reactionArgs(event),
      event,
      receivedAt,
      batch,
      index,
    };
  }

  private decisionItem(entry: DecisionLogEntry, json: string): Item {
    const shard = this.shardOf(entry.decisionId);
    const record = this.prefixes[shard] + entry.decisionId;
    return {
      shard,
      record,
      args: decisionArgs(entry, json),
      event: null,
      receivedAt: 0,
      batch: null,
      index: 0,
    };
  }

  private shardOf(id: string): number {
    return this.options.shards === 1 ? 0 : stableHash32(id) % this.options.shards;
  }

  private enqueue(item: Item): void {
    if (this.held !== null && this.spooling.has(item.shard)) {
      this.held.push(item);
      return;
    }
    this.queues[item.shard]!.push(item);
    this.queued++;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.scheduled || this.queued === 0) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  /**
   * Sends what is queued: a spooling shard's items all to the spool, the others' to Redis, a chunk
   * per shard in turn while calls may start (what is left goes when a call returns: toRedis
   * schedules the next flush).
   */
  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.queued === 0) return;
    if (this.spooling.size > 0) {
      const items: Item[] = [];
      for (const shard of this.spooling.keys()) {
        const queue = this.queues[shard]!;
        for (const item of queue.take(queue.length)) items.push(item);
      }
      this.queued -= items.length;
      if (items.length > 0) this.track(this.toSpool(items));
    }
    let sent = true;
    while (sent && this.queued > 0 && this.redisCalls < MAX_IN_FLIGHT) {
      sent = false;
      for (let shard = 0; shard < this.queues.length && this.redisCalls < MAX_IN_FLIGHT; shard++) {
        const queue = this.queues[shard]!;
        if (queue.length === 0) continue;
        const chunk = queue.take(CHUNK);
        this.queued -= chunk.length;
        this.redisCalls++;
        this.track(this.toRedis(shard, chunk));
        sent = true;
      }
    }
  };

  private track(work: Promise<void>): void {
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work));
  }

  private async toRedis(shard: number, items: readonly Item[]): Promise<void> {
    let reply: string[];
    try {
      reply = await this.run(shard, items, false, WRITE_DEADLINE_MS);
    } catch (err) {
      this.startSpooling(shard, err as Error);
      return this.toSpool(items);
    } finally {
      this.redisCalls--;
      this.scheduleFlush();
    }
    const codes = reply[0]!;
    let reason = 1;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      const code = codes[i]!;
      if (code === 'a') {
        if (item.batch !== null) settle(item, ACCEPTED);
        continue;
      }
      const why = reply[reason++]!;
      if (item.batch !== null) settle(item, { status: STATUS_OF_CODE[code]!, reason: why || null });
    }
    this.options.onAppended?.();
  }

  /**
   * One INTAKE call for `items`: `{ codes, reasons… }` (see INTAKE). The command is one array made
   * to its length: a chunk is over a thousand arguments.
   */
  private run(shard: number, items: readonly Item[], replay: boolean, timeoutMs: number): Promise<string[]> {
    let length = 10 + items.length;
    let receivedAt = -1;
    for (const item of items) {
      if (item.event !== null && item.receivedAt !== receivedAt) {
        receivedAt = item.receivedAt;
        length += 2;
      }
      length += item.args.length;
    }
    const [log, rejected] = this.streams[shard]!;
    const command = new Array<string>(length);
    // EVALSHA sha (INTAKE.send fills them in), the keys (the streams, each item's record), the head.
    command[0] = '';
    command[1] = '';
    command[2] = String(2 + items.length);
    command[3] = log;
    command[4] = rejected;
    let at = 5;
    for (const item of items) command[at++] = item.record;
    command[at++] = this.head[0]!;
    command[at++] = this.head[1]!;
    command[at++] = this.head[2]!;
    command[at++] = replay ? '1' : '0';
    command[at++] = String(this.options.clock());
    receivedAt = -1;
    for (const item of items) {
      if (item.event !== null && item.receivedAt !== receivedAt) {
        receivedAt = item.receivedAt;
        command[at++] = 'r';
        command[at++] = String(receivedAt);
      }
      for (const a of item.args) command[at++] = a;
    }
    return INTAKE.send<string[]>(this.redis, log, command, { timeoutMs });
  }

  /** Every item is durable in the spool when this resolves, or its submitter got an error. */
  private async toSpool(items: readonly Item[]): Promise<void> {
    try {
      await this.spool.append(items.map(spoolLineOf));
    } catch (err) {
      const lost = items.filter((i) => i.batch === null).length;
      this.decisionsLost += lost;
      this.log.error({ err: (err as Error).message, decisionsLost: lost }, 'feedback spool write failed');
      for (const item of items) item.batch && fail(item.batch, err as Error);
      return;
    }
    for (const item of items) if (item.batch !== null) settle(item, QUEUED);
  }

  /** Whatever failed, the spool keeps the events; only an outage is expected, anything else is logged as a bug. */
  private startSpooling(shard: number, err: Error): void {
    if (!(err instanceof RedisUnavailableError)) {
      // An error reply: a full Redis (OOM) or a bug in the script.
      this.log.error({ err: err.message }, 'feedback log: Redis refused a write');
    }
    if (!this.spooling.has(shard))
      this.log.warn({ shard, err: err.message }, 'feedback log: Redis unreachable, spooling events locally');
    this.spoolShard(shard);
  }

  private spoolShard(shard: number): void {
    this.spooling.set(shard, ++this.failures);
  }

  private readonly onUp = (): void => {
    if (this.closed || this.draining !== null) return;
    if (this.spooling.size === 0 && !this.spool.hasBacklog()) {
      if (++this.idleChecks % ORPHAN_CHECK_EVERY === 0) void this.adoptOrphans();
      return;
    }
    // A replay would fail on a shard whose master is still away; wait until they all answer.
    if (!this.redis.isUp) return;
    this.draining = this.drain().finally(() => {
      this.draining = null;
    });
  };

  /**
   * Replays the spool. A spooling shard's new items keep going to the spool while the backlog is
   * large; for the last segment they wait in memory, so that nothing overtakes what was spooled
   * before it. The other shards write to Redis meanwhile.
   */
  private async drain(): Promise<void> {
    try {
      do {
        await this.spool.rotate();
        await this.replayClosed();
      } while (this.spool.openLines >= HOLD_BELOW_LINES && !this.closed);
      if (this.closed) throw new Error('closing');
      this.held = [];
      // Spool writes already under way land in the segment that rotate() closes.
      while (this.inflight.size > 0) await Promise.all(this.inflight);
      await this.spool.rotate();
      const replayed = this.failures;
      await this.replayClosed();
      // A shard that failed after the rotate has lines in the open segment: it spools on.
      for (const [shard, failure] of this.spooling) if (failure <= replayed) this.spooling.delete(shard);
      this.log.info({ spooling: this.spooling.size }, 'feedback log: spool replayed, writing to Redis again');
    } catch (err) {
      if (!this.closed) this.log.warn({ err: (err as Error).message }, 'feedback log: replay interrupted');
    } finally {
      const held = this.held ?? [];
      this.held = null;
      for (const item of held) this.enqueue(item);
      if (this.closed) this.flush();
    }
  }

  /**
   * Segments left by a process that died while this one runs (a server on the same dir, a worker
   * that outlived its killed primary for a moment) are replayed here rather than wait for a restart.
   * Guarded by feedback-durability.int.test.ts "(d)".
   */
  private async adoptOrphans(): Promise<void> {
    try {
      if ((await this.spool.claimOrphans()) > 0) this.onUp();
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message },
        'feedback log: could not look for orphaned spool segments',
      );
    }
  }

  private async replayClosed(): Promise<void> {
    await this.options.erasure?.beforeReplay();
    for (const file of await this.spool.closedSegments()) {
      let lines = 0;
      let rejected = 0;
      for await (const chunk of this.spool.readSegment(file, CHUNK)) {
        if (this.closed) throw new Error('closing');
        const byShard = new Map<number, Item[]>();
        for (const line of chunk) {
          const item = this.itemOfLine(line);
          if (item === null) continue;
          const list = byShard.get(item.shard);
          if (list === undefined) byShard.set(item.shard, [item]);
          else list.push(item);
        }
        for (const [shard, items] of byShard) {
          const [codes] = await this.run(shard, items, true, REPLAY_DEADLINE_MS);
          for (const code of codes!) if (code !== 'a' && code !== 'd') rejected++;
        }
        lines += chunk.length;
      }
      await this.spool.removeSegment(file);
      this.options.onAppended?.();
      this.log.info({ lines, rejected }, 'feedback log: spool segment replayed');
    }
  }

  /** Parses a spool line back into an item; null (and a warning) for a line that is not one of ours. */
  private itemOfLine(spooled: string): Item | null {
    const line = this.options.erasure?.replayLine(spooled) ?? spooled;
    try {
      if (line.startsWith('d ')) {
        const json = line.slice(2);
        return this.decisionItem(JSON.parse(json) as DecisionLogEntry, json);
      }
      if (line.startsWith('f ') || line.startsWith('o ')) {
        const space = line.indexOf(' ', 2);
        const event = JSON.parse(line.slice(space + 1)) as SubmittedEvent;
        return this.itemOf(event, Number(line.slice(2, space)), null, 0);
      }
    } catch {
      // fall through
    }
    this.log.warn({ length: line.length }, 'feedback log: skipped a spool line that is not an entry');
    return null;
  }
}

function decisionArgs(entry: DecisionLogEntry, json: string): string[] {
  const n = entry.offers.length + entry.heldOut.length;
  const args = ['d', entry.decisionId, `${entry.at}|${entry.channel}|${entry.customerId}`, String(n), json];
  for (const o of entry.offers) args.push(o.offerId, offerTag(o.campaignId, o.segmentId, false, entry.arm));
  for (const o of entry.heldOut) args.push(o.offerId, offerTag(o.campaignId, o.segmentId, true, entry.arm));
  return args;
}

/**
 * An item's spool line, made only when Redis fails (itemOfLine reads it back): `d <entry JSON>`
 * (decisionArgs puts it in args[4]), `f <receivedAt> <event JSON>` or `o <receivedAt> <outcome JSON>`.
 */
function spoolLineOf(item: Item): string {
  const e = item.event;
  if (e === null) return `d ${item.args[4]}`;
  return `${isOutcome(e) ? 'o' : 'f'} ${item.receivedAt} ${JSON.stringify(e)}`;
}

/** Printable ASCII but `"` and `\`: a string JSON writes as it is, between quotes. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * A reaction's arguments, each field once: the script writes the entry JSON itself when the ids
 * need no escaping (almost always), as JSON.stringify would; else the JSON goes along (`j`).
 */
/** A number as JSON.stringify writes it (null for none, or one JSON cannot hold). */
const jsonNumber = (v: number | null): string =>
  typeof v === 'number' && Number.isFinite(v) ? String(v) : 'null';

function reactionArgs(e: FeedbackEvent): string[] {
  const at = String(e.at);
  if (PLAIN.test(e.eventId) && PLAIN.test(e.decisionId) && PLAIN.test(e.offerId) && PLAIN.test(e.customerId))
    return [e.type, e.eventId, e.decisionId, e.offerId, e.customerId, at, jsonNumber(e.value)];
  return ['j', e.type, e.eventId, e.decisionId, e.offerId, e.customerId, at, JSON.stringify(e)];
}

/** Items of one shard waiting to be sent, oldest first, taken from the front without copying the rest. */
class ItemQueue {
  private items: Item[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: Item): void {
    this.items.push(item);
  }

  /** Up to `n` items from the front. */
  take(n: number): Item[] {
    const end = Math.min(this.head + n, this.items.length);
    const out = this.items.slice(this.head, end);
    this.head = end;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return out;
  }
}

function settle(item: Item, verdict: FeedbackVerdict): void {
  const batch = item.batch!;
  if (batch.failed) return;
  batch.verdicts[item.index] = verdict;
  if (--batch.pending === 0) batch.resolve(batch.verdicts);
}

function fail(batch: Batch, err: Error): void {
  if (batch.failed) return;
  batch.failed = true;
  batch.reject(err);
}
