import type { RedisConnection, RedisReply } from '../../store/redis/redis-connection.js';
import type { RedisKeys } from '../../store/redis/redis-keys.js';
import { RedisScript } from '../../store/redis/redis-script.js';
import { customerOfJson, mentions, type PseudonymOf, pseudonymiseJson } from './log-erasure.js';

// Takes a person's entries out of a shard's log stream, atomically with respect to the consumers'
// ACK_AND_COUNT (redis-feedback-consumer.ts). An entry every consumer group has processed (delivered
// and acknowledged) gave its counts already: it is deleted. Any other is replaced by a copy with the
// id pseudonymised, appended at the end, and the original is acknowledged where it is pending and
// deleted, so that the copy, not the original, is counted: once. (A second group that did process
// the original would count the copy again: see docs/decisions/0009-erasure.md.)
// KEYS: [1] the log stream. ARGV: per entry: id, n, then n fields and values of its copy.
// Returns { deleted, replaced }.
const ERASE_ENTRIES = new RedisScript(`
local log = KEYS[1]
local function parse(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end
local function after(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am > bm or (am == bm and as > bs)
end
local groups = {}
if redis.call('EXISTS', log) == 1 then
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', log)) do
    local g = {}
    for k = 1, #info, 2 do g[info[k]] = info[k + 1] end
    groups[#groups + 1] = { name = g['name'], last = g['last-delivered-id'] }
  end
end
local deleted, replaced = 0, 0
local i = 1
while i <= #ARGV do
  local id, n = ARGV[i], tonumber(ARGV[i + 1])
  if #redis.call('XRANGE', log, id, id) > 0 then
    local processed = #groups > 0
    local pending = {}
    for _, g in ipairs(groups) do
      if after(id, g.last) then
        processed = false
      elseif #redis.call('XPENDING', log, g.name, id, id, 1) > 0 then
        processed = false
        pending[#pending + 1] = g.name
      end
    end
    if not processed then
      local copy = { 'XADD', log, '*' }
      for j = i + 2, i + 1 + n do copy[#copy + 1] = ARGV[j] end
      redis.call(unpack(copy))
      for _, name in ipairs(pending) do redis.call('XACK', log, name, id) end
      replaced = replaced + 1
    else
      deleted = deleted + 1
    end
    redis.call('XDEL', log, id)
  end
  i = i + 2 + n
end
return { deleted, replaced }
`);

/** Entries read per XRANGE while looking for a person's. */
const PAGE = 1000;
/** Entries per ERASE_ENTRIES call: a script blocks Redis while it runs. */
const ERASE_BATCH = 64;

/** One entry of a stream: its id and fields, as XRANGE answers. */
export interface StreamEntry {
  readonly id: string;
  readonly fields: readonly string[];
}

/** A person's entries in the feedback log's keys (for an export), by shard and stream. */
export interface PersonLogEntries {
  readonly shard: number;
  readonly stream: 'log' | 'rejected' | 'dead';
  readonly id: string;
  readonly fields: Readonly<Record<string, string>>;
}

export interface LogErasureCounts {
  /** Entries deleted (processed already, or in the rejected and dead-letter streams). */
  readonly deleted: number;
  /** Entries not processed yet, replaced by a pseudonymised copy. */
  readonly pseudonymised: number;
  /** Decision records and outcome ids deleted. */
  readonly records: number;
}

/**
 * Finds a person's entries in every shard of the feedback log on Redis, for erasure and for an
 * export: the log stream, the rejected stream, the dead-letter stream, and the decision records and
 * outcome ids their entries name. Streams are read whole, a page at a time (an erasure is rare;
 * the log holds its retention, a week by default).
 */
