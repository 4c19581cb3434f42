/**
 * Off-policy estimators: the expected reward per decision that a candidate policy π would have had,
 * estimated from decisions logged under another policy μ (the one that ran), without deploying π.
 * They work because every shown offer is logged with the probability μ(a|x) with which it was
 * chosen; each sample is re-weighted by w = π(a|x) / μ(a|x).
 *
 * Intervals are CLT intervals: fine for the tens of thousands of decisions a report covers,
 * optimistic for a few hundred or when a few samples carry most of the weight (watch
 * `effectiveSampleSize`).
 */

import { type Interval, Z95 } from './uplift.js';

export interface LoggedSample {
  /** μ(a|x): the probability with which the logging policy showed the offer that was shown, in (0, 1]. */
  readonly propensity: number;
  /** The observed reward, e.g. 1 if accepted, else 0. */
  readonly reward: number;
  /** π(a|x): the probability with which the candidate policy would show the same offer, in [0, 1]. */
  readonly targetProbability: number;
  /** r̂(x, a): the reward model's estimate of the reward of the logged action (doubly robust only). */
  readonly predictedReward?: number;
  /** r̂_π(x) = Σ_a π(a|x) r̂(x, a): the model's value of the candidate policy here (doubly robust only). */
  readonly targetExpectedReward?: number;
}

export interface OffPolicyEstimate {
  /** The candidate policy's estimated expected reward per decision. */
  readonly estimate: number;
  /**
   * CLT interval (95 % with the default z). With a single sample the spread is unknown and the
   * interval is (−∞, ∞).
   */
  readonly ci95: Interval;
  readonly n: number;
  /**
   * Kish's effective sample size of the importance weights, (Σw)² / Σw²: how many equally weighted
   * samples the estimate is worth. Far below n means π strays from what μ tried, and the interval
   * is less trustworthy. 0 when π gives no weight to any logged action.
   */
  readonly effectiveSampleSize: number;
}

function checkZ(z: number): void {
  if (!(Number.isFinite(z) && z > 0)) throw new RangeError(`z must be a positive number, got ${z}`);
}

/** Validates the samples and returns the importance weights w_i = π(a_i|x_i) / μ(a_i|x_i). */
function importanceWeights(samples: readonly LoggedSample[], estimator: string): Float64Array {
  if (samples.length === 0) throw new RangeError(`${estimator}: no logged samples`);
  const weights = new Float64Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const { propensity, targetProbability, reward } = samples[i]!;
    // A propensity of 0 means the logged action could not have been shown: the log is corrupt,
    // and a weight of π/0 would swamp every other sample.
    if (!(propensity > 0 && propensity <= 1)) {
      throw new RangeError(`${estimator}: sample ${i} has propensity ${propensity}, outside (0, 1]`);
    }
    if (!(targetProbability >= 0 && targetProbability <= 1)) {
      throw new RangeError(
        `${estimator}: sample ${i} has targetProbability ${targetProbability}, outside [0, 1]`,
      );
    }
    if (!Number.isFinite(reward)) throw new RangeError(`${estimator}: sample ${i} has reward ${reward}`);
    weights[i] = targetProbability / propensity;
  }
  return weights;
}

function effectiveSampleSize(weights: Float64Array): number {
  let sum = 0;
  let sumSquares = 0;
  for (const w of weights) {
    sum += w;
    sumSquares += w * w;
  }
  return sumSquares > 0 ? (sum * sum) / sumSquares : 0;
}

/** The mean of per-sample terms with the interval mean ± z·s/√n (s: sample standard deviation). */
function meanWithInterval(terms: Float64Array, z: number): { estimate: number; ci95: Interval } {
  const n = terms.length;
  let sum = 0;
  for (const t of terms) sum += t;
  const mean = sum / n;
  if (n < 2) return { estimate: mean, ci95: [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY] };
  let squares = 0;
  for (const t of terms) squares += (t - mean) * (t - mean);
  const half = z * Math.sqrt(squares / (n - 1) / n);
  return { estimate: mean, ci95: [mean - half, mean + half] };
}

