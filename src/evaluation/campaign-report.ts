/**
 * Campaign evaluation reports, built from the feedback aggregates (counters per offer × channel ×
 * segment × UTC day, see feedback-effects.ts) and the ruleset in force. Pure: the caller reads the
 * counters (StatsReader) and picks the days.
 *
 * Offers belong to campaigns through the current ruleset: counters of an offer that is no longer
 * in it are left out, since nothing says which campaign they belonged to.
 *
 * Two uplifts: per decision (`uplift`, every shown or held-out offer a trial) and per customer
 * (`customerUplift`, every customer episode a trial, see feedback-effects.ts METRICS). The second is
 * the honest one: a customer counts once per episode whatever the number of decisions, and control
 * conversions are found by the episode, not only when a channel reports them for a held-out offer.
 */

import { channelIndex } from '../domain/channel.js';
import {
  DAY_BUCKETS,
  DAY_METRICS,
  type DayMetric,
  type Metric,
  parseCounterField,
} from '../feedback/feedback-effects.js';
import type { DayCounters } from '../feedback/stats-reader.js';
import type { CompiledCampaign, RulesetSnapshot } from '../ruleset/snapshot.js';
import type { CampaignObjective } from '../ruleset/source.js';
import { DAY_MS } from '../ruleset/time.js';
import { type KpiProgress, kpiProgress } from './kpi.js';
import { type Interval, proportion, uplift } from './uplift.js';

export type { KpiProgress } from './kpi.js';

export const GROUP_BYS = ['channel', 'segment', 'offer', 'day'] as const;
export type GroupBy = (typeof GROUP_BYS)[number];

/** The group key of counters without a segment. */
export const NO_SEGMENT = 'none';

export interface FunnelStage {
  readonly stage: 'impression' | 'accept' | 'conversion';
  readonly label: 'interested' | 'lead' | 'customer';
  readonly count: number;
  /** count / the previous stage's count; null for the first stage or when the previous is 0. */
  readonly fromPrevious: number | null;
  /** count / impressions; null without impressions. */
  readonly fromTop: number | null;
}

export interface UpliftReport {
  readonly metric: 'conversion_rate';
  readonly treatedRate: number | null;
  readonly controlRate: number | null;
  readonly uplift: number | null;
  readonly ci95: Interval | null;
  readonly relative: number | null;
  /** uplift × impressions: conversions the campaign caused; null when the uplift is. */
  readonly incrementalConversions: number | null;
  readonly revenuePerDecision: { readonly treated: number | null; readonly control: number | null };
}

/** One group (treated or control) of the per-customer uplift. */
export interface CustomerGroupReport {
  /** Customer episodes opened in the range. */
  readonly customers: number;
  /** Of those, the episodes that converted (at most one conversion each). */
  readonly conversions: number;
  /** conversions / customers; null without customers. */
  readonly rate: number | null;
  /** Wilson 95% interval of the rate; null without customers. */
  readonly ci95: Interval | null;
  /** Revenue of the converting episodes. */
  readonly revenue: number;
  /** revenue / customers; null without customers. */
  readonly revenuePerCustomer: number | null;
}

/** The uplift per customer episode: treated (shown the offer) against control (held out). */
export interface CustomerUpliftReport {
  readonly metric: 'customer_conversion_rate';
  readonly treated: CustomerGroupReport;
  readonly control: CustomerGroupReport;
  /** treated rate − control rate; null when either group has no customers. */
  readonly uplift: number | null;
  /** Newcombe's hybrid score 95% interval of the uplift; null with the uplift. */
  readonly ci95: Interval | null;
  /** uplift / control rate; null when the control rate is null or 0. */
  readonly relative: number | null;
  /** Revenue per treated customer − revenue per control customer; null when either is. */
  readonly revenuePerCustomerDiff: number | null;
  /** uplift × treated customers: the customers the campaign converted; null with the uplift. */
  readonly incrementalCustomers: number | null;
  /** revenuePerCustomerDiff × treated customers: the revenue the campaign caused; null with it. */
  readonly incrementalRevenue: number | null;
}

/** A funnel transition's credit by each attribution model (see funnel-attribution.ts). */
export interface AttributionCredits {
  /** Persons whose first touchpoint before the transition was one of these offers. */
  readonly firstTouch: number;
  /** Persons whose last touchpoint before it was. */
  readonly lastTouch: number;
  /** Position-based (40/20/40) shares: a fraction of a person per touchpoint. */
  readonly positionBased: number;
}

