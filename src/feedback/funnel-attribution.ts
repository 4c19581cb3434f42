import type { ContactEvent } from '../domain/contact.js';
import { DAY_MS } from '../ruleset/time.js';
import {
  type CounterIncrement,
  counterField,
  type DayMetric,
  dayBucketOf,
  dayOf,
  type Metric,
} from './feedback-effects.js';

/**
 * What made them customers: when a person's funnel level rises (prospect → lead, prospect or lead →
 * customer), the touchpoints of their contact history before it share the credit, by three models,
 * and the time it took goes into a histogram. Pure: the customer loop calls it with the history and
 * adds the counters to the feedback counters. docs/reports.md has the rule and a worked example.
 *
 * - **Touchpoints** are the offers shown to the person within the look-back before the transition:
 *   every `impression` is one, and a `click` or `accept` is one only when no touchpoint of the same
 *   offer came in the 24 hours before it (a reaction to an offer just shown is the same touch; one
 *   whose impression is gone from the history or the look-back still counts). Held-out offers were
 *   never shown; rejects, dismissals, conversions and outcomes are not touches.
 * - **Credits**, on the UTC day of the transition, to `offerId|channel|-|<metric>`: first touch 1,
 *   last touch 1, position-based 40 % to the first, 40 % to the last, 20 % spread evenly over the
 *   middle (one touch: all of it; two: half each).
 * - **Days** from the first touch to the transition, and from becoming a lead to becoming a customer
 *   when that is known, count one person in a bucket of DAY_BUCKETS on the first-touch offer.
 * - A transition without a touchpoint in the look-back (organic: it came from elsewhere) adds no
 *   counter: counters are per offer, and no offer earned it.
 */

export type FunnelLevel = 'lead' | 'customer';

export interface FunnelTransition {
  readonly to: FunnelLevel;
  readonly at: number;
  /** When the person became a lead, for the lead→customer time; null when unknown or never a lead. */
  readonly leadAt: number | null;
}

/** The history outcomes that are touchpoints, and those only when no touch of their offer came just before. */
const IMPRESSION = 'impression';
const REACTIONS: ReadonlySet<string> = new Set(['click', 'accept']);

/** A reaction within this time after a touch of the same offer is the same touch. */
const SAME_TOUCH_MS = DAY_MS;

/** Position-based (U-shaped) shares of the first and the last touch; the rest goes to the middle. */
const POSITION_ENDS = 0.4;

const METRICS_OF: Readonly<
  Record<
    FunnelLevel,
    { readonly first: Metric; readonly last: Metric; readonly position: Metric; readonly days: DayMetric }
  >
> = {
  lead: {
    first: 'leadsFirstTouch',
    last: 'leadsLastTouch',
    position: 'leadsPositionBased',
    days: 'leadDays',
  },
  customer: {
    first: 'customersFirstTouch',
    last: 'customersLastTouch',
    position: 'customersPositionBased',
    days: 'customerDays',
  },
};

/** The touchpoints of the look-back, oldest first. */
function touchpoints(history: readonly ContactEvent[], at: number, lookbackMs: number): ContactEvent[] {
  const from = at - lookbackMs;
  const candidates = history
    .filter((e) => e.at >= from && e.at <= at && (e.outcome === IMPRESSION || REACTIONS.has(e.outcome)))
    // Oldest first; at the same time the impression first, so that its reaction folds into it.
    .sort((a, b) => a.at - b.at || Number(a.outcome !== IMPRESSION) - Number(b.outcome !== IMPRESSION));
  const lastTouchOf = new Map<string, number>();
  const out: ContactEvent[] = [];
  for (const e of candidates) {
    const previous = lastTouchOf.get(e.offerId);
    if (e.outcome !== IMPRESSION && previous !== undefined && e.at - previous <= SAME_TOUCH_MS) continue;
    lastTouchOf.set(e.offerId, e.at);
    out.push(e);
  }
  return out;
}

/** The position-based share of each touchpoint, in order; the shares add up to 1. */
function positionShares(n: number): number[] {
  if (n === 1) return [1];
  if (n === 2) return [0.5, 0.5];
  const middle = (1 - 2 * POSITION_ENDS) / (n - 2);
  return Array.from({ length: n }, (_, i) => (i === 0 || i === n - 1 ? POSITION_ENDS : middle));
}

/** The counters of one person's transition: the touchpoints before it credited first touch, last touch and position-based (40/20/40), and the days from the first touch (and from the lead) to it. */
export function transitionCounters(
  history: readonly ContactEvent[],
  transition: FunnelTransition,
  lookbackMs: number,
): CounterIncrement[] {
  const { to, at } = transition;
  if (!Number.isFinite(at)) return [];
  const touches = touchpoints(history, at, lookbackMs);
  if (touches.length === 0) return [];
  const day = dayOf(at);
  const metrics = METRICS_OF[to];
  const first = touches[0]!;
  const last = touches[touches.length - 1]!;
  const whole = (e: ContactEvent, metric: Parameters<typeof counterField>[3]): CounterIncrement => ({
    day,
    field: counterField(e.offerId, e.channel, null, metric),
    amount: 1,
    float: false,
  });
  const out: CounterIncrement[] = [whole(first, metrics.first), whole(last, metrics.last)];
  // Position-based: one increment per offer and channel, however many of its touches share it.
  const shares = positionShares(touches.length);
  const byField = new Map<string, number>();
  touches.forEach((e, i) => {
    const field = counterField(e.offerId, e.channel, null, metrics.position);
    byField.set(field, (byField.get(field) ?? 0) + shares[i]!);
  });
  for (const [field, amount] of byField) out.push({ day, field, amount, float: true });
  out.push(whole(first, `${metrics.days}:${dayBucketOf((at - first.at) / DAY_MS)}`));
  const { leadAt } = transition;
  // A lead time after the transition is not a time to it: left out rather than counted as 0.
  if (to === 'customer' && leadAt !== null && Number.isFinite(leadAt) && leadAt <= at)
    out.push(whole(first, `leadToCustomerDays:${dayBucketOf((at - leadAt) / DAY_MS)}`));
  return out;
}
