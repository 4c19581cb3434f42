import type { Channel } from '../domain/channel.js';
import { type ContactEvent, isTouch } from '../domain/contact.js';

/**
 * Attribution by customer: which decision, if any, gets the credit for what a customer did, and
 * how a campaign counts each customer once. Pure: it reads the customer's contact history, where
 * every shown offer (`impression`) and every offer withheld by a control group (`held_out`) is a
 * touch. docs/decisions/0007-customer-attribution.md has the rule and a worked example.
 *
 * - An **episode** is a customer's stretch in a campaign: it opens at a touch of the campaign when
 *   no episode of it is open, and lasts the conversion window. Touches within it belong to it; the
 *   first touch after it closed opens the next one. A campaign counts each episode once: a
 *   customer decided for twenty times in a week is one customer, not twenty trials.
 * - An **outcome** (a purchase of product P, or a `convert` of an offer of P) is credited to the
 *   customer's latest touch of an offer for P within the conversion window before it, shown or held
 *   out alike: treated and control customers convert through the same rule, so uplift compares like
 *   with like. An episode converts at most once, whichever report comes first: a `convert` the
 *   channel sent and the purchase the order system reports later count one conversion.
 */

/** A touch of the customer: an offer shown or held out, as the history records it. */
export interface Touch {
  readonly offerId: string;
  readonly campaignId: string;
  readonly channel: Channel;
  readonly heldOut: boolean;
  readonly at: number;
}

export interface Credit {
  /** The touch credited: the latest one of an offer for the product within the window. */
  readonly touch: Touch;
  /** The touch that opened the credited touch's episode: episode counters are kept on its day and offer. */
  readonly opener: Touch;
  /** The episode had no conversion before: this outcome converts it. */
  readonly converts: boolean;
}

const touchOf = (e: ContactEvent): Touch => ({
  offerId: e.offerId,
  campaignId: e.campaignId,
  channel: e.channel,
  heldOut: e.outcome === 'held_out',
  at: e.at,
});

/** A conversion credited to a campaign, as recorded in the history (a convert, or a credited purchase). */
const isCreditedConversion = (e: ContactEvent): boolean =>
  (e.outcome === 'convert' || e.outcome === 'purchase') && e.campaignId !== '';

/**
 * The touch that opened the episode in which a touch of `campaignId` at `at` falls; null when no
 * episode is open then, so that a touch at `at` opens one. Touches after `at` are ignored.
 */
export function episodeOpener(
  history: readonly ContactEvent[],
  campaignId: string,
  at: number,
  windowMs: number,
): Touch | null {
  // Most decisions find no touch of the campaign within the window: no episode can be open then.
  if (
    !history.some(
      (e) => isTouch(e.outcome) && e.campaignId === campaignId && e.at <= at && e.at >= at - windowMs,
    )
  )
    return null;
  const touches = history
    .filter((e) => isTouch(e.outcome) && e.campaignId === campaignId && e.at <= at)
    .sort((a, b) => a.at - b.at);
  let opener: ContactEvent | null = null;
  for (const e of touches) if (opener === null || e.at > opener.at + windowMs) opener = e;
  return opener !== null && at <= opener.at + windowMs ? touchOf(opener) : null;
}

/**
 * Of a decision's touches at `at`, the offers that open an episode of their campaign (none was open
 * in `history`, the customer's contacts before them): the first touch of each campaign.
 */
export function episodesOpened(
  history: readonly ContactEvent[],
  touches: readonly ContactEvent[],
  at: number,
  windowMs: number,
): ReadonlySet<string> {
  const opened = new Set<string>();
  const campaigns = new Set<string>();
  for (const t of touches) {
    if (campaigns.has(t.campaignId)) continue;
    campaigns.add(t.campaignId);
    if (episodeOpener(history, t.campaignId, at, windowMs) === null) opened.add(t.offerId);
  }
  return opened;
}

/**
 * The credit for an outcome for `productId` at `at`, or null when no offer for the product touched
 * the customer within the window before it. `productOf` maps an offer id to its product (the
 * ruleset in force; undefined for an offer it no longer has). The history must not hold the
 * outcome's own event (a redelivered one): the caller leaves it out, or it would count as an earlier
 * conversion of itself.
 */
export function creditOf(
  history: readonly ContactEvent[],
  outcome: { readonly productId: string; readonly at: number },
  productOf: (offerId: string) => string | undefined,
  windowMs: number,
): Credit | null {
  let latest: ContactEvent | null = null;
  for (const e of history) {
    if (!isTouch(e.outcome) || e.at > outcome.at || e.at < outcome.at - windowMs) continue;
    if (productOf(e.offerId) !== outcome.productId) continue;
    if (latest === null || e.at > latest.at) latest = e;
  }
  if (latest === null) return null;
  const touch = touchOf(latest);
  // The touch itself is in the history, so its episode always has an opener.
  const opener = episodeOpener(history, touch.campaignId, touch.at, windowMs) ?? touch;
  const converted = history.some(
    (e) =>
      isCreditedConversion(e) && e.campaignId === touch.campaignId && e.at >= opener.at && e.at <= outcome.at,
  );
  return { touch, opener, converts: !converted };
}