/**
 * Inverse propensity scoring: V̂ = (1/n) Σ w_i r_i. Unbiased whenever μ(a|x) > 0 wherever
 * π(a|x) > 0, but its variance grows with the weights.
 */
export function ips(samples: readonly LoggedSample[], z = Z95): OffPolicyEstimate {
  checkZ(z);
  const weights = importanceWeights(samples, 'ips');
  const terms = new Float64Array(samples.length);
  for (let i = 0; i < samples.length; i++) terms[i] = weights[i]! * samples[i]!.reward;
  return {
    ...meanWithInterval(terms, z),
    n: samples.length,
    effectiveSampleSize: effectiveSampleSize(weights),
  };
}

/**
 * Self-normalised IPS: V̂ = Σ w_i r_i / Σ w_i. Slightly biased (O(1/n)) but bounded by the rewards'
 * range and usually less variable than IPS. Its variance is the delta-method (ratio estimator) one:
 *   Var(V̂) ≈ Σ w_i² (r_i − V̂)² / (Σ w_i)² · n/(n−1).
 * Throws when π gives no weight to any logged action: there is no overlap to estimate from.
 */
export function snips(samples: readonly LoggedSample[], z = Z95): OffPolicyEstimate {
  checkZ(z);
  const weights = importanceWeights(samples, 'snips');
  const n = samples.length;
  let weightSum = 0;
  let weightedRewards = 0;
  for (let i = 0; i < n; i++) {
    weightSum += weights[i]!;
    weightedRewards += weights[i]! * samples[i]!.reward;
  }
  if (!(weightSum > 0)) {
    throw new RangeError('snips: the candidate policy gives probability 0 to every logged action');
  }
  const estimate = weightedRewards / weightSum;
  const ess = effectiveSampleSize(weights);
  if (n < 2) {
    return {
      estimate,
      ci95: [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
      n,
      effectiveSampleSize: ess,
    };
  }
  let residuals = 0;
  for (let i = 0; i < n; i++) {
    const r = weights[i]! * (samples[i]!.reward - estimate);
    residuals += r * r;
  }
  const half = z * Math.sqrt(((residuals / (weightSum * weightSum)) * n) / (n - 1));
  return { estimate, ci95: [estimate - half, estimate + half], n, effectiveSampleSize: ess };
}

/**
 * Doubly robust: V̂ = (1/n) Σ [ r̂_π(x_i) + w_i (r_i − r̂(x_i, a_i)) ]. The reward model gives the
 * baseline and the weighted residual corrects its bias: unbiased if either the propensities or the
 * model are right, and narrower than IPS when the model is decent, since only the residual is
 * weighted. Every sample needs `predictedReward` and `targetExpectedReward`; a missing one throws
 * rather than silently falling back to IPS.
 */
export function doublyRobust(samples: readonly LoggedSample[], z = Z95): OffPolicyEstimate {
  checkZ(z);
  const weights = importanceWeights(samples, 'doublyRobust');
  const terms = new Float64Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const { reward, predictedReward, targetExpectedReward } = samples[i]!;
    if (predictedReward === undefined || !Number.isFinite(predictedReward)) {
      throw new RangeError(
        `doublyRobust: sample ${i} needs a finite predictedReward, got ${predictedReward}`,
      );
    }
    if (targetExpectedReward === undefined || !Number.isFinite(targetExpectedReward)) {
      throw new RangeError(
        `doublyRobust: sample ${i} needs a finite targetExpectedReward, got ${targetExpectedReward}`,
      );
    }
    terms[i] = targetExpectedReward + weights[i]! * (reward - predictedReward);
  }
  return {
    ...meanWithInterval(terms, z),
    n: samples.length,
    effectiveSampleSize: effectiveSampleSize(weights),
  };
}
