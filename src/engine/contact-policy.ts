import type { ContactEvent } from '../domain/contact.js';
import type { ChannelPolicy, CompiledOffer } from '../ruleset/snapshot.js';
import type { DecisionInput, WhyNot } from './decision-types.js';

/** What recent reactions suppress, by offer id, product and group (see suppressionOf); null when nothing is. */
export type SuppressionMap = ReadonlyMap<string, WhyNot> | null;

/**
 * How many more offers this customer may be shown on the channel now, under the channel's and the
 * global limits, each times the customer's care intensity. One pass over the history for every limit of both policies: it runs on every
 * decision, and a history holds up to a hundred events.
 */
export function contactRoom(
  input: DecisionInput,
  policy: ChannelPolicy,
  global: ChannelPolicy,
  careIntensity = 1,
): number {
  const own = policy.limits;
  const all = global.limits;
  const n = own.length + all.length;
  if (n === 0) return Number.POSITIVE_INFINITY;
  const { history, now } = input;
  const channel = input.request.channel;
  if (counts.length < n) counts = new Int32Array(n);
  counts.fill(0, 0, n);
  for (let k = 0; k < history.length; k++) {
    const e = history[k]!;
    if (e.outcome !== 'impression' || e.at > now) continue;
    const age = now - e.at;
    if (e.channel === channel) for (let i = 0; i < own.length; i++) if (age < own[i]!.windowMs) counts[i]!++;
    for (let i = 0; i < all.length; i++) if (age < all[i]!.windowMs) counts[own.length + i]!++;
  }
  let room = Number.POSITIVE_INFINITY;
  // A segment's care intensity scales every limit (channel economics, ChannelTerms).
  for (let i = 0; i < own.length; i++)
    room = Math.min(room, Math.floor(own[i]!.max * careIntensity) - counts[i]!);
  for (let i = 0; i < all.length; i++)
    room = Math.min(room, Math.floor(all[i]!.max * careIntensity) - counts[own.length + i]!);
  return room;
}

/** contactRoom()'s counts per limit, reused: decisions are synchronous and never re-entered. */
let counts = new Int32Array(8);

/**
 * Keys of a SuppressionMap besides offer ids: a product (`p:<id>`) or an offer group (`g:<id>`).
 * Offer ids never contain `:` (the ruleset schema), so the three never collide.
 */
const PRODUCT = 'p:';
const GROUP = 'g:';

/**
 * What a recent reaction or outcome suppresses, on every channel: a reject the offer; an accept,
 * a conversion or a purchase the product (every offer for it) and, where the policy says so, the
 * offer's group too. Null when nothing is.
 */
export function offerSuppressions(
  history: readonly ContactEvent[],
  policy: ChannelPolicy,
  global: ChannelPolicy,
  now: number,
  offerById: ReadonlyMap<string, CompiledOffer>,
): SuppressionMap {
  if (history.length === 0) return null;
  const afterReject = Math.max(policy.suppressAfterRejectMs, global.suppressAfterRejectMs);
  const afterAccept = Math.max(policy.suppressAfterAcceptMs, global.suppressAfterAcceptMs);
  const groups = policy.suppressGroupAfterAccept || global.suppressGroupAfterAccept;
  let map: Map<string, WhyNot> | null = null;
  for (const e of history) {
    const taken = e.outcome === 'accept' || e.outcome === 'convert' || e.outcome === 'purchase';
    const window = taken ? afterAccept : e.outcome === 'reject' ? afterReject : 0;
    if (window <= 0 || e.at <= now - window || e.at > now) continue;
    map ??= new Map();
    if (!taken) {
      // An accept outranks a reject: it explains the suppression better.
      if (!map.has(e.offerId)) map.set(e.offerId, 'suppressed_after_reject');
      continue;
    }
    const code: WhyNot = e.outcome === 'purchase' ? 'suppressed_after_purchase' : 'suppressed_after_accept';
    const offer = e.offerId === '' ? undefined : offerById.get(e.offerId);
    if (e.offerId !== '') map.set(e.offerId, code);
    const product = e.productId ?? offer?.productId;
    if (product !== undefined) map.set(PRODUCT + product, code);
    if (groups && offer !== undefined) map.set(GROUP + offer.group, code);
  }
  return map;
}

/** Why a recent reaction suppresses this offer, by the offer, its product or its group; undefined: it does not. */
export function suppressionOf(
  suppressions: ReadonlyMap<string, WhyNot>,
  offer: CompiledOffer,
): WhyNot | undefined {
  return (
    suppressions.get(offer.id) ??
    suppressions.get(PRODUCT + offer.productId) ??
    suppressions.get(GROUP + offer.group)
  );
}
