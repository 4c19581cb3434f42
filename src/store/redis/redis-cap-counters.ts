import type { Logger } from 'pino';
import { DAY_MS } from '../../ruleset/time.js';
import type { CapCounters } from '../cap-counters.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import { RedisScript } from './redis-script.js';

// KEYS: one counts hash. ARGV: 'f' (HINCRBYFLOAT) or 'i' (HINCRBY), seconds to expire ('0': none),
// '1' to answer the whole hash (HGETALL) or '0' for nothing, then field, count, field, count…
// One call per hash and sync, not one command per field: a sync adds a few hundred fields (an offer
// and its campaign, all time and today) at every rate, and each command costs the client and Redis
// more than a line of Lua. Counts already added when the reply is lost are added again by the next
// sync: caps err on the safe side. One key per call, so that it runs on a cluster too.
const ADD_AND_READ = new RedisScript(`
local add = ARGV[1] == 'f' and 'HINCRBYFLOAT' or 'HINCRBY'
for i = 4, #ARGV, 2 do redis.call(add, KEYS[1], ARGV[i], ARGV[i + 1]) end
if #ARGV >= 4 and ARGV[2] ~= '0' then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if ARGV[3] == '1' then return redis.call('HGETALL', KEYS[1]) end
return {}
`);

/** Counts per field (`o:<offer>`, `c:<campaign>`). */
type Counts = Map<string, number>;

/**
 * Offer and campaign caps and campaign budgets shared by every server. A decision must not wait
 * for Redis to count, so each server counts locally, adds its counts to Redis every `syncMs`
 * (HINCRBY, atomic), and reads back the totals of all servers. Reads are the last totals plus what
 * this server counted since: a cap can be overshot by what the other servers showed within one
 * sync period, never by more. (Contact caps per customer are exact: see the contact history.)
 */