/** One stage of the per-person funnel: prospects (customers reached) → leads → customers. */
export interface PersonFunnelStage {
  readonly stage: 'prospect' | 'lead' | 'customer';
  /** Prospects: treated customers reached (`customers`); leads and customers: position-based credits. */
  readonly count: number;
  /** count / the previous stage's count; null for the first stage or when the previous is 0. */
  readonly fromPrevious: number | null;
  /**
   * The median days from the previous stage: from the first touch to the lead, from the lead to the
   * customer; null for prospects and without a measured person.
   */
  readonly medianDaysFromPrevious: number | null;
}

/** Days histogram: the lower bound of a bucket in days (DAY_BUCKETS) → persons. */
export type DaysHistogram = Readonly<Record<string, number>>;

/**
 * The journeys of persons to lead and to customer, credited to the campaign's touchpoints. Medians
 * come from the histograms, interpolated within the bucket holding the middle person.
 */
export interface JourneysReport {
  readonly leads: AttributionCredits;
  readonly customers: AttributionCredits;
  /** Days from the first touch to the lead, of persons first touched by these offers; null without any. */
  readonly medianDaysToLead: number | null;
  /** Days from the first touch to the customer. */
  readonly medianDaysToCustomer: number | null;
  /** Days from the lead to the customer, for customers whose lead time is known. */
  readonly medianDaysLeadToCustomer: number | null;
  readonly daysToLead: DaysHistogram;
  readonly daysToCustomer: DaysHistogram;
  readonly daysLeadToCustomer: DaysHistogram;
  /** prospects → leads → customers, per person (leads and customers position-based). */
  readonly funnel: readonly PersonFunnelStage[];
}

export interface Metrics {
  readonly impressions: number;
  readonly views: number;
  readonly clicks: number;
  readonly accepts: number;
  readonly rejects: number;
  readonly dismissals: number;
  readonly conversions: number;
  readonly revenue: number;
  readonly cost: number;
  readonly controls: number;
  readonly controlConversions: number;
  readonly controlRevenue: number;
  readonly customers: number;
  readonly controlCustomers: number;
  readonly customerConversions: number;
  readonly controlCustomerConversions: number;
  readonly customerRevenue: number;
  readonly controlCustomerRevenue: number;
  /** Treated episodes in which the customer cancelled a product (at most one each): see cancel-attribution.ts. */
  readonly customerCancels: number;
  readonly controlCustomerCancels: number;
  /** (revenue − cost) / cost; null when nothing was spent. */
  readonly roi: number | null;
  /** Per impression; each null without impressions. */
  readonly rates: {
    readonly clickRate: number | null;
    readonly acceptRate: number | null;
    readonly rejectRate: number | null;
    readonly conversionRate: number | null;
  };
  readonly acceptRateCi95: Interval | null;
  readonly funnel: readonly FunnelStage[];
  /** Per decision: every shown or held-out offer is a trial. */
  readonly uplift: UpliftReport;
  /** Per customer episode: the headline uplift of a campaign. */
  readonly customerUplift: CustomerUpliftReport;
  /**
   * The treated customers reached (episodes opened), by their lifecycle stage then: the stage as
   * last judged, or as the ruleset's stages say at the decision. Stage id → customers.
   */
  readonly lifecycleMix: Readonly<Record<string, number>>;
  /** What made them leads and customers: attribution models, the per-person funnel, the times. */
  readonly journeys: JourneysReport;
}

export type ReportGroup = { readonly key: string } & Metrics;

export interface CampaignReport {
  readonly campaign: {
    readonly id: string;
    readonly name: string;
    readonly objective: CampaignObjective;
    readonly controlShare: number;
    /** ISO date-time; null when the schedule is open on that side. */
    readonly start: string | null;
    readonly end: string | null;
  };
  readonly from: string;
  readonly to: string;
  /** The headline KPI: the first of `kpis` (kept for the readers of the older single `kpi`). */
  readonly kpi: KpiProgress | null;
  /** Every KPI of the campaign, in the rules' order. */
  readonly kpis: readonly KpiProgress[];
  readonly totals: Metrics;
  readonly groupBy: GroupBy | null;
  readonly groups: readonly ReportGroup[];
}

