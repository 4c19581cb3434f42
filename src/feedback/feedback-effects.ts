import type { ContactEvent } from '../domain/contact.js';
import { DAY_MS } from '../ruleset/time.js';
import type { Credit } from './customer-attribution.js';
import type { Arm, LogEntry } from './feedback-event.js';

/** What the aggregates count per offer × channel × segment × UTC day. */
export const METRICS = [
  'impressions',
  /** Σ over impressions of the propensity before learning: what the analysts' affinities predicted. */
  'expected',
  // Impressions by the bin of their propensity before learning, `affinityImpressions:<bin>` (see
  // affinityBinOf): what learning needs to fit a ratio to customers of differing affinities.
  'affinityImpressions',
  'controls',
  'views',
  'clicks',
  'accepts',
  'rejects',
  'dismissals',
  'conversions',
  'revenue',
  'controlConversions',
  'controlRevenue',
  // Per customer (see customer-attribution.ts): episodes opened, on the day each opened, by the
  // offer that opened it; and the episodes that converted, with their revenue, on the same day.
  'customers',
  'controlCustomers',
  'customerConversions',
  'controlCustomerConversions',
  'customerRevenue',
  'controlCustomerRevenue',
  // Treated episodes by the customer's lifecycle stage when it opened: `customersAt:<stage>`.
  'customersAt',
  // A person's funnel transitions (funnel-attribution.ts), on the UTC day of the transition, credited
  // to the touchpoints before it by three models; the position-based credits are fractions.
  'leadsFirstTouch',
  'leadsLastTouch',
  'leadsPositionBased',
  'customersFirstTouch',
  'customersLastTouch',
  'customersPositionBased',
  // Days to a transition, a histogram on the first-touch offer: `leadDays:<bucket>` (bucket: a lower
  // bound of DAY_BUCKETS), from the first touch to the lead, to the customer, and from lead to customer.
  'leadDays',
  'customerDays',
  'leadToCustomerDays',
  // Episodes in which the customer cancelled a product (at most one each), on the day and field of
  // the episode's opening, like its conversion: retention (cancel-attribution.ts).
  'customerCancels',
  'controlCustomerCancels',
] as const;
export type Metric = (typeof METRICS)[number];

/** The metrics counted per bucket of days, `<metric>:<bucket>`. */
export const DAY_METRICS = ['leadDays', 'customerDays', 'leadToCustomerDays'] as const;
export type DayMetric = (typeof DAY_METRICS)[number];

/**
 * The buckets of the days histograms, by their lower bound in days: bucket 7 holds 7 ≤ days < 10,
 * the last one (180) every longer time. Fixed, so that days add up across servers and ranges.
 */
export const DAY_BUCKETS = [0, 1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90, 180] as const;

/** A metric as a counter field names it: the plain metrics, and the forms with a stage or a bucket. */
export type MetricName =
  | Metric
  | `customersAt:${string}`
  | `${DayMetric}:${number}`
  | `affinityImpressions:${number}`;

/**
 * The affinity bins: one logit unit wide, named by their lower bound, from −8 (affinity 0.0003) to
 * 5 (0.993, up to 1); the end bins also take what lies beyond. One unit wide because learning's fit
 * then errs by about 1 % in the ratio (rms; worst 4 %) over wide spreads of affinities, far below the
 * noise of a cell's accepts; half a unit halves that at twice the fields. Fixed, like DAY_BUCKETS.
 */
export const AFFINITY_BIN_MIN = -8;
export const AFFINITY_BIN_MAX = 5;

/** The bin of a propensity in (0, 1]: the whole part of its logit, clamped to the bins. */
export function affinityBinOf(propensity: number): number {
  if (!(propensity < 1)) return AFFINITY_BIN_MAX;
  const logit = Math.floor(Math.log(propensity / (1 - propensity)));
  return logit < AFFINITY_BIN_MIN ? AFFINITY_BIN_MIN : logit > AFFINITY_BIN_MAX ? AFFINITY_BIN_MAX : logit;
}

/** The affinity at the middle of a bin (on the logit scale). */
export const affinityOfBin = (bin: number): number => 1 / (1 + Math.exp(-(bin + 0.5)));

