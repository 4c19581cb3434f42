import type { Channel } from './channel.js';

/** The outcomes that contact policy looks at. Feedback events map onto these. */
export type ContactOutcome = 'impression' | 'accept' | 'reject';

/** One past contact of a customer: an offer shown on a channel, and what they did with it. */
export interface ContactEvent {
  readonly offerId: string;
  readonly campaignId: string;
  readonly channel: Channel;
  readonly outcome: ContactOutcome;
  /** Epoch milliseconds. */
  readonly at: number;
}

/** How many offers have been shown so far, for offer and campaign caps. */
export interface CapUsage {
  offerTotal(offerId: string): number;
  /** Offers shown on the UTC day of `now`. */
  offerToday(offerId: string, now: number): number;
  campaignTotal(campaignId: string): number;
  campaignToday(campaignId: string, now: number): number;
  /** Channel cost spent on the campaign's contacts so far, against its budget. */
  campaignSpend(campaignId: string): number;
}

export const NO_USAGE: CapUsage = {
  offerTotal: () => 0,
  offerToday: () => 0,
  campaignTotal: () => 0,
  campaignToday: () => 0,
  campaignSpend: () => 0,
};