export interface CampaignSummary {
  readonly id: string;
  readonly name: string;
  readonly objective: CampaignObjective;
  readonly kpi: KpiProgress | null;
  readonly kpis: readonly KpiProgress[];
  readonly totals: Metrics;
}

export interface CampaignsReport {
  readonly from: string;
  readonly to: string;
  readonly campaigns: readonly CampaignSummary[];
}

/** Inclusive range of UTC day numbers (days since the epoch, see dayOf). */
export interface DayRange {
  readonly from: number;
  readonly to: number;
}

/** Every day of the range, oldest first. */
export function daysOf(range: DayRange): number[] {
  const days: number[] = [];
  for (let day = range.from; day <= range.to; day++) days.push(day);
  return days;
}

/** UTC day number → `YYYY-MM-DD`. */
export function dayString(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** The counted amounts of a group, before the derived figures. */
interface Counts {
  impressions: number;
  views: number;
  clicks: number;
  accepts: number;
  rejects: number;
  dismissals: number;
  conversions: number;
  revenue: number;
  cost: number;
  controls: number;
  controlConversions: number;
  controlRevenue: number;
  customers: number;
  controlCustomers: number;
  customerConversions: number;
  controlCustomerConversions: number;
  customerRevenue: number;
  controlCustomerRevenue: number;
  customerCancels: number;
  controlCustomerCancels: number;
  leadsFirstTouch: number;
  leadsLastTouch: number;
  leadsPositionBased: number;
  customersFirstTouch: number;
  customersLastTouch: number;
  customersPositionBased: number;
  /** Treated customers (episodes) by their lifecycle stage when reached. */
  stages: Record<string, number>;
  /** The days histograms: metric → bucket lower bound → persons. */
  days: Record<DayMetric, Map<number, number>>;
}

/** The parts of Counts that are not one plain number. */
type Plain = Exclude<keyof Counts, 'cost' | 'stages' | 'days'>;

const zeroCounts = (): Counts => ({
  impressions: 0,
  views: 0,
  clicks: 0,
  accepts: 0,
  rejects: 0,
  dismissals: 0,
  conversions: 0,
  revenue: 0,
  cost: 0,
  controls: 0,
  controlConversions: 0,
  controlRevenue: 0,
  customers: 0,
  controlCustomers: 0,
  customerConversions: 0,
  controlCustomerConversions: 0,
  customerRevenue: 0,
  controlCustomerRevenue: 0,
  customerCancels: 0,
  controlCustomerCancels: 0,
  leadsFirstTouch: 0,
  leadsLastTouch: 0,
  leadsPositionBased: 0,
  customersFirstTouch: 0,
  customersLastTouch: 0,
  customersPositionBased: 0,
  stages: {},
  days: { leadDays: new Map(), customerDays: new Map(), leadToCustomerDays: new Map() },
});

/** Each counted metric → the Counts property it adds to. `expected` is a learning input, not reported. */
const COUNT_OF: Readonly<Partial<Record<Metric, Plain>>> = {
  impressions: 'impressions',
  controls: 'controls',
  views: 'views',
  clicks: 'clicks',
  accepts: 'accepts',
  rejects: 'rejects',
  dismissals: 'dismissals',
  conversions: 'conversions',
  revenue: 'revenue',
  controlConversions: 'controlConversions',
  controlRevenue: 'controlRevenue',
  customers: 'customers',
  controlCustomers: 'controlCustomers',
  customerConversions: 'customerConversions',
  controlCustomerConversions: 'controlCustomerConversions',
  customerRevenue: 'customerRevenue',
  controlCustomerRevenue: 'controlCustomerRevenue',
  customerCancels: 'customerCancels',
  controlCustomerCancels: 'controlCustomerCancels',
  leadsFirstTouch: 'leadsFirstTouch',
  leadsLastTouch: 'leadsLastTouch',
  leadsPositionBased: 'leadsPositionBased',
  customersFirstTouch: 'customersFirstTouch',
  customersLastTouch: 'customersLastTouch',
  customersPositionBased: 'customersPositionBased',
};

/** What a counter field means for reports, resolved once per distinct field. */
interface ResolvedField {
  readonly campaignId: string;
  readonly offerId: string;
  readonly channel: string;
  readonly segment: string;
  /**
   * What it adds to: a count, the customers of a lifecycle stage (`customersAt`), or the persons of
   * a days bucket (`leadDays:7`).
   */
  readonly count: Plain | { readonly stage: string } | { readonly days: DayMetric; readonly bucket: number };
  /** The channel's cost of one contact, for impressions; 0 otherwise. */
  readonly unitCost: number;
}

/**
 * Resolves counter fields against one snapshot. The same fields recur every day, so each is parsed
 * and looked up once per report.
 */
class FieldResolver {
  private readonly cache = new Map<string, ResolvedField | null>();

  constructor(private readonly snapshot: RulesetSnapshot) {}

  resolve(field: string): ResolvedField | null {
    let resolved = this.cache.get(field);
    if (resolved === undefined) {
      resolved = this.parse(field);
      this.cache.set(field, resolved);
    }
    return resolved;
  }

  private parse(field: string): ResolvedField | null {
    const parsed = parseCounterField(field);
    if (parsed === null) return null;
    const count =
      parsed.stage !== null
        ? { stage: parsed.stage }
        : parsed.bucket !== null && isDayMetric(parsed.metric)
          ? { days: parsed.metric, bucket: parsed.bucket }
          : COUNT_OF[parsed.metric];
    const offer = this.snapshot.offerById.get(parsed.offerId);
    if (count === undefined || offer === undefined) return null;
    const policy = this.snapshot.policies[channelIndex(parsed.channel)];
    return {
      campaignId: offer.campaign.id,
      offerId: parsed.offerId,
      channel: parsed.channel,
      segment: parsed.segmentId ?? NO_SEGMENT,
      count,
      unitCost: count === 'impressions' ? (policy?.cost ?? 0) : 0,
    };
  }
}

const isDayMetric = (metric: Metric): metric is DayMetric =>
  (DAY_METRICS as readonly Metric[]).includes(metric);

function add(into: Counts, field: ResolvedField, amount: number): void {
  if (typeof field.count === 'object') {
    if ('stage' in field.count) {
      into.stages[field.count.stage] = (into.stages[field.count.stage] ?? 0) + amount;
    } else {
      const histogram = into.days[field.count.days];
      histogram.set(field.count.bucket, (histogram.get(field.count.bucket) ?? 0) + amount);
    }
    return;
  }
  into[field.count] += amount;
  if (field.unitCost !== 0) into.cost += amount * field.unitCost;
}

/** Reads every counter of the range once, handing each (day, resolved field, amount) to `visit`. */
function eachCounter(
  snapshot: RulesetSnapshot,
  counters: ReadonlyMap<number, DayCounters>,
  range: DayRange,
  visit: (day: number, field: ResolvedField, amount: number) => void,
): void {
  const resolver = new FieldResolver(snapshot);
  for (const day of daysOf(range)) {
    const dayCounters = counters.get(day);
    if (dayCounters === undefined) continue;
    for (const [name, amount] of dayCounters) {
      const field = resolver.resolve(name);
      if (field !== null && Number.isFinite(amount)) visit(day, field, amount);
    }
  }
}

function groupKey(groupBy: GroupBy, day: number, field: ResolvedField): string {
  switch (groupBy) {
    case 'channel':
      return field.channel;
    case 'segment':
      return field.segment;
    case 'offer':
      return field.offerId;
    case 'day':
      return dayString(day);
  }
}

/** One campaign's report over a range of days, grouped or not. */
export function campaignReport(input: {
  readonly snapshot: RulesetSnapshot;
  readonly campaign: CompiledCampaign;
  readonly counters: ReadonlyMap<number, DayCounters>;
  readonly range: DayRange;
  readonly groupBy: GroupBy | null;
}): CampaignReport {
  const { campaign, range, groupBy } = input;
  const totals = zeroCounts();
  const groups = new Map<string, Counts>();
  // Every day is a row of a day-by-day chart, quiet days included.
  if (groupBy === 'day') for (const day of daysOf(range)) groups.set(dayString(day), zeroCounts());
  eachCounter(input.snapshot, input.counters, range, (day, field, amount) => {
    if (field.campaignId !== campaign.id) return;
    add(totals, field, amount);
    if (groupBy === null) return;
    const key = groupKey(groupBy, day, field);
    let group = groups.get(key);
    if (group === undefined) {
      group = zeroCounts();
      groups.set(key, group);
    }
    add(group, field, amount);
  });
  const totalMetrics = metricsOf(totals);
  return {
    campaign: {
      id: campaign.id,
      name: campaign.name,
      objective: campaign.objective,
      controlShare: campaign.controlShare,
      start: isoOrNull(campaign.start),
      end: isoOrNull(campaign.end),
    },
    from: dayString(range.from),
    to: dayString(range.to),
    kpi: kpiOf(campaign, totalMetrics),
    kpis: campaign.kpis.map((kpi) => kpiProgress(kpi, [totalMetrics])),
    totals: totalMetrics,
    groupBy,
    groups: [...groups.keys()].sort(byCodeUnits).map((key) => ({ key, ...metricsOf(groups.get(key)!) })),
  };
}

/** Every campaign of the snapshot with its totals and KPI progress, in ruleset order. */
export function campaignsReport(input: {
  readonly snapshot: RulesetSnapshot;
  readonly counters: ReadonlyMap<number, DayCounters>;
  readonly range: DayRange;
}): CampaignsReport {
  const { snapshot, range } = input;
  const totals = new Map<string, Counts>(snapshot.campaigns.map((c) => [c.id, zeroCounts()]));
  eachCounter(snapshot, input.counters, range, (_day, field, amount) => {
    const counts = totals.get(field.campaignId);
    if (counts !== undefined) add(counts, field, amount);
  });
  return {
    from: dayString(range.from),
    to: dayString(range.to),
    campaigns: snapshot.campaigns.map((campaign) => {
      const metrics = metricsOf(totals.get(campaign.id)!);
      return {
        id: campaign.id,
        name: campaign.name,
        objective: campaign.objective,
        kpi: kpiOf(campaign, metrics),
        kpis: campaign.kpis.map((kpi) => kpiProgress(kpi, [metrics])),
        totals: metrics,
      };
    }),
  };
}

// Plain code-unit order: the same on every machine, whatever its locale.
const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function isoOrNull(ms: number): string | null {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

/** a / b, or null when b is 0 (no trials: "no data", never NaN or Infinity). */
function ratio(a: number, b: number): number | null {
  return b > 0 ? a / b : null;
}

/** The derived figures of a group. Counters come from different events, so a rate may exceed 1. */
function metricsOf(c: Counts): Metrics {
  const n = c.impressions;
  // Successes are clamped to trials for the intervals: a conversion may be counted on a day other
  // than its impression's, so within a range they need not nest.
  const treated = { successes: Math.min(c.conversions, n), trials: n };
  const control = { successes: Math.min(c.controlConversions, c.controls), trials: c.controls };
  const u = uplift(treated, control);
  return {
    impressions: c.impressions,
    views: c.views,
    clicks: c.clicks,
    accepts: c.accepts,
    rejects: c.rejects,
    dismissals: c.dismissals,
    conversions: c.conversions,
    // Money to a millionth: sums of many small channel costs and HINCRBYFLOAT revenues carry
    // binary rounding (0.30999999999999994) that a report should not show.
    revenue: money(c.revenue),
    cost: money(c.cost),
    controls: c.controls,
    controlConversions: c.controlConversions,
    controlRevenue: money(c.controlRevenue),
    customers: c.customers,
    controlCustomers: c.controlCustomers,
    customerConversions: c.customerConversions,
    controlCustomerConversions: c.controlCustomerConversions,
    customerRevenue: money(c.customerRevenue),
    controlCustomerRevenue: money(c.controlCustomerRevenue),
    customerCancels: c.customerCancels,
    controlCustomerCancels: c.controlCustomerCancels,
    lifecycleMix: { ...c.stages },
    journeys: journeysOf(c),
    roi: c.cost > 0 ? (c.revenue - c.cost) / c.cost : null,
    rates: {
      clickRate: ratio(c.clicks, n),
      acceptRate: ratio(c.accepts, n),
      rejectRate: ratio(c.rejects, n),
      conversionRate: ratio(c.conversions, n),
    },
    acceptRateCi95: proportion(Math.min(c.accepts, n), n).ci95,
    funnel: [
      { stage: 'impression', label: 'interested', count: n, fromPrevious: null, fromTop: n > 0 ? 1 : null },
      {
        stage: 'accept',
        label: 'lead',
        count: c.accepts,
        fromPrevious: ratio(c.accepts, n),
        fromTop: ratio(c.accepts, n),
      },
      {
        stage: 'conversion',
        label: 'customer',
        count: c.conversions,
        fromPrevious: ratio(c.conversions, c.accepts),
        fromTop: ratio(c.conversions, n),
      },
    ],
    uplift: {
      metric: 'conversion_rate',
      treatedRate: u.treatedRate,
      controlRate: u.controlRate,
      uplift: u.uplift,
      ci95: u.ci95,
      relative: u.relative,
      incrementalConversions: u.uplift === null ? null : u.uplift * n,
      revenuePerDecision: { treated: ratio(c.revenue, n), control: ratio(c.controlRevenue, c.controls) },
    },
    customerUplift: customerUpliftOf(c),
  };
}

/**
 * The per-customer uplift. Conversions are counted on their episode's opening day and field, so
 * they nest in customers; the clamp only guards the statistics against counters that do not.
 */
function customerUpliftOf(c: Counts): CustomerUpliftReport {
  const treated = customerGroupOf(c.customers, c.customerConversions, c.customerRevenue);
  const control = customerGroupOf(c.controlCustomers, c.controlCustomerConversions, c.controlCustomerRevenue);
  const u = uplift(
    { successes: Math.min(c.customerConversions, c.customers), trials: c.customers },
    { successes: Math.min(c.controlCustomerConversions, c.controlCustomers), trials: c.controlCustomers },
  );
  const revenueDiff =
    treated.revenuePerCustomer === null || control.revenuePerCustomer === null
      ? null
      : treated.revenuePerCustomer - control.revenuePerCustomer;
  return {
    metric: 'customer_conversion_rate',
    treated,
    control,
    uplift: u.uplift,
    ci95: u.ci95,
    relative: u.relative,
    revenuePerCustomerDiff: revenueDiff,
    incrementalCustomers: u.uplift === null ? null : u.uplift * c.customers,
    incrementalRevenue: revenueDiff === null ? null : money(revenueDiff * c.customers),
  };
}

function journeysOf(c: Counts): JourneysReport {
  const leads = {
    firstTouch: c.leadsFirstTouch,
    lastTouch: c.leadsLastTouch,
    positionBased: credit(c.leadsPositionBased),
  };
  const customers = {
    firstTouch: c.customersFirstTouch,
    lastTouch: c.customersLastTouch,
    positionBased: credit(c.customersPositionBased),
  };
  const medianDaysToLead = medianDays(c.days.leadDays);
  const medianDaysLeadToCustomer = medianDays(c.days.leadToCustomerDays);
  return {
    leads,
    customers,
    medianDaysToLead,
    medianDaysToCustomer: medianDays(c.days.customerDays),
    medianDaysLeadToCustomer,
    daysToLead: histogramOf(c.days.leadDays),
    daysToCustomer: histogramOf(c.days.customerDays),
    daysLeadToCustomer: histogramOf(c.days.leadToCustomerDays),
    funnel: [
      { stage: 'prospect', count: c.customers, fromPrevious: null, medianDaysFromPrevious: null },
      {
        stage: 'lead',
        count: leads.positionBased,
        fromPrevious: ratio(leads.positionBased, c.customers),
        medianDaysFromPrevious: medianDaysToLead,
      },
      {
        stage: 'customer',
        count: customers.positionBased,
        fromPrevious: ratio(customers.positionBased, leads.positionBased),
        medianDaysFromPrevious: medianDaysLeadToCustomer,
      },
    ],
  };
}

/** A histogram as JSON: bucket lower bound → persons, buckets in ascending order, empty ones left out. */
function histogramOf(histogram: ReadonlyMap<number, number>): DaysHistogram {
  const out: Record<string, number> = {};
  for (const bucket of [...histogram.keys()].sort((a, b) => a - b))
    if (histogram.get(bucket)! > 0) out[String(bucket)] = histogram.get(bucket)!;
  return out;
}

/**
 * The median of a days histogram, interpolated within the bucket that holds the middle person as
 * for grouped data: lower + (n/2 − persons in the buckets below) / persons in the bucket × width,
 * the width reaching the next bound of DAY_BUCKETS. The last, open bucket has no width: its lower
 * bound is the answer ("180 days or more"). Rounded to a hundredth of a day; null without persons.
 */
export function medianDays(histogram: ReadonlyMap<number, number>): number | null {
  const buckets = [...histogram].filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]);
  const total = buckets.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return null;
  const half = total / 2;
  let below = 0;
  for (const [lower, n] of buckets) {
    if (below + n >= half) {
      const upper = DAY_BUCKETS.find((b) => b > lower);
      if (upper === undefined) return lower;
      return Math.round((lower + ((half - below) / n) * (upper - lower)) * 100) / 100;
    }
    below += n;
  }
  return buckets[buckets.length - 1]![0];
}

