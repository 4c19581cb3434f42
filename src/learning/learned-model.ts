/**
 * What feedback has taught the engine, as the decision path reads it: per offer × channel (and
 * offer × channel × target segment where that cell has enough impressions) an odds ratio that moves
 * a customer's precomputed affinity to a learned propensity (see response-rate.ts
 * learnedPropensity). Built from the feedback counters by the periodic refresh, off the hot path,
 * and swapped in whole; a decision reads plain typed arrays.
 *
 * Pure: counters and a snapshot in, an immutable model out.
 */
import { CHANNELS } from '../domain/channel.js';
import {
  AFFINITY_BIN_MAX,
  AFFINITY_BIN_MIN,
  affinityOfBin,
  parseCounterField,
} from '../feedback/feedback-effects.js';
import type { CandidateList, ChannelIndex, CompiledOffer, RulesetSnapshot } from '../ruleset/snapshot.js';
import {
  type BetaParams,
  calibrated,
  calibrationRatio,
  credibleInterval95,
  DEFAULT_PRIOR_STRENGTH,
  exposurePrior,
  fitRatio,
  posterior,
  posteriorMean,
} from './response-rate.js';

export interface LearningSettings {
  /** How many impressions the analysts' affinities are worth (the prior's pseudo-count). */
  readonly priorStrength: number;
  /** Impressions an offer × channel × segment cell needs before it has its own estimate. */
  readonly minSegmentImpressions: number;
}

export const DEFAULT_LEARNING: LearningSettings = {
  priorStrength: DEFAULT_PRIOR_STRENGTH,
  minSegmentImpressions: 500,
};

/** The counts learning reads from one cell of the feedback counters. */
export interface CellCounts {
  impressions: number;
  accepts: number;
  /** Σ over the impressions of the propensity before learning (what the affinities predicted). */
  expected: number;
  /**
   * Impressions by affinity bin (index: bin − AFFINITY_BIN_MIN), or null where the counters have
   * none (written before the bins were): then the ratio is fitted to the mean affinity alone.
   */
  bins: Float64Array | null;
}

/** One learned cell, for reports and the learning endpoint. */
export interface LearnedCell {
  readonly offerId: string;
  readonly channel: string;
  readonly segmentId: string | null;
  readonly impressions: number;
  readonly accepts: number;
  /** The response rate the affinities predicted for the customers shown the offer. */
  readonly expectedRate: number;
  /** Posterior mean of the response rate. */
  readonly learnedRate: number;
  /** Equal-tailed 95% credible interval of the rate (computed on first read: it is not cheap). */
  readonly ci95: readonly [number, number];
  /**
   * Odds ratio applied to each customer's affinity: the one under which the learned rates of the
   * cell's impressions add up to learnedRate × impressions.
   */
  readonly ratio: number;
}

const CH = CHANNELS.length;

/**
 * Index of an offer × channel cell in the model's arrays. Exported for the engine, which reads the
 * arrays directly on the hot path.
 */
export const cellOf = (offer: CompiledOffer, ch: number): number => offer.ordinal * CH + ch;

export class LearnedModel {
  private constructor(
    readonly snapshot: RulesetSnapshot,
    /** Odds ratio per cell, pooled over segments; 1 where nothing was learned. */
    readonly pooled: Float64Array,
    /** Per cell: ratio by segment ordinal (NaN: too few impressions, use pooled), or null. */
    readonly bySegment: readonly (Float64Array | null)[],
    /** Per cell: the largest ratio the cell may apply (pooled or any segment's), to order candidates. */
    readonly upper: Float64Array,
    /** Per cell: the offer's base propensity moved by `upper`, its score without a customer affinity. */
    readonly staticPropensity: Float64Array,
    /** The snapshot's candidate lists, ordered by learned instead of base propensity. */
    readonly channels: readonly ChannelIndex[],
    readonly cells: readonly LearnedCell[],
    /** Epoch ms of the counters' read; 0 for the identity model. */
    readonly builtAt: number,
  ) {}

