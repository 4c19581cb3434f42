/**
 * The plan report: campaign results rolled up to the critical success factors they serve and to
 * the goals of those factors (rules' `goals`, `factors`, a campaign's `serves` and `kpis`). Pure:
 * the caller reads the counters (the same ones campaign-report.ts reads) and picks the days.
 *
 * - A campaign: each of its KPIs, actual against target.
 * - A factor pools its campaigns: counts and revenue add up, a rate is all their numerators over
 *   all their denominators (evaluation/kpi.ts).
 * - A goal is measured by its own target's metric over every campaign serving any of its factors
 *   (each campaign once), and shows how far its factors are (`factorProgress`, `factorsMet`).
 * - Everything under a goal is counted over the goal's period clipped to the report's range.
 */

import type { DayCounters } from '../feedback/stats-reader.js';
import type { CompiledCampaign, CompiledFactor, CompiledGoal, RulesetSnapshot } from '../ruleset/snapshot.js';
import type { CampaignObjective, KpiMetric } from '../ruleset/source.js';
import { DAY_MS } from '../ruleset/time.js';
import { campaignsReport, type DayRange, dayString, type Metrics } from './campaign-report.js';
import { type KpiProgress, kpiProgress, kpiValue, pooledParts, progressOf } from './kpi.js';

export interface PlanCampaign {
  readonly id: string;
  readonly name: string;
  readonly objective: CampaignObjective;
  /** The factor's metric over this campaign alone; null without data or when not counted. */
  readonly actual: number | null;
  /** Every KPI of the campaign, over the same days. */
  readonly kpis: readonly KpiProgress[];
}

export interface PlanFactor {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly metric: KpiMetric;
  readonly target: number;
  /** Pooled over its campaigns; null without data (a rate without trials) or when not counted. */
  readonly actual: number | null;
  /** actual / target; null when either says nothing. */
  readonly progress: number | null;
  readonly campaigns: readonly PlanCampaign[];
}

export interface PlanGoal {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly objective: string;
  readonly target: { readonly metric: KpiMetric; readonly value: number };
  /** The goal's period as the rules say (ISO date-times); `end` null when open. */
  readonly period: { readonly start: string; readonly end: string | null };
  /** The days counted: the period clipped to the report's range; null when they do not overlap. */
  readonly counted: { readonly from: string; readonly to: string } | null;
  /** The target's metric over every campaign serving the goal's factors, each once. */
  readonly actual: number | null;
  readonly progress: number | null;
  /** The mean of the factors' progress, each capped at 1 (an overshoot hides no lag); null without any. */
  readonly factorProgress: number | null;
  /** The factors at or above their target. */
  readonly factorsMet: number;
  readonly factors: readonly PlanFactor[];
}

/** A campaign that serves no factor: outside the plan, shown so that nothing is missed. */
export interface UnplannedCampaign {
  readonly id: string;
  readonly name: string;
  readonly objective: CampaignObjective;
  readonly kpis: readonly KpiProgress[];
}

export interface PlanReport {
  readonly from: string;
  readonly to: string;
  readonly goals: readonly PlanGoal[];
  readonly unplanned: readonly UnplannedCampaign[];
}

export function planReport(input: {
  readonly snapshot: RulesetSnapshot;
  readonly counters: ReadonlyMap<number, DayCounters>;
  readonly range: DayRange;
}): PlanReport {
  const { snapshot, counters, range } = input;
  // Campaign metrics per range of days: goals with the same period share one reading.
  const byRange = new Map<string, ReadonlyMap<string, Metrics>>();
  const metricsOver = (days: DayRange): ReadonlyMap<string, Metrics> => {
    const key = `${days.from}..${days.to}`;
    let metrics = byRange.get(key);
    if (metrics === undefined) {
      const report = campaignsReport({ snapshot, counters, range: days });
      metrics = new Map(report.campaigns.map((c) => [c.id, c.totals]));
      byRange.set(key, metrics);
    }
    return metrics;
  };
  const planned = new Set(
    snapshot.goals.flatMap((g) => g.factors.flatMap((f) => f.campaigns.map((c) => c.id))),
  );
  const whole = metricsOver(range);
  return {
    from: dayString(range.from),
    to: dayString(range.to),
    goals: snapshot.goals.map((goal) => {
      const days = clip(range, goal);
      return goalReport(goal, days, days === null ? null : metricsOver(days));
    }),
    unplanned: snapshot.campaigns
      .filter((c) => !planned.has(c.id))
      .map((c) => ({ id: c.id, name: c.name, objective: c.objective, kpis: kpisOf(c, whole.get(c.id)) })),
  };
}