/**
 * One counter to add to: `field` is `offerId|channel|segmentId|metric` (`-` for no segment; ids
 * never contain `|` and never start with `-`, by the ruleset schema). `float`: a revenue, added
 * with HINCRBYFLOAT; every other metric is a whole count.
 */
export interface CounterIncrement {
  readonly day: number;
  readonly field: string;
  readonly amount: number;
  readonly float: boolean;
}

export interface CounterField {
  readonly offerId: string;
  readonly channel: string;
  readonly segmentId: string | null;
  readonly metric: Metric;
  /** The lifecycle stage of a `customersAt` counter; null for every other metric. */
  readonly stage: string | null;
  /** The lower bound in days of a days bucket (`leadDays:7`); null for every other metric. */
  readonly bucket: number | null;
  /** The affinity bin of an `affinityImpressions` counter (affinityBinOf); null for every other metric. */
  readonly bin: number | null;
}

const REACTION_METRIC: ReadonlyMap<string, Metric> = new Map([
  ['impression', 'views'],
  ['click', 'clicks'],
  ['accept', 'accepts'],
  ['reject', 'rejects'],
  ['dismiss', 'dismissals'],
  ['convert', 'conversions'],
]);

export const dayOf = (ms: number): number => Math.floor(ms / DAY_MS);

export function counterField(
  offerId: string,
  channel: string,
  segmentId: string | null,
  metric: MetricName,
): string {
  return `${offerId}|${channel}|${segmentId ?? '-'}|${metric}`;
}

/** The counters one log entry adds to; applying them twice would count twice (the consumer acks first). */
export function countersOf(entry: LogEntry): CounterIncrement[] {
  if (entry.kind === 'decision') {
    const d = entry.decision;
    const day = dayOf(d.at);
    const out: CounterIncrement[] = [];
    for (const o of d.offers) {
      out.push({
        day,
        field: counterField(o.offerId, d.channel, o.segmentId, 'impressions'),
        amount: 1,
        float: false,
      });
      const prior = o.prior ?? o.propensity;
      if (prior > 0) {
        out.push({
          day,
          field: counterField(o.offerId, d.channel, o.segmentId, 'expected'),
          amount: prior,
          float: true,
        });
        out.push({
          day,
          field: counterField(
            o.offerId,
            d.channel,
            o.segmentId,
            `affinityImpressions:${affinityBinOf(prior)}`,
          ),
          amount: 1,
          float: false,
        });
      }
    }
    for (const o of d.heldOut) {
      out.push({
        day,
        field: counterField(o.offerId, d.channel, o.segmentId, 'controls'),
        amount: 1,
        float: false,
      });
    }
    for (const o of d.offers) {
      if (!o.opens) continue;
      out.push(episodeCounter(day, o.offerId, d.channel, 'customers'));
      if (d.stage !== undefined)
        out.push(episodeCounter(day, o.offerId, d.channel, `customersAt:${d.stage}`));
    }
    for (const o of d.heldOut)
      if (o.opens) out.push(episodeCounter(day, o.offerId, d.channel, 'controlCustomers'));
    if (d.arm !== undefined) {
      for (const o of d.offers) {
        out.push(armCounter(day, d.arm, o.campaignId, d.channel, 'impressions', 1));
        if (o.opens) out.push(armCounter(day, d.arm, o.campaignId, d.channel, 'customers', 1));
      }
    }
    return out;
  }
  // An outcome's counters depend on the customer's history: see customerCounters.
  if (entry.kind === 'outcome') return [];
  const { event, attribution: a } = entry;
  const day = dayOf(event.at);
  const field = (metric: Metric) => counterField(event.offerId, a.channel, a.segmentId, metric);
  const revenue = typeof event.value === 'number' && Number.isFinite(event.value) && event.value !== 0;
  if (a.heldOut) {
    // A held-out offer was never shown: only a conversion (through another path) says anything, as uplift's baseline.
    if (event.type !== 'convert') return [];
    const out: CounterIncrement[] = [{ day, field: field('controlConversions'), amount: 1, float: false }];
    if (revenue) out.push({ day, field: field('controlRevenue'), amount: event.value!, float: true });
    return out;
  }
  const metric = REACTION_METRIC.get(event.type);
  if (metric === undefined) return [];
  const out: CounterIncrement[] = [{ day, field: field(metric), amount: 1, float: false }];
  if (event.type === 'convert' && revenue)
    out.push({ day, field: field('revenue'), amount: event.value!, float: true });
  // Conversions count for an arm per customer (customerCounters), like the honest uplift.
  if (a.arm !== undefined && metric === 'accepts')
    out.push(armCounter(day, a.arm, a.campaignId, a.channel, 'accepts', 1));
  return out;
}

