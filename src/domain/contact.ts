import type { Channel } from './channel.js';

/**
 * What a customer's history records — their journey. Contact policy counts impressions and
 * suppresses on accepts, rejects, conversions and purchases; `held_out` is an offer a decision
 * withheld (control group), which only attribution reads; clicks, dismissals and leads are there for
 * the journey. The order is the index in the Redis encoding (one digit: ten at most): append only.
 */
export const CONTACT_OUTCOMES = [
  'impression',
  'accept',
  'reject',
  'held_out',
  'convert',
  'purchase',
  'cancel',
  'click',
  'dismiss',
  'lead',
] as const;
export type ContactOutcome = (typeof CONTACT_OUTCOMES)[number];

/**
 * A touch of the customer: an offer shown, or withheld by a control group. Attribution credits
 * touches, and a history of touches only lives as long as impressions do.
 */
export const isTouch = (outcome: ContactOutcome): boolean =>
  outcome === 'impression' || outcome === 'held_out';

/**
 * One past contact of a customer: an offer shown (or withheld) on a channel, what they did with
 * it, or a business outcome. An outcome (`purchase`, `cancel`) names its product, and the offer and
 * campaign it was credited to ('' for none); `channel` is where it happened, or where the credited
 * offer was shown.
 */
export interface ContactEvent {
  readonly offerId: string;
  readonly campaignId: string;
  readonly channel: Channel;
  readonly outcome: ContactOutcome;
  /** Epoch milliseconds. */
  readonly at: number;
  /** The product of an outcome; absent for events about an offer (its product is the offer's). */
  readonly productId?: string;
  /** Where on the channel an offer was shown (a web placement); absent for the rest. */
  readonly placement?: string;
  /**
   * The champion/challenger arm of the decision that made this touch (service/challenger-service.ts),
   * so that the conversions credited to it count for its arm; absent outside a test.
   */
  readonly arm?: 'champion' | 'challenger';
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
