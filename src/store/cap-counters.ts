import type { CapUsage } from '../domain/contact.js';
import { DAY_MS } from '../ruleset/time.js';

/**
 * Offers shown per offer and campaign, in total and for the current UTC day, on this node.
 * Caps are enforced against these counts. (Cluster-wide exact counts live in Redis.)
 */
export interface CapCounters extends CapUsage {
  record(offerId: string, campaignId: string, now: number, cost: number): void;
  rollover(now: number): void;
}

export class MemoryCapCounters implements CapCounters {
  private day = -1;
  private readonly total = new Map<string, number>();
  private readonly today = new Map<string, number>();

  private readonly spend = new Map<string, number>();

  /** Counts one offer shown at `now`, and the channel cost it spent. */
  record(offerId: string, campaignId: string, now: number, cost: number): void {
    this.rollover(now);
    if (cost > 0) this.spend.set(campaignId, (this.spend.get(campaignId) ?? 0) + cost);
    bump(this.total, `o:${offerId}`);
    bump(this.today, `o:${offerId}`);
    bump(this.total, `c:${campaignId}`);
    bump(this.today, `c:${campaignId}`);
  }

  /** Moves to the day of `now`; call before reading so yesterday's counts do not cap today. */
  rollover(now: number): void {
    const day = Math.floor(now / DAY_MS);
    if (day !== this.day) {
      this.day = day;
      this.today.clear();
    }
  }

  offerTotal(offerId: string): number {
    return this.total.get(`o:${offerId}`) ?? 0;
  }
  offerToday(offerId: string): number {
    return this.today.get(`o:${offerId}`) ?? 0;
  }
  campaignTotal(campaignId: string): number {
    return this.total.get(`c:${campaignId}`) ?? 0;
  }
  campaignToday(campaignId: string): number {
    return this.today.get(`c:${campaignId}`) ?? 0;
  }
  campaignSpend(campaignId: string): number {
    return this.spend.get(campaignId) ?? 0;
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
