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

/** Counts per field (`o:<offer>`, `c:<campaign>`), as the hashes hold them. */
type Counts = Map<string, number>;

/**
 * An offer's or a campaign's counts: every server's as of the last sync, and this server's since.
 * One object per id, so that a read (the engine screens each candidate) is one lookup.
 */
interface Tally {
  /** Its field in the hashes: `o:<offer>` or `c:<campaign>`. */
  readonly field: string;
  total: number;
  /** For the UTC day `RedisCapCounters.day`. */
  today: number;
  spend: number;
  addTotal: number;
  /** For the UTC day `RedisCapCounters.addDay`. */
  addToday: number;
  addSpend: number;
  /**
   * This server's counts on their way to Redis (a sync in flight): still counted by reads until
   * the sync's answer, which includes them, arrives. Without them a cap could be passed between
   * the sync taking the counts and Redis answering.
   */
  syncTotal: number;
  /** For the UTC day `RedisCapCounters.syncDay`. */
  syncToday: number;
  syncSpend: number;
}

/** Ids are the rulesets' offers and campaigns; a bound guards against surprises. */
const MAX_TALLIES = 100_000;

/**
 * Offer and campaign caps and campaign budgets shared by every server. A decision must not wait
 * for Redis to count, so each server counts locally, adds its counts to Redis every `syncMs`
 * (HINCRBY, atomic), and reads back the totals of all servers. Reads are the last totals plus what
 * this server counted since: a cap can be overshot by what the other servers showed within one
 * sync period, never by more. (Contact caps per customer are exact: see the contact history.)
 */
export class RedisCapCounters implements CapCounters {
  private readonly offers = new Map<string, Tally>();
  private readonly campaigns = new Map<string, Tally>();
  /** The UTC day the synced `today` counts are of. */
  private day = -1;
  /** The UTC day this server's unsynced `addToday` counts are of. */
  private addDay = -1;
  /** The UTC day of the counts a sync in flight is adding (`syncToday`). */
  private syncDay = -1;
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
    if (this.addDay !== day) {
      // A new UTC day: yesterday's unsynced daily counts no longer matter (they stay in the totals).
      for (const t of this.offers.values()) t.addToday = 0;
      for (const t of this.campaigns.values()) t.addToday = 0;
      this.addDay = day;
    }
    const offer = tallyOf(this.offers, 'o:', offerId);
    offer.addTotal++;
    offer.addToday++;
    const campaign = tallyOf(this.campaigns, 'c:', campaignId);
    campaign.addTotal++;
    campaign.addToday++;
    campaign.addSpend += cost;
  }

  offerTotal(offerId: string): number {
    const t = this.offers.get(offerId);
    return t === undefined ? 0 : t.total + t.addTotal + t.syncTotal;
  }
  offerToday(offerId: string, now: number): number {
    return this.todayOf(this.offers.get(offerId), now);
  }
  campaignTotal(campaignId: string): number {
    const t = this.campaigns.get(campaignId);
    return t === undefined ? 0 : t.total + t.addTotal + t.syncTotal;
  }
  campaignToday(campaignId: string, now: number): number {
    return this.todayOf(this.campaigns.get(campaignId), now);
  }
  campaignSpend(campaignId: string): number {
    const t = this.campaigns.get(campaignId);
    return t === undefined ? 0 : t.spend + t.addSpend + t.syncSpend;
  }

  /** Adds this server's counts to Redis and reads everybody's totals. Public for tests. */
  async sync(): Promise<void> {
    if (this.syncing) return;
    this.syncing = true;
    // What this server counted since the last sync leaves the tallies now; it goes back on failure.
    const flushing = { total: new Map() as Counts, today: new Map() as Counts, spend: new Map() as Counts };
    const flushingDay = this.addDay;
    for (const map of [this.offers, this.campaigns]) {
      for (const t of map.values()) {
        if (t.addTotal !== 0) flushing.total.set(t.field, t.addTotal);
        if (t.addToday !== 0) flushing.today.set(t.field, t.addToday);
        if (t.addSpend !== 0) flushing.spend.set(t.field, t.addSpend);
        t.syncTotal = t.addTotal;
        t.syncToday = t.addToday;
        t.syncSpend = t.addSpend;
        t.addTotal = 0;
        t.addToday = 0;
        t.addSpend = 0;
      }
    }
    this.syncDay = flushingDay;
    try {
      const k = this.keys;
      const day = dayOf(this.clock());
      const dayKey = k.capsDay(day);
      const pendingDay = flushingDay >= 0 && flushing.today.size > 0 ? flushingDay : -1;
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
      for (const map of [this.offers, this.campaigns]) {
        for (const t of map.values()) {
          t.total = 0;
          t.today = 0;
          t.spend = 0;
          t.syncTotal = 0;
          t.syncToday = 0;
          t.syncSpend = 0;
        }
      }
      this.apply(total, 'total');
      this.apply(today, 'today');
      this.apply(spend, 'spend');
      this.day = day;
    } catch (err) {
      // Not counted in Redis yet: keep the counts for the next sync. (An HINCRBY that reached
      // Redis but whose answer was lost is counted twice: caps err on the safe side.) Daily counts
      // of a day that ended meanwhile no longer matter.
      for (const map of [this.offers, this.campaigns]) {
        for (const t of map.values()) {
          t.addTotal += flushing.total.get(t.field) ?? 0;
          if (this.addDay === flushingDay) t.addToday += flushing.today.get(t.field) ?? 0;
          t.addSpend += flushing.spend.get(t.field) ?? 0;
          t.syncTotal = 0;
          t.syncToday = 0;
          t.syncSpend = 0;
        }
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

  private todayOf(t: Tally | undefined, now: number): number {
    if (t === undefined) return 0;
    const day = dayOf(now);
    return (
      (this.day === day ? t.today : 0) +
      (this.addDay === day ? t.addToday : 0) +
      (this.syncDay === day ? t.syncToday : 0)
    );
  }

  /** Every server's counts, as a hash answered them, into the tallies (ids counted elsewhere too). */
  private apply(counts: Counts, into: 'total' | 'today' | 'spend'): void {
    for (const [field, n] of counts) {
      const offer = field.startsWith('o:');
      if (!offer && !field.startsWith('c:')) continue;
      const t = tallyOf(offer ? this.offers : this.campaigns, offer ? 'o:' : 'c:', field.slice(2));
      t[into] = n;
    }
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
/** A tally with nothing counted yet. */
function emptyTally(field: string): Tally {
  return {
    field,
    total: 0,
    today: 0,
    spend: 0,
    addTotal: 0,
    addToday: 0,
    addSpend: 0,
    syncTotal: 0,
    syncToday: 0,
    syncSpend: 0,
  };
}

/** Counts nobody keeps: for ids past MAX_TALLIES (never in practice). */
const STRAY: Tally = emptyTally('');

function tallyOf(tallies: Map<string, Tally>, prefix: string, id: string): Tally {
  let t = tallies.get(id);
  if (t === undefined) {
    if (tallies.size >= MAX_TALLIES) return STRAY;
    t = emptyTally(prefix + id);
    tallies.set(id, t);
  }
  return t;
}
