/**
 * What each KPI metric is made of, from a campaign's report metrics (campaign-report.ts), and how
 * metrics of several campaigns pool: counts and revenue add up, a rate is the sum of its numerators
 * over the sum of its denominators (never an average of rates). Pure.
 */

import type { Kpi } from '../ruleset/snapshot.js';
import type { KpiMetric } from '../ruleset/source.js';

/**
 * What the KPIs read of a campaign's report metrics (campaign-report.ts `Metrics` holds them all;
 * named here so that this module does not import the report that imports it).
 */
export interface KpiCounts {
  readonly impressions: number;
  readonly accepts: number;
  readonly conversions: number;
  readonly revenue: number;
  readonly customers: number;
  readonly customerCancels: number;
  readonly journeys: { readonly customers: { readonly positionBased: number } };
}

/** A metric's parts: `amount`, over `base` for a rate (null for a count or a revenue). */
export interface KpiParts {
  readonly amount: number;
  readonly base: number | null;
}

export interface KpiProgress {
  readonly metric: string;
  readonly target: number;
  /** null: no data yet (a rate without trials). */
  readonly actual: number | null;
  /** actual / target; null when the target is 0 or there is no actual yet. */
  readonly progress: number | null;
}

/** The parts of `metric` in a campaign's metrics. */
export function kpiParts(metric: KpiMetric, m: KpiCounts): KpiParts {
  switch (metric) {
    case 'accept_rate':
      return { amount: m.accepts, base: m.impressions };
    case 'conversion_rate':
      return { amount: m.conversions, base: m.impressions };
    case 'conversions':
      return { amount: m.conversions, base: null };
    case 'revenue':
      return { amount: m.revenue, base: null };
    case 'new_customers':
      // Persons who became customers, each shared over the touchpoints before (position-based):
      // the shares of one person add up to 1 across campaigns, so campaigns pool by summing.
      return { amount: m.journeys.customers.positionBased, base: null };
    case 'retention':
      // Treated customers (episodes) who cancelled nothing in the episode, over those customers.
      return { amount: Math.max(0, m.customers - m.customerCancels), base: m.customers };
  }
}

/** The parts of several campaigns' metrics pooled. */
export function pooledParts(metric: KpiMetric, metrics: readonly KpiCounts[]): KpiParts {
  let amount = 0;
  let base: number | null = null;
  for (const m of metrics) {
    const parts = kpiParts(metric, m);
    amount += parts.amount;
    if (parts.base !== null) base = (base ?? 0) + parts.base;
  }
  // A rate over no campaign at all still is a rate: no trials.
  if (metrics.length === 0 && isRate(metric)) base = 0;
  return { amount: round6(amount), base };
}

const isRate = (metric: KpiMetric): boolean =>
  metric === 'accept_rate' || metric === 'conversion_rate' || metric === 'retention';

/** The value of the parts: a rate, null without trials; a count or revenue as it is. */
export function kpiValue(parts: KpiParts): number | null {
  if (parts.base === null) return parts.amount;
  return parts.base > 0 ? parts.amount / parts.base : null;
}

/** actual / target; null when either says nothing (no actual, a target of 0). */
export function progressOf(actual: number | null, target: number): number | null {
  return actual === null || target === 0 ? null : actual / target;
}

/** A KPI's actual and progress over one or more campaigns' metrics. */
export function kpiProgress(kpi: Kpi, metrics: readonly KpiCounts[]): KpiProgress {
  const actual = kpiValue(pooledParts(kpi.metric, metrics));
  return { metric: kpi.metric, target: kpi.target, actual, progress: progressOf(actual, kpi.target) };
}

// Money and position-based credits to a millionth, like the campaign report.
const round6 = (n: number): number => Math.round(n * 1e6) / 1e6;
