/**
 * Segments against behaviour: each segment's actual response (accepts per impression) beside the
 * rest of the population's, per campaign, offer and channel, with intervals, and each of its
 * stated assumptions (rules' `assumption`) checked against the data. Pure: the caller reads the
 * counters (StatsReader) and picks the days.
 *
 * Who is "in" a segment here is who the counters say: a shown offer is counted under one segment,
 * the first of its campaign's target segments the customer is in (engine/decide.ts), or none when
 * the campaign targets everybody. So a segment's response is that of the customers campaigns
 * reached through it, and "the rest" is every other impression of the same scope (other segments
 * and none). Counters of offers no longer in the ruleset are left out, as in campaign reports.
 *
 * A check never flags on thin data: each group it compares needs MIN_IMPRESSIONS impressions,
 * else its verdict is `not_enough_data`.
 */

import { CHANNELS, type Channel } from '../domain/channel.js';
import { parseCounterField } from '../feedback/feedback-effects.js';
import type { DayCounters } from '../feedback/stats-reader.js';
import type { CompiledSegment, RulesetSnapshot, SegmentAssumption } from '../ruleset/snapshot.js';
import { type DayRange, dayString, daysOf } from './campaign-report.js';
import { type Interval, proportion, uplift, Z95 } from './uplift.js';

/** Impressions each compared group needs before a check may say anything. */
export const MIN_IMPRESSIONS = 100;

/** A group's response: accepts per impression, with its Wilson 95% interval. */
export interface Response {
  readonly impressions: number;
  readonly accepts: number;
  /** accepts / impressions; null without impressions. */
  readonly rate: number | null;
  /** Wilson 95% interval of the rate; null without impressions. */
  readonly ci95: Interval | null;
}

/**
 * `above` / `below`: the segment responds significantly better / worse than the rest (the
 * difference's 95% interval excludes 0); `similar`: it does not; `not_enough_data`: either group
 * has fewer than MIN_IMPRESSIONS impressions.
 */
export type ComparisonVerdict = 'above' | 'below' | 'similar' | 'not_enough_data';

/** The segment against the rest of the population, in one scope (everything, a campaign, an offer, a channel). */
export interface Comparison {
  readonly segment: Response;
  readonly rest: Response;
  /** Segment rate − rest rate; null when either has no impressions. */
  readonly difference: number | null;
  /** Newcombe's hybrid score 95% interval of the difference; null with it. */
  readonly ci95: Interval | null;
  readonly verdict: ComparisonVerdict;
}

/** A row of a breakdown: a campaign, an offer or a channel. */
export interface BreakdownRow extends Comparison {
  readonly key: string;
  readonly name: string;
}

export type CheckVerdict = 'consistent' | 'contradicted' | 'not_enough_data';

/** One assumption of a segment, checked. */
export interface AssumptionCheck {
  readonly assumption: 'acceptRate' | 'bestChannel' | 'respondsTo';
  /** What was assumed: the rate, the channel, or the campaign id. */
  readonly expected: number | string;
  readonly verdict: CheckVerdict;
  /** Why, in a sentence with the figures. */
  readonly reason: string;
  /** The segment's response the check read (overall, on the channel, in the campaign). */
  readonly observed: Response;
  /** What it was compared with, when it was: the rest of a campaign's audience, or another channel. */
  readonly comparedWith: {
    /** `rest`, or a channel. */
    readonly key: string;
    readonly response: Response;
    readonly difference: number | null;
    readonly interval: Interval | null;
    /** The confidence level of that interval (adjusted for the number of channels compared). */
    readonly level: number;
  } | null;
}

/** One segment: its response against the rest and its checked assumptions. */
export interface SegmentSummary {
  readonly id: string;
  readonly name: string;
  readonly assumption: SegmentAssumption | null;
  readonly overall: Comparison;
  readonly checks: readonly AssumptionCheck[];
  /** How many checks the data contradicts. */
  readonly contradicted: number;
}

/** One segment with its breakdowns. */
export interface SegmentDetail extends SegmentSummary {
  /** Campaigns that target the segment, in ruleset order. */
  readonly byCampaign: readonly BreakdownRow[];
  /** Offers the segment was shown, in ruleset order. */
  readonly byOffer: readonly BreakdownRow[];
  /** Channels it was reached on (and the assumed best channel), in channel order. */
  readonly byChannel: readonly BreakdownRow[];
}

interface ReportHead {
  readonly from: string;
  readonly to: string;
  readonly rulesetVersion: string;
  readonly minImpressions: number;
  /** Every impression of the range, whatever the segment. */
  readonly population: Response;
}

export interface SegmentsReport extends ReportHead {
  /** Every segment of the ruleset, in ruleset order. */
  readonly segments: readonly SegmentSummary[];
}