export class RedisLogEraser {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly shards: number,
  ) {}

  /** Erases every trace of `ids` in the log (see ERASE_ENTRIES for what is deleted and what replaced). */
  async erase(ids: readonly string[], pseudonymOf: PseudonymOf): Promise<LogErasureCounts> {
    let deleted = 0;
    let pseudonymised = 0;
    let records = 0;
    for (let shard = 0; shard < this.shards; shard++) {
      const log = this.keys.feedbackLog(shard);
      const prefix = this.keys.feedbackDecisionPrefix(shard);
      const doomed = new Set<string>();
      let batch: string[] = [];
      let inBatch = 0;
      const flush = async () => {
        if (inBatch === 0) return;
        const [d, r] = await ERASE_ENTRIES.run<[number, number]>(this.redis, [log], batch, {
          timeoutMs: 10_000,
        });
        deleted += d;
        pseudonymised += r;
        batch = [];
        inBatch = 0;
      };
      for await (const entry of this.entries(log, ids)) {
        const fields = entry.fields;
        const copy: string[] = [];
        let theirs = false;
        for (let k = 0; k + 1 < fields.length; k += 2) {
          const value = fields[k] === 'e' ? pseudonymiseJson(fields[k + 1]!, pseudonymOf) : null;
          if (value !== null) theirs = true;
          copy.push(fields[k]!, value ?? fields[k + 1]!);
        }
        if (!theirs) continue;
        for (const record of recordsOf(fields)) doomed.add(prefix + record);
        batch.push(entry.id, String(copy.length), ...copy);
        if (++inBatch === ERASE_BATCH) await flush();
      }
      await flush();
      for (const key of doomed) records += await this.redis.send<number>(key, ['DEL', key]);
      for (const stream of [this.keys.feedbackRejected(shard), this.keys.feedbackDead(shard)]) {
        const mine: string[] = [];
        for await (const entry of this.entries(stream, ids)) {
          const e = fieldMap(entry.fields).e;
          if (e !== undefined && pseudonymOf(customerOfJson(e) ?? '') !== null) mine.push(entry.id);
        }
        for (let i = 0; i < mine.length; i += PAGE) {
          deleted += await this.redis.send<number>(stream, ['XDEL', stream, ...mine.slice(i, i + PAGE)]);
        }
      }
    }
    return { deleted, pseudonymised, records };
  }

  /** Everything the log's keys hold about `ids`: entries of the three streams, and decision records. */
  async export(ids: readonly string[]): Promise<{
    entries: PersonLogEntries[];
    decisionRecords: Record<string, Record<string, string>>;
  }> {
    const wanted = new Set(ids);
    const entries: PersonLogEntries[] = [];
    const decisionRecords: Record<string, Record<string, string>> = {};
    for (let shard = 0; shard < this.shards; shard++) {
      const streams = [
        ['log', this.keys.feedbackLog(shard)],
        ['rejected', this.keys.feedbackRejected(shard)],
        ['dead', this.keys.feedbackDead(shard)],
      ] as const;
      for (const [stream, key] of streams) {
        for await (const entry of this.entries(key, ids)) {
          const fields = fieldMap(entry.fields);
          const customer = fields.e === undefined ? null : customerOfJson(fields.e);
          if (customer === null || !wanted.has(customer)) continue;
          entries.push({ shard, stream, id: entry.id, fields });
          if (stream !== 'log') continue;
          for (const record of recordsOf(entry.fields)) {
            const recordKey = this.keys.feedbackDecisionPrefix(shard) + record;
            // An outcome's id is a plain string (seen), a decision's record a hash.
            const flat = record.startsWith('o:')
              ? ['seen', await this.redis.send<string | null>(recordKey, ['GET', recordKey])]
              : await this.redis.send<string[]>(recordKey, ['HGETALL', recordKey]);
            if (flat.length > 0 && flat[1] !== null) decisionRecords[recordKey] = fieldMap(flat);
          }
        }
      }
    }
    return { entries, decisionRecords };
  }

  /** The entries of a stream whose fields mention any of `ids` (a substring: callers check exactly). */
  private async *entries(stream: string, ids: readonly string[]): AsyncIterable<StreamEntry> {
    let start = '-';
    for (;;) {
      const page = await this.redis.send<[string, string[]][]>(
        stream,
        ['XRANGE', stream, start, '+', 'COUNT', String(PAGE)],
        { timeoutMs: 10_000 },
      );
      for (const [id, fields] of page) if (mentions(fields, ids)) yield { id, fields };
      if (page.length < PAGE) return;
      start = `(${page[page.length - 1]![0]}`;
    }
  }
}

/** The decision record (`<decisionId>`) or outcome id (`o:<eventId>`) an entry's `e` names. */
function recordsOf(fields: readonly string[]): string[] {
  const map = fieldMap(fields);
  if (map.e === undefined) return [];
  try {
    const e = JSON.parse(map.e) as { decisionId?: unknown; eventId?: unknown };
    if (map.t === 'o' && typeof e.eventId === 'string') return [`o:${e.eventId}`];
    return typeof e.decisionId === 'string' ? [e.decisionId] : [];
  } catch {
    return [];
  }
}

function fieldMap(flat: readonly RedisReply[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}
