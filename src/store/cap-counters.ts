import type { CapUsage } from '../domain/contact.js';
import { DAY_MS } from '../ruleset/time.js';

export interface CapCounters extends CapUsage {
  record(offerId: string, campaignId: string, now: number, cost: number): void;
}

interface Count {
  total: number;
  today: number;
  /** The UTC day `today` counts; an older day reads as zero. */
  day: number;
  spend: number;
}

/**
 * Offers shown per offer and campaign, in total and for the current UTC day, and the channel cost
 * spent per campaign, on this node. Caps and budgets are enforced against these counts.
 */
export class MemoryCapCounters implements CapCounters {
  private readonly offers = new Map<string, Count>();
  private readonly campaigns = new Map<string, Count>();

  /** Counts one offer shown at `now`, and the channel cost it spent. */
  record(offerId: string, campaignId: string, now: number, cost: number): void {
    bump(this.offers, offerId, dayOf(now), 0);
    bump(this.campaigns, campaignId, dayOf(now), cost);
  }

  offerTotal(offerId: string): number {
    return this.offers.get(offerId)?.total ?? 0;
  }
  offerToday(offerId: string, now: number): number {
    return today(this.offers.get(offerId), now);
  }
  campaignTotal(campaignId: string): number {
    return this.campaigns.get(campaignId)?.total ?? 0;
  }
  campaignToday(campaignId: string, now: number): number {
    return today(this.campaigns.get(campaignId), now);
  }
  campaignSpend(campaignId: string): number {
    return this.campaigns.get(campaignId)?.spend ?? 0;
  }
}

const dayOf = (now: number): number => Math.floor(now / DAY_MS);

/** A count's `today` is for the day it was last bumped; on any other day, today's count is zero. */
function today(count: Count | undefined, now: number): number {
  return count !== undefined && count.day === dayOf(now) ? count.today : 0;
}

function bump(map: Map<string, Count>, id: string, day: number, cost: number): void {
  const count = map.get(id);
  if (count === undefined) {
    map.set(id, { total: 1, today: 1, day, spend: cost });
    return;
  }
  count.total++;
  count.today = count.day === day ? count.today + 1 : 1;
  count.day = day;
  count.spend += cost;
}