export interface SegmentReport extends ReportHead {
  readonly segment: SegmentDetail;
}

interface Input {
  readonly snapshot: RulesetSnapshot;
  readonly counters: ReadonlyMap<number, DayCounters>;
  readonly range: DayRange;
}

/** Every segment of the ruleset against the rest, with its checks (no breakdowns: see segmentReport). */
export function segmentsReport(input: Input): SegmentsReport {
  const tally = tallyCounters(input);
  return {
    ...head(input, tally),
    segments: input.snapshot.segments.map((segment) =>
      summaryOf(segmentDetail(input.snapshot, tally, segment)),
    ),
  };
}

/** One segment in detail: its breakdowns per campaign, offer and channel. */
export function segmentReport(input: Input & { readonly segment: CompiledSegment }): SegmentReport {
  const tally = tallyCounters(input);
  return { ...head(input, tally), segment: segmentDetail(input.snapshot, tally, input.segment) };
}

function head(input: Input, tally: Tally): ReportHead {
  return {
    from: dayString(input.range.from),
    to: dayString(input.range.to),
    rulesetVersion: input.snapshot.version,
    minImpressions: MIN_IMPRESSIONS,
    population: responseOf(tally.total),
  };
}

function summaryOf({
  byCampaign: _c,
  byOffer: _o,
  byChannel: _ch,
  ...summary
}: SegmentDetail): SegmentSummary {
  return summary;
}

// ---- counting ---------------------------------------------------------------------------------

interface Counts {
  impressions: number;
  accepts: number;
}

/** One offer × channel × segment, summed over the range. */
interface Cell {
  readonly offerId: string;
  readonly campaignId: string;
  readonly channel: Channel;
  readonly segmentId: string | null;
  readonly counts: Counts;
}

interface Tally {
  readonly cells: readonly Cell[];
  readonly total: Counts;
  /** Totals of every segment by scope key: `campaign:<id>`, `offer:<id>`, `channel:<name>`. */
  readonly byScope: ReadonlyMap<string, Counts>;
}

function tallyCounters({ snapshot, counters, range }: Input): Tally {
  const cells = new Map<string, Cell>();
  for (const day of daysOf(range)) {
    for (const [field, amount] of counters.get(day) ?? []) {
      if (!Number.isFinite(amount)) continue;
      const parsed = parseCounterField(field);
      if (parsed === null || (parsed.metric !== 'impressions' && parsed.metric !== 'accepts')) continue;
      const offer = snapshot.offerById.get(parsed.offerId);
      if (offer === undefined || !(CHANNELS as readonly string[]).includes(parsed.channel)) continue;
      const key = `${parsed.offerId}|${parsed.channel}|${parsed.segmentId ?? '-'}`;
      let cell = cells.get(key);
      if (cell === undefined) {
        cell = {
          offerId: offer.id,
          campaignId: offer.campaign.id,
          channel: parsed.channel as Channel,
          segmentId: parsed.segmentId,
          counts: { impressions: 0, accepts: 0 },
        };
        cells.set(key, cell);
      }
      cell.counts[parsed.metric] += amount;
    }
  }
  const total: Counts = { impressions: 0, accepts: 0 };
  const byScope = new Map<string, Counts>();
  for (const cell of cells.values()) {
    addTo(total, cell.counts);
    for (const scope of scopesOf(cell)) addTo(countsAt(byScope, scope), cell.counts);
  }
  return { cells: [...cells.values()], total, byScope };
}

const scopesOf = (cell: Cell) => [
  `campaign:${cell.campaignId}`,
  `offer:${cell.offerId}`,
  `channel:${cell.channel}`,
];

function countsAt(map: Map<string, Counts>, key: string): Counts {
  let counts = map.get(key);
  if (counts === undefined) {
    counts = { impressions: 0, accepts: 0 };
    map.set(key, counts);
  }
  return counts;
}

function addTo(into: Counts, counts: Counts): void {
  into.impressions += counts.impressions;
  into.accepts += counts.accepts;
}

const ZERO: Counts = { impressions: 0, accepts: 0 };

/** A scope's total less the segment's: the rest of the population there. */
const restOf = (total: Counts, segment: Counts): Counts => ({
  impressions: total.impressions - segment.impressions,
  accepts: total.accepts - segment.accepts,
});

// ---- one segment ------------------------------------------------------------------------------

