import type { AffinityTable } from '../domain/affinity-table.js';
import { cellOf, type LearnedModel } from '../learning/learned-model.js';
import { calibrated } from '../learning/response-rate.js';
import type { CandidateList, CompiledOffer, EvalContext } from '../ruleset/snapshot.js';

/**
 * The offers for the products a customer has an affinity for, scored for that customer, handed
 * out best first. Selection is lazy (one scan per pop) because a decision usually takes only the
 * first few. The buffers are reused by every decision: decide() is synchronous and never
 * re-entered, so one queue per process is enough and a decision allocates nothing here.
 */
export class AffinityQueue {
  private offers: (CompiledOffer | null)[] = [];
  private scores = new Float64Array(64);
  private propensities = new Float64Array(64);
  private priors = new Float64Array(64);
  /** 0: scored with the cell's upper-bound ratio, to be rescored for the customer's segment. */
  private exacts = new Uint8Array(64);
  private size = 0;
  private bestIndex = -1;
  /** stamps[ordinal] === epoch: the offer was queued in this fill (an array read, not a Map lookup). */
  private stamps = new Int32Array(1024);
  private epoch = 0;

  fill(
    candidates: CandidateList,
    affinities: AffinityTable,
    fit: number,
    cost: number,
    model: LearnedModel,
    ch: number,
    scope: EvalContext,
  ): void {
    this.size = 0;
    this.bestIndex = -1;
    if (++this.epoch === 0x7fffffff) {
      this.stamps.fill(0);
      this.epoch = 1;
    }
    const { indexes, scores } = affinities;
    const byProduct = candidates.byProduct;
    for (let a = 0; a < indexes.length; a++) {
      const offers = byProduct[indexes[a]!];
      const affinity = scores[a]!;
      if (offers === undefined) continue;
      for (const offer of offers) {
        if (offer.propensity !== null) continue; // scored by its own expression, below
        const cell = cellOf(offer, ch);
        const propensity = calibrated(affinity, model.upper[cell]!);
        const exact = model.bySegment[cell] == null;
        this.push(offer, affinity, propensity, propensity * offer.worth * fit - cost, exact);
      }
    }
    for (const offer of candidates.byExpression) {
      const prior = expressionPropensity(offer, scope);
      const cell = cellOf(offer, ch);
      const propensity = calibrated(prior, model.upper[cell]!);
      this.push(
        offer,
        prior,
        propensity,
        propensity * offer.worth * fit - cost,
        model.bySegment[cell] == null,
      );
    }
  }

  /** True when fill() queued this offer: its product is one the customer has an affinity for. */
  queued(offer: CompiledOffer): boolean {
    return offer.ordinal < this.stamps.length && this.stamps[offer.ordinal] === this.epoch;
  }

  /** Index of the best remaining offer (ties: catalog order), or -1 when empty. */
  best(): number {
    if (this.bestIndex >= 0 || this.size === 0) return this.bestIndex;
    let best = 0;
    for (let i = 1; i < this.size; i++) {
      const d = this.scores[i]! - this.scores[best]!;
      if (d > 0 || (d === 0 && this.offers[i]!.ordinal < this.offers[best]!.ordinal)) best = i;
    }
    this.bestIndex = best;
    return best;
  }

  offer(i: number): CompiledOffer {
    return this.offers[i]!;
  }
  score(i: number): number {
    return this.scores[i]!;
  }
  propensity(i: number): number {
    return this.propensities[i]!;
  }
  prior(i: number): number {
    return this.priors[i]!;
  }
  exact(i: number): boolean {
    return this.exacts[i] === 1;
  }

  /** Removes entry i (order is not kept: the last entry moves into its place). */
  remove(i: number): void {
    const last = --this.size;
    this.offers[i] = this.offers[last]!;
    this.scores[i] = this.scores[last]!;
    this.propensities[i] = this.propensities[last]!;
    this.priors[i] = this.priors[last]!;
    this.exacts[i] = this.exacts[last]!;
    this.offers[last] = null;
    this.bestIndex = -1;
  }

  /** Queues an offer; also how the engine puts back an offer rescored for the customer's segment. */
  push(offer: CompiledOffer, prior: number, propensity: number, score: number, exact: boolean): void {
    if (this.size === this.scores.length) {
      this.scores = grown(this.scores);
      this.propensities = grown(this.propensities);
      this.priors = grown(this.priors);
      const exacts = new Uint8Array(this.size * 2);
      exacts.set(this.exacts);
      this.exacts = exacts;
    }
    if (offer.ordinal >= this.stamps.length) {
      const stamps = new Int32Array(Math.max(offer.ordinal + 1, this.stamps.length * 2));
      stamps.set(this.stamps);
      this.stamps = stamps;
    }
    this.stamps[offer.ordinal] = this.epoch;
    this.offers[this.size] = offer;
    this.scores[this.size] = score;
    this.propensities[this.size] = propensity;
    this.priors[this.size] = prior;
    this.exacts[this.size] = exact ? 1 : 0;
    this.bestIndex = -1;
    this.size++;
  }
}

/** An offer's propensity expression for this customer, in [0, 1]; 0 when it is not a number. */
export function expressionPropensity(offer: CompiledOffer, scope: EvalContext): number {
  const value = offer.propensity!(scope);
  return typeof value !== 'number' || !(value > 0) ? 0 : value > 1 ? 1 : value;
}

function grown(array: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const out = new Float64Array(array.length * 2);
  out.set(array);
  return out;
}
