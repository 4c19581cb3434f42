import type { Channel } from '../domain/channel.js';
import { type ContactEvent, isTouch } from '../domain/contact.js';
import { episodeOpener, type Touch } from './customer-attribution.js';
import { type CounterIncrement, counterField, dayOf } from './feedback-effects.js';

/**
 * Retention: a customer who cancels a product while campaigns are working on them. Pure: it reads
 * the customer's contact history, like customer-attribution.ts.
 *
 * - A cancel counts against **every campaign episode open** when it happens (a retention campaign
 *   is there to keep the customer whatever they hold, so the product does not matter), treated or
 *   control alike, **once per episode**: `customerCancels` / `controlCustomerCancels`, on the day
 *   and field of the episode's opening, like the episode itself and its conversion. So
 *   customers − customerCancels are the treated customers who stayed: retention is that over
 *   customers, and its uplift the same against the control group.
 * - Every cancel is recorded in the history (cancelRecord), so that a later cancel in the same
 *   episode finds it and counts nothing more.
 */

/**
 * The openers of the campaign episodes open at `at` in which the customer cancelled nothing yet.
 * The history must not hold the cancel itself (a redelivered one: the caller leaves it out).
 */
export function episodesCancelled(history: readonly ContactEvent[], at: number, windowMs: number): Touch[] {
  const campaigns = new Set<string>();
  for (const e of history)
    if (isTouch(e.outcome) && e.campaignId !== '' && e.at <= at && e.at >= at - windowMs)
      campaigns.add(e.campaignId);
  const openers: Touch[] = [];
  for (const campaignId of campaigns) {
    const opener = episodeOpener(history, campaignId, at, windowMs);
    if (opener === null) continue;
    const cancelledBefore = history.some((e) => e.outcome === 'cancel' && e.at >= opener.at && e.at <= at);
    if (!cancelledBefore) openers.push(opener);
  }
  return openers;
}

/** The counters of a cancel at `at`: one per episode it is the first cancel of. */
export function cancelCounters(
  history: readonly ContactEvent[],
  at: number,
  windowMs: number,
): CounterIncrement[] {
  return episodesCancelled(history, at, windowMs).map((opener) => ({
    day: dayOf(opener.at),
    field: counterField(
      opener.offerId,
      opener.channel,
      null,
      opener.heldOut ? 'controlCustomerCancels' : 'customerCancels',
    ),
    amount: 1,
    float: false,
  }));
}

/**
 * The cancel as the history records it: credited to the latest touch within the window (any
 * campaign, any product), on the channel it came from or else that touch's; with neither a touch
 * nor a channel, nothing (no episode is open, so nothing needs to find it later).
 */
export function cancelRecord(
  history: readonly ContactEvent[],
  cancel: { readonly productId: string; readonly at: number; readonly channel: Channel | null },
  windowMs: number,
): ContactEvent | null {
  let latest: ContactEvent | null = null;
  for (const e of history) {
    if (!isTouch(e.outcome) || e.at > cancel.at || e.at < cancel.at - windowMs) continue;
    if (latest === null || e.at > latest.at) latest = e;
  }
  const channel = cancel.channel ?? latest?.channel ?? null;
  if (channel === null) return null;
  return {
    offerId: latest?.offerId ?? '',
    campaignId: latest?.campaignId ?? '',
    channel,
    outcome: 'cancel',
    at: cancel.at,
    productId: cancel.productId,
  };
}