/**
 * What a champion/challenger test counts per arm × campaign × channel × day: offers shown
 * (`impressions`), customers reached (`customers`: episodes opened, as a campaign counts them),
 * `accepts`, and the episodes that converted (`customerConversions`, once each, a `convert` or a
 * purchase credited to them) with their `customerRevenue`, on the day the episode opened.
 */
export const ARM_METRICS = [
  'impressions',
  'customers',
  'accepts',
  'customerConversions',
  'customerRevenue',
] as const;
export type ArmMetric = (typeof ARM_METRICS)[number];

/**
 * An arm's counter field, `arm|<arm>|<campaignId>|<channel>|<metric>`: counted only for decisions
 * of a test, besides the usual counters (which count every decision, whichever arm). Five parts,
 * so that parseCounterField, and so every other report and learning, pass it by.
 */
export function armCounterField(arm: Arm, campaignId: string, channel: string, metric: ArmMetric): string {
  return `arm|${arm}|${campaignId}|${channel}|${metric}`;
}

export interface ArmCounterField {
  readonly arm: Arm;
  readonly campaignId: string;
  readonly channel: string;
  readonly metric: ArmMetric;
}

/** The parts of an arm's counter field; null for any other field. */
export function parseArmCounterField(field: string): ArmCounterField | null {
  if (!field.startsWith('arm|')) return null;
  const parts = field.split('|');
  if (parts.length !== 5) return null;
  const [, arm, campaignId, channel, metric] = parts as [string, string, string, string, string];
  if (arm !== 'champion' && arm !== 'challenger') return null;
  if (!(ARM_METRICS as readonly string[]).includes(metric)) return null;
  return { arm, campaignId, channel, metric: metric as ArmMetric };
}

const armCounter = (
  day: number,
  arm: Arm,
  campaignId: string,
  channel: string,
  metric: ArmMetric,
  amount: number,
): CounterIncrement => ({
  day,
  field: armCounterField(arm, campaignId, channel, metric),
  amount,
  float: metric === 'customerRevenue',
});

const episodeCounter = (
  day: number,
  offerId: string,
  channel: string,
  metric: MetricName,
): CounterIncrement => ({
  day,
  field: counterField(offerId, channel, null, metric),
  amount: 1,
  float: false,
});

/**
 * The per-customer counters of a credited outcome: an episode that converts (once), with its
 * revenue, on the day and offer of the touch that opened the episode, like the episode itself.
 */
export function customerCounters(credit: Credit, value: number | null): CounterIncrement[] {
  if (!credit.converts) return [];
  const { opener } = credit;
  const day = dayOf(opener.at);
  const control = credit.touch.heldOut;
  const out = [
    episodeCounter(
      day,
      opener.offerId,
      opener.channel,
      control ? 'controlCustomerConversions' : 'customerConversions',
    ),
  ];
  const revenue = value !== null && Number.isFinite(value) && value !== 0;
  if (revenue) {
    out.push({
      day,
      field: counterField(
        opener.offerId,
        opener.channel,
        null,
        control ? 'controlCustomerRevenue' : 'customerRevenue',
      ),
      amount: value,
      float: true,
    });
  }
  // An episode a test's decision opened converts for its arm (the customer stays in it).
  if (!control && opener.arm !== undefined) {
    out.push(armCounter(day, opener.arm, opener.campaignId, opener.channel, 'customerConversions', 1));
    if (revenue)
      out.push(armCounter(day, opener.arm, opener.campaignId, opener.channel, 'customerRevenue', value));
  }
  return out;
}

/**
 * The contact-history event a log entry implies, if any: accepts and rejects of shown offers, which
 * contact policy suppresses on, and clicks and dismissals, which the journey shows. Impressions are
 * recorded when the decision is made; a held-out offer was never shown.
 */