  /** The model that has learned nothing: every propensity is the affinity. */
  static identity(snapshot: RulesetSnapshot): LearnedModel {
    const n = snapshot.offers.length * CH;
    const ones = new Float64Array(n).fill(1);
    const base = staticPropensities(snapshot, ones);
    return new LearnedModel(snapshot, ones, new Array(n).fill(null), ones, base, snapshot.channels, [], 0);
  }

  /**
   * Learns from counters summed over the days the refresh looks back on (`offerId|channel|segment|metric`
   * → amount, see feedback-effects.ts). Counters of offers not in the snapshot are ignored.
   *
   * A channel on which no offer was ever accepted learns nothing: it does not report accepts
   * (a website that sends only impressions and clicks), and reading its silence as rejection
   * would drive every propensity to zero.
   */
  static build(
    snapshot: RulesetSnapshot,
    counters: ReadonlyMap<string, number>,
    settings: LearningSettings,
    builtAt: number,
  ): LearnedModel {
    const pooledCounts = new Map<number, CellCounts>();
    const segmentCounts = new Map<number, Map<number, CellCounts>>();
    const acceptsByChannel = new Float64Array(CH);
    for (const [field, amount] of counters) {
      const parsed = parseCounterField(field);
      // One corrupt counter must not stop every refresh: it is skipped.
      if (parsed === null || !(amount >= 0 && amount < Number.POSITIVE_INFINITY)) continue;
      const { metric } = parsed;
      if (
        metric !== 'impressions' &&
        metric !== 'accepts' &&
        metric !== 'expected' &&
        metric !== 'affinityImpressions'
      )
        continue;
      const offer = snapshot.offerById.get(parsed.offerId);
      const ch = CHANNELS.indexOf(parsed.channel as (typeof CHANNELS)[number]);
      if (offer === undefined || ch < 0) continue;
      const cell = cellOf(offer, ch);
      add(pooledCounts, cell, metric, amount, parsed.bin);
      if (metric === 'accepts') acceptsByChannel[ch]! += amount;
      const segment = parsed.segmentId === null ? undefined : snapshot.segmentById.get(parsed.segmentId);
      if (segment !== undefined && segment.ordinal >= 0) {
        let bySegment = segmentCounts.get(cell);
        if (bySegment === undefined) {
          bySegment = new Map();
          segmentCounts.set(cell, bySegment);
        }
        add(bySegment, segment.ordinal, metric, amount, parsed.bin);
      }
    }

    const n = snapshot.offers.length * CH;
    const pooled = new Float64Array(n).fill(1);
    const upper = new Float64Array(n).fill(1);
    const bySegment: (Float64Array | null)[] = new Array(n).fill(null);
    const cells: LearnedCell[] = [];
    for (const [cell, counts] of pooledCounts) {
      const ch = cell % CH;
      if (acceptsByChannel[ch] === 0 || counts.impressions <= 0) continue;
      const offer = snapshot.offers[Math.floor(cell / CH)]!;
      const learned = learn(counts, offer.basePropensity, settings.priorStrength);
      pooled[cell] = learned.ratio;
      upper[cell] = learned.ratio;
      cells.push(describe(offer.id, CHANNELS[ch]!, null, counts, learned));

      // A segment's cell starts from what the offer does on the channel over all segments, so a
      // segment with little data is the pooled estimate, and one with much data its own.
      const segments = segmentCounts.get(cell);
      if (segments === undefined) continue;
      for (const [ordinal, segmentCounts] of segments) {
        if (segmentCounts.impressions < settings.minSegmentImpressions) continue;
        const own = learn(segmentCounts, offer.basePropensity, settings.priorStrength, learned.ratio);
        let ratios = bySegment[cell];
        if (ratios == null) {
          ratios = new Float64Array(snapshot.segments.length).fill(Number.NaN);
          bySegment[cell] = ratios;
        }
        ratios[ordinal] = own.ratio;
        if (own.ratio > upper[cell]!) upper[cell] = own.ratio;
        cells.push(describe(offer.id, CHANNELS[ch]!, snapshot.segments[ordinal]!.id, segmentCounts, own));
      }
    }
    const base = staticPropensities(snapshot, upper);
    const channels = snapshot.channels.map((index, ch) => reorder(index, base, ch));
    return new LearnedModel(snapshot, pooled, bySegment, upper, base, channels, cells, builtAt);
  }