function segmentDetail(snapshot: RulesetSnapshot, tally: Tally, segment: CompiledSegment): SegmentDetail {
  const own: Counts = { impressions: 0, accepts: 0 };
  const ownByScope = new Map<string, Counts>();
  for (const cell of tally.cells) {
    if (cell.segmentId !== segment.id) continue;
    addTo(own, cell.counts);
    for (const scope of scopesOf(cell)) addTo(countsAt(ownByScope, scope), cell.counts);
  }
  const row = (scope: string, key: string, name: string): BreakdownRow => {
    const mine = ownByScope.get(scope) ?? ZERO;
    return { key, name, ...compare(mine, restOf(tally.byScope.get(scope) ?? ZERO, mine)) };
  };
  const assumption = segment.assumption;
  const byCampaign = snapshot.campaigns
    .filter((c) => c.segments.some((s) => s.id === segment.id) || ownByScope.has(`campaign:${c.id}`))
    .map((c) => row(`campaign:${c.id}`, c.id, c.name));
  const byOffer = snapshot.offers
    .filter((o) => ownByScope.has(`offer:${o.id}`))
    .map((o) => row(`offer:${o.id}`, o.id, o.name));
  const byChannel = CHANNELS.filter(
    (c) => ownByScope.has(`channel:${c}`) || assumption?.bestChannel === c,
  ).map((c) => row(`channel:${c}`, c, c));
  const overall = compare(own, restOf(tally.total, own));
  const checks = assumption === null ? [] : checkAssumption(assumption, own, ownByScope, tally, byCampaign);
  return {
    id: segment.id,
    name: segment.name,
    assumption,
    overall,
    checks,
    contradicted: checks.filter((c) => c.verdict === 'contradicted').length,
    byCampaign,
    byOffer,
    byChannel,
  };
}

function responseOf(counts: Counts): Response {
  const p = proportion(counts.accepts, counts.impressions);
  return { impressions: counts.impressions, accepts: counts.accepts, rate: p.rate, ci95: p.ci95 };
}

function compare(segment: Counts, rest: Counts): Comparison {
  const diff = uplift(
    { successes: segment.accepts, trials: segment.impressions },
    { successes: rest.accepts, trials: rest.impressions },
  );
  return {
    segment: responseOf(segment),
    rest: responseOf(rest),
    difference: diff.uplift,
    ci95: diff.ci95,
    verdict: verdictOf(segment, rest, diff.ci95),
  };
}

function verdictOf(a: Counts, b: Counts, ci: Interval | null): ComparisonVerdict {
  if (a.impressions < MIN_IMPRESSIONS || b.impressions < MIN_IMPRESSIONS || ci === null)
    return 'not_enough_data';
  if (ci[0] > 0) return 'above';
  if (ci[1] < 0) return 'below';
  return 'similar';
}

// ---- the checks -------------------------------------------------------------------------------

function checkAssumption(
  assumption: SegmentAssumption,
  own: Counts,
  ownByScope: ReadonlyMap<string, Counts>,
  tally: Tally,
  byCampaign: readonly BreakdownRow[],
): AssumptionCheck[] {
  const checks: AssumptionCheck[] = [];
  if (assumption.acceptRate !== null) checks.push(checkAcceptRate(assumption.acceptRate, own));
  if (assumption.bestChannel !== null) checks.push(checkBestChannel(assumption.bestChannel, ownByScope));
  for (const campaignId of assumption.respondsTo) {
    const row = byCampaign.find((r) => r.key === campaignId);
    const mine = ownByScope.get(`campaign:${campaignId}`) ?? ZERO;
    const rest = restOf(tally.byScope.get(`campaign:${campaignId}`) ?? ZERO, mine);
    checks.push(checkRespondsTo(campaignId, row?.name ?? campaignId, mine, rest));
  }
  return checks;
}

/** Contradicted when the assumed rate is outside the 95% interval of the segment's rate. */
function checkAcceptRate(expected: number, own: Counts): AssumptionCheck {
  const observed = responseOf(own);
  const base = { assumption: 'acceptRate', expected, observed, comparedWith: null } as const;
  if (own.impressions < MIN_IMPRESSIONS || observed.rate === null || observed.ci95 === null) {
    return {
      ...base,
      verdict: 'not_enough_data',
      reason: tooFew(own.impressions, 'impressions in the range'),
    };
  }
  const [low, high] = observed.ci95;
  const figures = `${pct(observed.rate)} of ${count(own.impressions)} impressions accepted (95% interval ${pct(low)} to ${pct(high)})`;
  if (expected < low || expected > high) {
    return {
      ...base,
      verdict: 'contradicted',
      reason: `${figures}: the assumed ${pct(expected)} is ${expected < low ? 'below' : 'above'} the interval`,
    };
  }
  return { ...base, verdict: 'consistent', reason: `${figures}: the assumed ${pct(expected)} is within it` };
}

/**
 * Contradicted when the segment's rate on the assumed best channel is significantly below its rate
 * on another channel. Every other channel with enough data is compared, each at a Bonferroni-adjusted
 * level, so that the claim as a whole is flagged by chance at most 5% of the time.
 */
