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
  /** The champion/challenger arm of the decision that made the touch; absent outside a test. */
  readonly arm?: 'champion' | 'challenger';
}

export interface Credit {
  /** The touch credited: the latest one of an offer for the product within the window. */
  readonly touch: Touch;
  /** The touch that opened the credited touch's episode: episode counters are kept on its day and offer. */
  readonly opener: Touch;
  /** The episode had no conversion before: this outcome converts it. */
  readonly converts: boolean;
}

function touchOf(e: ContactEvent): Touch {
  const touch: Touch = {
    offerId: e.offerId,
    campaignId: e.campaignId,
    channel: e.channel,
    heldOut: e.outcome === 'held_out',
    at: e.at,
  };
  return e.arm === undefined ? touch : { ...touch, arm: e.arm };
}

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
  const i = openerIndex(history, campaignId, at, windowMs);
  return i < 0 ? null : touchOf(history[i]!);
}

/**
 * episodeOpener()'s answer as an index into `history`, or -1. It runs for every campaign a decision
 * touches, so it allocates nothing and needs no order: a campaign's episodes chain from its first
 * touch, each opening at the first touch after the previous one closed, found by one pass per
 * episode (a history holds a handful of episodes of a campaign at most).
 */
function openerIndex(
  history: readonly ContactEvent[],
  campaignId: string,
  at: number,
  windowMs: number,
): number {
  // Most decisions find no touch of the campaign within the window: no episode can be open then.
  if (!history.some((e) => isTouchOf(e, campaignId, at) && e.at >= at - windowMs)) return -1;
  let opener = -1;
  for (;;) {
    const closed = opener < 0 ? Number.NEGATIVE_INFINITY : history[opener]!.at + windowMs;
    let next = -1;
    for (let i = 0; i < history.length; i++) {
      const e = history[i]!;
      // The earliest touch after the episode closed; of equal times, the first held.
      if (isTouchOf(e, campaignId, at) && e.at > closed && (next < 0 || e.at < history[next]!.at)) next = i;
    }
    if (next < 0) break;
    opener = next;
  }
  return opener >= 0 && at <= history[opener]!.at + windowMs ? opener : -1;
}

/** A touch of the campaign no later than `at`. */
const isTouchOf = (e: ContactEvent, campaignId: string, at: number): boolean =>
  isTouch(e.outcome) && e.campaignId === campaignId && e.at <= at;

const NONE_OPENED: ReadonlySet<string> = new Set();

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
  let opened: Set<string> | null = null;
  for (let i = 0; i < touches.length; i++) {
    const t = touches[i]!;
    if (touches.findIndex((u) => u.campaignId === t.campaignId) !== i) continue;
    if (openerIndex(history, t.campaignId, at, windowMs) >= 0) continue;
    opened ??= new Set();
    opened.add(t.offerId);
  }
  return opened ?? NONE_OPENED;
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