  /**
   * The odds ratio for an offer on a channel for a customer in target segment `segmentOrdinal`
   * (-1: none, or an untargeted campaign).
   */
  ratio(cell: number, segmentOrdinal: number): number {
    const ratios = this.bySegment[cell];
    if (ratios != null && segmentOrdinal >= 0) {
      const r = ratios[segmentOrdinal]!;
      if (!Number.isNaN(r)) return r;
    }
    return this.pooled[cell]!;
  }
}

const BINS = AFFINITY_BIN_MAX - AFFINITY_BIN_MIN + 1;
const BIN_AFFINITIES = Float64Array.from({ length: BINS }, (_, i) => affinityOfBin(i + AFFINITY_BIN_MIN));

function add(
  map: Map<number, CellCounts>,
  key: number,
  metric: 'impressions' | 'accepts' | 'expected' | 'affinityImpressions',
  amount: number,
  bin: number | null,
): void {
  let counts = map.get(key);
  if (counts === undefined) {
    counts = { impressions: 0, accepts: 0, expected: 0, bins: null };
    map.set(key, counts);
  }
  if (metric !== 'affinityImpressions') counts[metric] += amount;
  else if (bin !== null && bin >= AFFINITY_BIN_MIN && bin <= AFFINITY_BIN_MAX) {
    counts.bins ??= new Float64Array(BINS);
    counts.bins[bin - AFFINITY_BIN_MIN]! += amount;
  }
}

/**
 * The affinities of a cell's impressions, as far as its counters tell: each bin's impressions at one
 * affinity, all moved by one odds ratio so that they add up to the cell's `expected` (which corrects
 * the bin's middle for where in it the affinities lie). Impressions counted before the bins were
 * (a deployment within the learning window) sit at the cell's mean affinity. Null without bins.
 */
function affinityMix(
  counts: CellCounts,
  expectedRate: number,
): { affinities: Float64Array; counts: Float64Array } | null {
  const bins = counts.bins;
  if (bins === null || !(counts.expected > 0)) return null;
  // Only the bins the cell's customers fell in (a few of the fourteen): the fits loop over them.
  let used = 0;
  let binned = 0;
  for (let i = 0; i < BINS; i++) {
    if (bins[i]! > 0) used++;
    binned += bins[i]!;
  }
  const affinities = new Float64Array(used + 1);
  const n = new Float64Array(used + 1);
  let j = 0;
  for (let i = 0; i < BINS; i++) {
    if (!(bins[i]! > 0)) continue;
    affinities[j] = BIN_AFFINITIES[i]!;
    n[j++] = bins[i]!;
  }
  affinities[used] = expectedRate;
  n[used] = Math.max(0, counts.impressions - binned);
  const shift = fitRatio(affinities, n, counts.expected);
  for (let i = 0; i <= used; i++) affinities[i] = calibrated(affinities[i]!, shift);
  return { affinities, counts: n };
}

interface Learned {
  readonly prior: BetaParams;
  readonly posterior: BetaParams;
  /** What the ratio is relative to: the predicted rate, or the base propensity without a prediction. */
  readonly expectedRate: number;
  readonly ratio: number;
}

/**
 * The posterior of a cell's accept rate, with a prior centred on what the affinities predicted for
 * the customers it was shown to (exposurePrior: the engine shows offers to those with the highest
 * affinity, so comparing with the average customer would read selection as success), and the odds
 * ratio that moves those customers' affinities to rates adding up to the posterior mean (fitRatio,
 * over the cell's affinity bins; the engine applies one ratio to customers of differing affinities,
 * and the ratio of the mean rates would overstate the high ones). `scale` moves the prior (a
 * segment's prior is the pooled ratio applied to the segment's own affinities); the ratio stays
 * relative to the affinities, which is what the engine scales.
 */