function checkBestChannel(channel: Channel, ownByScope: ReadonlyMap<string, Counts>): AssumptionCheck {
  const mine = ownByScope.get(`channel:${channel}`) ?? ZERO;
  const observed = responseOf(mine);
  const base = { assumption: 'bestChannel', expected: channel, observed } as const;
  if (mine.impressions < MIN_IMPRESSIONS) {
    return {
      ...base,
      comparedWith: null,
      verdict: 'not_enough_data',
      reason: tooFew(mine.impressions, `impressions on ${channel}`),
    };
  }
  const others = CHANNELS.filter(
    (c) => c !== channel && (ownByScope.get(`channel:${c}`)?.impressions ?? 0) >= MIN_IMPRESSIONS,
  );
  if (others.length === 0) {
    return {
      ...base,
      comparedWith: null,
      verdict: 'not_enough_data',
      reason: `no other channel reached the segment ${MIN_IMPRESSIONS} times to compare ${channel} with`,
    };
  }
  const level = 1 - 0.05 / others.length;
  const z = others.length === 1 ? Z95 : normalQuantile(1 - 0.025 / others.length);
  // The comparison with the best of the others: the one the claim is most likely to fail against.
  let worst: AssumptionCheck['comparedWith'] = null;
  for (const other of others) {
    const theirs = ownByScope.get(`channel:${other}`)!;
    const diff = uplift(
      { successes: mine.accepts, trials: mine.impressions },
      { successes: theirs.accepts, trials: theirs.impressions },
      z,
    );
    const candidate = {
      key: other,
      response: responseOf(theirs),
      difference: diff.uplift,
      interval: diff.ci95,
      level,
    };
    if (worst === null || (candidate.interval?.[1] ?? 1) < (worst.interval?.[1] ?? 1)) worst = candidate;
  }
  const w = worst!;
  const figures = `${pct(observed.rate)} accepted on ${channel} against ${pct(w.response.rate)} on ${w.key} (difference ${pp(w.difference)}, ${pct(level, 1)} interval ${pp(w.interval![0])} to ${pp(w.interval![1])})`;
  if (w.interval![1] < 0) {
    return { ...base, comparedWith: w, verdict: 'contradicted', reason: `${figures}: significantly below` };
  }
  return {
    ...base,
    comparedWith: w,
    verdict: 'consistent',
    reason: `${figures}: not significantly below ${others.length === 1 ? 'it' : `any of ${others.join(', ')}`}`,
  };
}

/** Contradicted when the segment responds to the campaign significantly below the rest of its audience. */
function checkRespondsTo(campaignId: string, name: string, mine: Counts, rest: Counts): AssumptionCheck {
  const observed = responseOf(mine);
  const base = { assumption: 'respondsTo', expected: campaignId, observed } as const;
  if (mine.impressions < MIN_IMPRESSIONS) {
    return {
      ...base,
      comparedWith: null,
      verdict: 'not_enough_data',
      reason: tooFew(mine.impressions, `impressions of ${name} in the segment`),
    };
  }
  const diff = uplift(
    { successes: mine.accepts, trials: mine.impressions },
    { successes: rest.accepts, trials: rest.impressions },
  );
  const comparedWith = {
    key: 'rest',
    response: responseOf(rest),
    difference: diff.uplift,
    interval: diff.ci95,
    level: 0.95,
  };
  if (rest.impressions < MIN_IMPRESSIONS || diff.ci95 === null) {
    return {
      ...base,
      comparedWith,
      verdict: 'not_enough_data',
      reason: `the rest of ${name}'s audience: ${tooFew(rest.impressions, 'impressions')}`,
    };
  }
  const figures = `in ${name}, ${pct(observed.rate)} accepted against ${pct(comparedWith.response.rate)} by the rest of its audience (difference ${pp(diff.uplift)}, 95% interval ${pp(diff.ci95[0])} to ${pp(diff.ci95[1])})`;
  if (diff.ci95[1] < 0) {
    return { ...base, comparedWith, verdict: 'contradicted', reason: `${figures}: significantly below` };
  }
  return { ...base, comparedWith, verdict: 'consistent', reason: `${figures}: not significantly below` };
}

const tooFew = (n: number, what: string) =>
  `not enough data: ${count(n)} ${what}, a check needs ${MIN_IMPRESSIONS}`;

const count = (n: number) => String(Math.round(n));
const pct = (x: number | null, digits = 2) => (x === null ? 'n/a' : `${(x * 100).toFixed(digits)}%`);
const pp = (x: number | null) =>
  x === null ? 'n/a' : `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(2)} pp`;

/**
 * Φ⁻¹(p), the standard normal quantile, by Acklam's rational approximation (relative error below
 * 1.2e-9 over (0, 1)): the z of an interval at a level other than 95%.
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`p must be in (0, 1), got ${p}`);
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) =>
    (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
    ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}
