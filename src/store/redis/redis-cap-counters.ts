import type { Logger } from 'pino';
import { DAY_MS } from '../../ruleset/time.js';
import type { CapCounters } from '../cap-counters.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

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
      const writes: Promise<unknown>[] = [];
      for (const [field, n] of flushing.total)
        writes.push(this.redis.send(k.capsTotal(), ['HINCRBY', k.capsTotal(), field, String(n)]));
      if (flushing.day >= 0) {
        const dayKey = k.capsDay(flushing.day);
        for (const [field, n] of flushing.today)
          writes.push(this.redis.send(dayKey, ['HINCRBY', dayKey, field, String(n)]));
        if (flushing.today.size > 0)
          writes.push(this.redis.send(dayKey, ['EXPIRE', dayKey, String(2 * 86_400)]));
      }
      for (const [field, x] of flushing.spend) {
        writes.push(this.redis.send(k.capsSpend(), ['HINCRBYFLOAT', k.capsSpend(), field, String(x)]));
      }
      await Promise.all(writes);
      const day = dayOf(this.clock());
      const [total, today, spend] = await Promise.all([
        this.hgetall(k.capsTotal()),
        this.hgetall(k.capsDay(day)),
        this.hgetall(k.capsSpend()),
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

  private async hgetall(key: string): Promise<Counts> {
    const flat = await this.redis.send<string[]>(key, ['HGETALL', key]);
    const counts: Counts = new Map();
    for (let i = 0; i < flat.length; i += 2) counts.set(flat[i]!, Number(flat[i + 1]));
    return counts;
  }
}

const dayOf = (now: number): number => Math.floor(now / DAY_MS);

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