function learn(counts: CellCounts, fallbackRate: number, strength: number, scale = 1): Learned {
  const expectedRate = counts.expected > 0 ? counts.expected / counts.impressions : fallbackRate;
  const mix = affinityMix(counts, expectedRate);
  const prior = exposurePrior(
    mix === null || scale === 1
      ? calibrated(expectedRate, scale) * counts.impressions
      : expectedAccepts(mix.affinities, mix.counts, scale),
    counts.impressions,
    fallbackRate,
    strength,
  );
  const post = posterior(prior, counts.accepts, counts.impressions);
  const rate = posteriorMean(post);
  // The ratio under which the learned rates of the cell's impressions add up to the posterior's
  // accepts; without bins, that of the mean rates (the same where all affinities are alike).
  const ratio =
    mix === null
      ? calibrationRatio(rate, expectedRate)
      : fitRatio(mix.affinities, mix.counts, rate * counts.impressions);
  return { prior, posterior: post, expectedRate, ratio };
}

/** Σ counts · calibrated(affinity, ratio): the accepts a ratio predicts for a mix of affinities. */
function expectedAccepts(affinities: Float64Array, counts: Float64Array, ratio: number): number {
  let sum = 0;
  for (let i = 0; i < affinities.length; i++) sum += counts[i]! * calibrated(affinities[i]!, ratio);
  return sum;
}

function describe(
  offerId: string,
  channel: string,
  segmentId: string | null,
  counts: CellCounts,
  learned: Learned,
): LearnedCell {
  return new DescribedCell(offerId, channel, segmentId, counts, learned);
}

/**
 * A cell as reports see it. The interval takes a few incomplete-beta evaluations per cell, most of a
 * refresh's time if done for every cell; only the endpoint reads it, for the cells it returns.
 */
class DescribedCell implements LearnedCell {
  readonly impressions: number;
  readonly accepts: number;
  readonly expectedRate: number;
  readonly learnedRate: number;
  readonly ratio: number;
  private interval: readonly [number, number] | null = null;
  private readonly posterior: BetaParams;

  constructor(
    readonly offerId: string,
    readonly channel: string,
    readonly segmentId: string | null,
    counts: CellCounts,
    learned: Learned,
  ) {
    this.impressions = counts.impressions;
    this.accepts = counts.accepts;
    // The rate the ratio is measured against: ratio = odds(learnedRate) / odds(expectedRate) where the
    // cell's customers have alike affinities (and for counters without bins); see learn().
    this.expectedRate = learned.expectedRate;
    this.learnedRate = posteriorMean(learned.posterior);
    this.ratio = learned.ratio;
    this.posterior = learned.posterior;
  }

  get ci95(): readonly [number, number] {
    this.interval ??= credibleInterval95(this.posterior);
    return this.interval;
  }
}

function staticPropensities(snapshot: RulesetSnapshot, upper: Float64Array): Float64Array {
  const out = new Float64Array(upper.length);
  for (const offer of snapshot.offers) {
    for (let ch = 0; ch < CH; ch++) {
      const cell = cellOf(offer, ch);
      out[cell] = calibrated(offer.basePropensity, upper[cell]!);
    }
  }
  return out;
}

/** A channel's candidate lists with the customer-independent order recomputed from learned ratios. */
function reorder(index: ChannelIndex, propensity: Float64Array, ch: number): ChannelIndex {
  const sorted = (list: CandidateList): CandidateList => {
    const key = (o: CompiledOffer) => propensity[cellOf(o, ch)]! * o.worth;
    const byStaticScore = [...list.byStaticScore].sort((a, b) => key(b) - key(a) || a.ordinal - b.ordinal);
    return { byStaticScore, byProduct: list.byProduct, byExpression: list.byExpression };
  };
  const byPlacement = new Map<string, CandidateList>();
  for (const [name, list] of index.byPlacement) byPlacement.set(name, sorted(list));
  return { all: sorted(index.all), byPlacement, unlisted: sorted(index.unlisted) };
}