/** The days of the range within the goal's period; null when none are. */
export function clip(range: DayRange, goal: Pick<CompiledGoal, 'start' | 'end'>): DayRange | null {
  const from = Number.isFinite(goal.start)
    ? Math.max(range.from, Math.floor(goal.start / DAY_MS))
    : range.from;
  const to = Number.isFinite(goal.end) ? Math.min(range.to, Math.floor(goal.end / DAY_MS)) : range.to;
  return from <= to ? { from, to } : null;
}

/** `metrics`: every campaign's over the goal's days; null when the period is outside the range. */
function goalReport(
  goal: CompiledGoal,
  days: DayRange | null,
  metrics: ReadonlyMap<string, Metrics> | null,
): PlanGoal {
  const of = (campaigns: readonly CompiledCampaign[]): Metrics[] =>
    metrics === null ? [] : campaigns.flatMap((c) => metrics.get(c.id) ?? []);
  const factors = goal.factors.map((factor) => factorReport(factor, of, metrics));
  const served = [...new Map(goal.factors.flatMap((f) => f.campaigns).map((c) => [c.id, c])).values()];
  const actual = metrics === null ? null : kpiValue(pooledParts(goal.target.metric, of(served)));
  const progresses = factors.flatMap((f) => (f.progress === null ? [] : [Math.min(f.progress, 1)]));
  return {
    id: goal.id,
    name: goal.name,
    description: goal.description,
    objective: goal.objective,
    target: goal.target,
    period: { start: new Date(goal.start).toISOString(), end: isoOrNull(goal.end) },
    counted: days === null ? null : { from: dayString(days.from), to: dayString(days.to) },
    actual,
    progress: progressOf(actual, goal.target.value),
    factorProgress:
      progresses.length === 0 ? null : progresses.reduce((sum, p) => sum + p, 0) / progresses.length,
    factorsMet: factors.filter((f) => f.progress !== null && f.progress >= 1).length,
    factors,
  };
}

function factorReport(
  factor: CompiledFactor,
  of: (campaigns: readonly CompiledCampaign[]) => Metrics[],
  metrics: ReadonlyMap<string, Metrics> | null,
): PlanFactor {
  const actual = metrics === null ? null : kpiValue(pooledParts(factor.metric, of(factor.campaigns)));
  return {
    id: factor.id,
    name: factor.name,
    description: factor.description,
    metric: factor.metric,
    target: factor.target,
    actual,
    progress: progressOf(actual, factor.target),
    campaigns: factor.campaigns.map((campaign) => {
      const own = metrics?.get(campaign.id);
      return {
        id: campaign.id,
        name: campaign.name,
        objective: campaign.objective,
        actual: own === undefined ? null : kpiValue(pooledParts(factor.metric, [own])),
        kpis: kpisOf(campaign, own),
      };
    }),
  };
}

/** A campaign's KPIs over its metrics; without metrics (no days counted), no actuals. */
function kpisOf(campaign: CompiledCampaign, metrics: Metrics | undefined): KpiProgress[] {
  return campaign.kpis.map((kpi) =>
    metrics === undefined
      ? { metric: kpi.metric, target: kpi.target, actual: null, progress: null }
      : kpiProgress(kpi, [metrics]),
  );
}

function isoOrNull(ms: number): string | null {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}