const IN_HISTORY: ReadonlySet<string> = new Set(['accept', 'reject', 'click', 'dismiss']);

export function contactEventOf(entry: LogEntry): { customerId: string; event: ContactEvent } | null {
  if (entry.kind !== 'feedback' || entry.attribution.heldOut) return null;
  // Conversions and outcomes are appended by the customer loop, which credits them first.
  const { event, attribution } = entry;
  if (!IN_HISTORY.has(event.type)) return null;
  return {
    customerId: event.customerId,
    event: {
      offerId: event.offerId,
      campaignId: attribution.campaignId,
      channel: attribution.channel,
      outcome: event.type as 'accept' | 'reject' | 'click' | 'dismiss',
      at: event.at,
    },
  };
}

const isDayMetric = (metric: string): metric is DayMetric =>
  (DAY_METRICS as readonly string[]).includes(metric);

/** A bucket as written in a field: a whole number of days, no sign, no leading zero. */
const BUCKET = /^(0|[1-9]\d{0,5})$/;
/** An affinity bin as written in a field: a whole number, maybe negative, no leading zero. */
const BIN = /^(0|-?[1-9]\d{0,2})$/;

/**
 * The parts of a counter field, for reports; null when it is not one. `customersAt` needs its
 * `:<stage>`, a days metric its `:<bucket>` (any whole number of days, so that counters written
 * under another bucket list still read), and no other metric has a suffix.
 */
export function parseCounterField(field: string): CounterField | null {
  const parts = field.split('|');
  if (parts.length !== 4) return null;
  const colon = parts[3]!.indexOf(':');
  const metric = colon < 0 ? parts[3]! : parts[3]!.slice(0, colon);
  const suffix = colon < 0 ? null : parts[3]!.slice(colon + 1);
  if (!(METRICS as readonly string[]).includes(metric)) return null;
  let stage: string | null = null;
  let bucket: number | null = null;
  let bin: number | null = null;
  if (metric === 'affinityImpressions') {
    if (suffix === null || !BIN.test(suffix)) return null;
    bin = Number(suffix);
  } else if (metric === 'customersAt') {
    if (suffix === null) return null;
    stage = suffix;
  } else if (isDayMetric(metric)) {
    if (suffix === null || !BUCKET.test(suffix)) return null;
    bucket = Number(suffix);
  } else if (suffix !== null) return null;
  return {
    offerId: parts[0]!,
    channel: parts[1]!,
    segmentId: parts[2] === '-' ? null : parts[2]!,
    metric: metric as Metric,
    stage,
    bucket,
    bin,
  };
}

/** The bucket of DAY_BUCKETS that holds a time of `days` (negative times fall in the first). */
export function dayBucketOf(days: number): number {
  let bucket: number = DAY_BUCKETS[0];
  for (const lower of DAY_BUCKETS) if (days >= lower) bucket = lower;
  return bucket;
}

/** The counters in memory, for the embedded mode (no Redis). Kept per day, so a report reads only its days. */
export class FeedbackStats {
  /**
   * A counter is a box: every decision adds to a few, and a box takes one lookup and no new heap
   * number per addition (a float in a Map is replaced by a new one each time).
   */
  private readonly days = new Map<number, Map<string, { amount: number }>>();

  add(increments: readonly CounterIncrement[]): void {
    for (const i of increments) {
      let counters = this.days.get(i.day);
      if (counters === undefined) {
        counters = new Map();
        this.days.set(i.day, counters);
      }
      const counter = counters.get(i.field);
      if (counter === undefined) counters.set(i.field, { amount: i.amount });
      else counter.amount += i.amount;
    }
  }

  value(day: number, field: string): number {
    return this.days.get(day)?.get(field)?.amount ?? 0;
  }

  /** A copy of one day's counters, counter field → amount (empty for a day without any). */
  day(day: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const [field, counter] of this.days.get(day) ?? []) out.set(field, counter.amount);
    return out;
  }

  /** A copy of every counter, keyed `day|field`. */
  snapshot(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [day, counters] of this.days) {
      for (const [field, counter] of counters) out.set(`${day}|${field}`, counter.amount);
    }
    return out;
  }
}
