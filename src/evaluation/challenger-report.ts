import { type ArmMetric, parseArmCounterField } from '../feedback/feedback-effects.js';
import type { Arm } from '../feedback/feedback-event.js';
import type { DayCounters } from '../feedback/stats-reader.js';
import { type DayRange, dayString } from './campaign-report.js';
import { type Interval, proportion, uplift } from './uplift.js';

/**
 * Champion against challenger, customer by customer: what each arm of a champion/challenger test
 * reached and got, from the counters its decisions and their feedback keep per arm × campaign ×
 * channel × day (feedback-effects.ts, `arm|…` fields), and the challenger's difference with a 95%
 * interval (Newcombe, uplift.ts). A customer is counted once per campaign episode, as the honest
 * uplift counts them: "customers" of an arm are the episodes its decisions opened, and its
 * conversions those episodes that converted (a `convert` or a purchase credited to them, once),
 * counted on the day the episode opened. Pure: the service reads the counters.
 */

/** What one arm reached and got. */
export interface ArmFigures {
  /** Customers reached: campaign episodes opened by this arm's decisions. */
  readonly customers: number;
  readonly impressions: number;
  readonly accepts: number;
  /** Customers reached who converted (episodes, once each). */
  readonly conversions: number;
  /** Their revenue. */
  readonly revenue: number;
  /** Conversions per customer reached (Wilson 95% interval); null without customers. */
  readonly conversionRate: number | null;
  readonly conversionRateCi95: Interval | null;
  readonly revenuePerCustomer: number | null;
  /** Accepts per offer shown; null without impressions. */
  readonly acceptRate: number | null;
  readonly acceptRateCi95: Interval | null;
}

/** The challenger's figure minus the champion's, with a 95% interval where one exists. */
export interface ArmDifference {
  readonly difference: number | null;
  readonly ci95: Interval | null;
}

export interface ArmComparison {
  readonly champion: ArmFigures;
  readonly challenger: ArmFigures;
  /** Newcombe's interval on the difference of conversion rates per customer. */
  readonly conversionRate: ArmDifference;
  /** A difference of means without the spread of revenues (not counted): no interval. */
  readonly revenuePerCustomer: ArmDifference;
  /** Newcombe's interval on the difference of accept rates. */
  readonly acceptRate: ArmDifference;
}

export interface ChallengerReport extends ArmComparison {
  readonly from: string;
  readonly to: string;
  /** Per campaign, by id, each campaign that either arm reached. */
  readonly campaigns: readonly ({ readonly campaignId: string } & ArmComparison)[];
}

type Counts = Record<ArmMetric, number>;
const zero = (): Counts => ({
  impressions: 0,
  customers: 0,
  accepts: 0,
  customerConversions: 0,
  customerRevenue: 0,
});

/** The comparison of the arms over a range of days' counters. */
export function challengerReport(input: {
  readonly counters: ReadonlyMap<number, DayCounters>;
  readonly range: DayRange;
}): ChallengerReport {
  const total: Record<Arm, Counts> = { champion: zero(), challenger: zero() };
  const byCampaign = new Map<string, Record<Arm, Counts>>();
  for (let day = input.range.from; day <= input.range.to; day++) {
    for (const [field, amount] of input.counters.get(day) ?? []) {
      const parsed = parseArmCounterField(field);
      // A corrupt counter must not sink the report: it is left out.
      if (parsed === null || !(amount >= 0 && amount < Number.POSITIVE_INFINITY)) continue;
      let campaign = byCampaign.get(parsed.campaignId);
      if (campaign === undefined) {
        campaign = { champion: zero(), challenger: zero() };
        byCampaign.set(parsed.campaignId, campaign);
      }
      campaign[parsed.arm][parsed.metric] += amount;
      total[parsed.arm][parsed.metric] += amount;
    }
  }
  return {
    from: dayString(input.range.from),
    to: dayString(input.range.to),
    ...compare(total),
    campaigns: [...byCampaign]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([campaignId, arms]) => ({ campaignId, ...compare(arms) })),
  };
}

function compare(arms: Record<Arm, Counts>): ArmComparison {
  const champion = figures(arms.champion);
  const challenger = figures(arms.challenger);
  const conversions = uplift(converted(arms.challenger), converted(arms.champion));
  const accepts = uplift(accepted(arms.challenger), accepted(arms.champion));
  return {
    champion,
    challenger,
    conversionRate: { difference: conversions.uplift, ci95: conversions.ci95 },
    revenuePerCustomer: {
      difference:
        champion.revenuePerCustomer === null || challenger.revenuePerCustomer === null
          ? null
          : challenger.revenuePerCustomer - champion.revenuePerCustomer,
      ci95: null,
    },
    acceptRate: { difference: accepts.uplift, ci95: accepts.ci95 },
  };
}

/** An episode converts once; the cap only guards a rate against counters of two ranges' edges. */
const converted = (c: Counts) => ({
  successes: Math.min(c.customerConversions, c.customers),
  trials: c.customers,
});
const accepted = (c: Counts) => ({ successes: Math.min(c.accepts, c.impressions), trials: c.impressions });

function figures(c: Counts): ArmFigures {
  const conversion = proportion(converted(c).successes, c.customers);
  const accept = proportion(accepted(c).successes, c.impressions);
  return {
    customers: c.customers,
    impressions: c.impressions,
    accepts: c.accepts,
    conversions: c.customerConversions,
    revenue: c.customerRevenue,
    conversionRate: conversion.rate,
    conversionRateCi95: conversion.ci95,
    revenuePerCustomer: c.customers > 0 ? c.customerRevenue / c.customers : null,
    acceptRate: accept.rate,
    acceptRateCi95: accept.ci95,
  };
}