export class RedisCapCounters implements CapCounters {
  private total: Counts = new Map();
  private today: Counts = new Map();
  private spend: Counts = new Map();
  private day = -1;
  private pending = {
    total: new Map() as Counts,
    today: new Map() as Counts,
    spend: new Map() as Counts,
    day: -1,
  };
  private readonly timer: NodeJS.Timeout;
  private syncing = false;

  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly log: Logger,
    private readonly clock: () => number,
    syncMs = 250,
  ) {
    this.timer = setInterval(() => void this.sync(), syncMs).unref();
  }

  record(offerId: string, campaignId: string, now: number, cost: number): void {
    const day = dayOf(now);
    if (this.pending.day !== day) {
      // A new UTC day: yesterday's unsynced daily counts no longer matter (they stay in the totals).
      this.pending.today.clear();
      this.pending.day = day;
    }
    const offer = fieldOf(OFFER_FIELDS, 'o:', offerId);
    const campaign = fieldOf(CAMPAIGN_FIELDS, 'c:', campaignId);
    add(this.pending.total, offer, 1);
    add(this.pending.today, offer, 1);
    add(this.pending.total, campaign, 1);
    add(this.pending.today, campaign, 1);
    if (cost !== 0) add(this.pending.spend, campaign, cost);
  }

  offerTotal(offerId: string): number {
    return this.read(this.total, this.pending.total, fieldOf(OFFER_FIELDS, 'o:', offerId));
  }
  offerToday(offerId: string, now: number): number {
    return this.readToday(fieldOf(OFFER_FIELDS, 'o:', offerId), now);
  }
  campaignTotal(campaignId: string): number {
    return this.read(this.total, this.pending.total, fieldOf(CAMPAIGN_FIELDS, 'c:', campaignId));
  }
  campaignToday(campaignId: string, now: number): number {
    return this.readToday(fieldOf(CAMPAIGN_FIELDS, 'c:', campaignId), now);
  }
  campaignSpend(campaignId: string): number {
    return this.read(this.spend, this.pending.spend, fieldOf(CAMPAIGN_FIELDS, 'c:', campaignId));
  }

  /** Adds this server's counts to Redis and reads everybody's totals. Public for tests. */
  async sync(): Promise<void> {
    if (this.syncing) return;
    this.syncing = true;
    const flushing = this.pending;
    this.pending = { total: new Map(), today: new Map(), spend: new Map(), day: flushing.day };
    try {
      const k = this.keys;
      const day = dayOf(this.clock());
      const dayKey = k.capsDay(day);
      const pendingDay = flushing.day >= 0 && flushing.today.size > 0 ? flushing.day : -1;
      const [total, today, spend] = await Promise.all([
        this.addAndRead(k.capsTotal(), 'i', '0', true, flushing.total),
        // Counts of a day that is over (a sync across midnight) go to that day; today's are read.
        pendingDay >= 0 && pendingDay !== day
          ? this.addAndRead(k.capsDay(pendingDay), 'i', DAY_TTL_S, false, flushing.today).then(() =>
              this.addAndRead(dayKey, 'i', '0', true, NO_COUNTS),
            )
          : this.addAndRead(dayKey, 'i', DAY_TTL_S, true, pendingDay >= 0 ? flushing.today : NO_COUNTS),
        this.addAndRead(k.capsSpend(), 'f', '0', true, flushing.spend),
      ]);
      this.total = total;
      this.today = today;
      this.spend = spend;
      this.day = day;
    } catch (err) {
      // Not counted in Redis yet: keep the counts for the next sync. (An HINCRBY that reached
      // Redis but whose answer was lost is counted twice: caps err on the safe side.)
      for (const [name, counts] of [
        ['total', flushing.total],
        ['today', flushing.today],
        ['spend', flushing.spend],
      ] as const) {
        for (const [field, n] of counts) add(this.pending[name], field, n);
      }
      this.log.debug({ err: (err as Error).message }, 'cap counters not synced');
    } finally {
      this.syncing = false;
    }
  }

  /** Stops syncing, after a last attempt to hand this server's counts to Redis. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.sync();
  }

  private read(synced: Counts, pending: Counts, field: string): number {
    return (synced.get(field) ?? 0) + (pending.get(field) ?? 0);
  }

  private readToday(field: string, now: number): number {
    const day = dayOf(now);
    const synced = this.day === day ? (this.today.get(field) ?? 0) : 0;
    const pending = this.pending.day === day ? (this.pending.today.get(field) ?? 0) : 0;
    return synced + pending;
  }

  /** Adds `counts` to the hash `key` in one script call; then, if `read`, all of its counts. */
  private async addAndRead(
    key: string,
    kind: 'i' | 'f',
    expireS: string,
    read: boolean,
    counts: Counts,
  ): Promise<Counts> {
    const args: string[] = [kind, expireS, read ? '1' : '0'];
    for (const [field, n] of counts) args.push(field, String(n));
    const flat = await ADD_AND_READ.run<string[]>(this.redis, [key], args);
    const out: Counts = new Map();
    for (let i = 0; i < flat.length; i += 2) out.set(flat[i]!, Number(flat[i + 1]));
    return out;
  }
}

const dayOf = (now: number): number => Math.floor(now / DAY_MS);
/** Daily counts live two days: yesterday's still matter to a sync across midnight. */
const DAY_TTL_S = String(2 * 86_400);
const NO_COUNTS: Counts = new Map();

// Field names per id, made once: caps are read and counted on every decision.
const OFFER_FIELDS = new Map<string, string>();
const CAMPAIGN_FIELDS = new Map<string, string>();

function fieldOf(fields: Map<string, string>, prefix: string, id: string): string {
  let field = fields.get(id);
  if (field === undefined) {
    field = prefix + id;
    // Ids come from the rulesets in force, so this stays small; a bound guards against surprises.
    if (fields.size < 100_000) fields.set(id, field);
  }
  return field;
}

function add(counts: Counts, field: string, n: number): void {
  counts.set(field, (counts.get(field) ?? 0) + n);
}