function customerGroupOf(customers: number, conversions: number, revenue: number): CustomerGroupReport {
  const { ci95 } = proportion(Math.min(conversions, customers), customers);
  return {
    customers,
    conversions,
    // The rate as counted, like the per-decision rates; only the interval needs a clamp.
    rate: ratio(conversions, customers),
    ci95,
    revenue: money(revenue),
    revenuePerCustomer: ratio(revenue, customers),
  };
}

function kpiOf(campaign: CompiledCampaign, totals: Metrics): KpiProgress | null {
  return campaign.kpi === null ? null : kpiProgress(campaign.kpi, [totals]);
}

const CSV_COLUMNS = [
  'key',
  'impressions',
  'views',
  'clicks',
  'accepts',
  'rejects',
  'dismissals',
  'conversions',
  'revenue',
  'cost',
  'roi',
  'click_rate',
  'accept_rate',
  'conversion_rate',
  'controls',
  'control_conversions',
  'uplift',
  'uplift_low',
  'uplift_high',
  // Per customer episode, after the per-decision columns so that existing column positions hold.
  'customers',
  'converted_customers',
  'customer_rate',
  'control_customers',
  'control_converted_customers',
  'control_customer_rate',
  'customer_uplift',
  'customer_uplift_low',
  'customer_uplift_high',
  'revenue_per_customer',
  'control_revenue_per_customer',
  // Journeys (funnel-attribution.ts), after the per-customer columns for the same reason.
  'leads_first_touch',
  'leads_last_touch',
  'leads_position_based',
  'customers_first_touch',
  'customers_last_touch',
  'customers_position_based',
  'median_days_to_lead',
  'median_days_to_customer',
  'median_days_lead_to_customer',
] as const;

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
function csvText(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const csvNumber = (n: number | null): string => (n === null ? '' : String(n));

function csvRow(key: string, m: Metrics): string {
  const cu = m.customerUplift;
  const j = m.journeys;
  return [
    csvText(key),
    ...[
      m.impressions,
      m.views,
      m.clicks,
      m.accepts,
      m.rejects,
      m.dismissals,
      m.conversions,
      m.revenue,
      m.cost,
      m.roi,
      m.rates.clickRate,
      m.rates.acceptRate,
      m.rates.conversionRate,
      m.controls,
      m.controlConversions,
      m.uplift.uplift,
      m.uplift.ci95?.[0] ?? null,
      m.uplift.ci95?.[1] ?? null,
      cu.treated.customers,
      cu.treated.conversions,
      cu.treated.rate,
      cu.control.customers,
      cu.control.conversions,
      cu.control.rate,
      cu.uplift,
      cu.ci95?.[0] ?? null,
      cu.ci95?.[1] ?? null,
      cu.treated.revenuePerCustomer,
      cu.control.revenuePerCustomer,
      j.leads.firstTouch,
      j.leads.lastTouch,
      j.leads.positionBased,
      j.customers.firstTouch,
      j.customers.lastTouch,
      j.customers.positionBased,
      j.medianDaysToLead,
      j.medianDaysToCustomer,
      j.medianDaysLeadToCustomer,
    ].map(csvNumber),
  ].join(',');
}

/** The report as CSV (RFC 4180, CRLF): a header, a row per group, then a `total` row. */
export function campaignReportCsv(report: CampaignReport): string {
  const rows = [CSV_COLUMNS.join(',')];
  for (const group of report.groups) rows.push(csvRow(group.key, group));
  rows.push(csvRow('total', report.totals));
  return `${rows.join('\r\n')}\r\n`;
}

function money(amount: number): number {
  return Math.round(amount * 1e6) / 1e6;
}

/** Position-based credits are sums of fractions (0.2 / 3): to a millionth, like money. */
const credit = money;
