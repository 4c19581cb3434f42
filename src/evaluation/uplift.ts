/**
 * Uplift statistics for campaign reports: a response rate with its Wilson score interval, and the
 * difference between the treated group and the control group with Newcombe's hybrid score interval
 * (Newcombe 1998, "Interval estimation for the difference between independent proportions:
 * comparison of eleven methods", Stat Med 17:873-890, method 10).
 *
 * Pure arithmetic on counts: the report code does the counting.
 */

/** Φ⁻¹(0.975): the standard normal quantile of a two-sided 95% interval. */
export const Z95 = 1.959964;

/** A closed interval [low, high]. */
export type Interval = [low: number, high: number];

export interface Counts {
  readonly successes: number;
  readonly trials: number;
}

export interface Proportion {
  readonly successes: number;
  readonly trials: number;
  /** successes / trials; null when there were no trials. */
  readonly rate: number | null;
  /** Wilson score interval (95% with the default z); null when there were no trials. */
  readonly ci95: Interval | null;
}

export interface Uplift {
  readonly treatedRate: number | null;
  readonly controlRate: number | null;
  /** treatedRate − controlRate; null when either group had no trials. */
  readonly uplift: number | null;
  /** Newcombe's hybrid score interval for the uplift; null when either group had no trials. */
  readonly ci95: Interval | null;
  /** uplift / controlRate; null when the control rate is null or 0 (no finite ratio). */
  readonly relative: number | null;
}

function checkZ(z: number): void {
  if (!(Number.isFinite(z) && z > 0)) throw new RangeError(`z must be a positive number, got ${z}`);
}

// Counts need not be integers (a report may weight events), but must be a possible outcome.
function checkCounts(successes: number, trials: number, label: string): void {
  if (!(Number.isFinite(trials) && trials >= 0)) {
    throw new RangeError(`${label}: trials must be a non-negative number, got ${trials}`);
  }
  if (!(Number.isFinite(successes) && successes >= 0 && successes <= trials)) {
    throw new RangeError(`${label}: successes must be in [0, trials = ${trials}], got ${successes}`);
  }
}

/**
 * The Wilson score interval of successes/trials (trials > 0):
 *   centre = (p + z²/2n) / (1 + z²/n),  half-width = z/(1 + z²/n) · √(p(1−p)/n + z²/4n²).
 * Unlike the Wald interval p ± z√(p(1−p)/n) it never leaves [0, 1] and does not collapse to a
 * point at 0 or n successes. The ends are pinned to exactly 0 and 1 there, where the formula
 * gives them only up to rounding (0/29 computes a lower end of about −1e-18).
 */
function wilson(successes: number, trials: number, z: number): Interval {
  const p = successes / trials;
  const z2 = z * z;
  const denominator = 1 + z2 / trials;
  const centre = (p + z2 / (2 * trials)) / denominator;
  const half = (z / denominator) * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  const low = successes === 0 ? 0 : Math.max(0, centre - half);
  const high = successes === trials ? 1 : Math.min(1, centre + half);
  return [low, high];
}

/**
 * A rate with its Wilson score interval. No trials give a null rate and a null interval rather
 * than [0, 1] or NaN: "no data" must stay distinguishable from "a wide interval" in a report.
 * Guarded by uplift.test.ts "proportion: zero trials".
 */
export function proportion(successes: number, trials: number, z = Z95): Proportion {
  checkZ(z);
  checkCounts(successes, trials, 'proportion');
  if (trials === 0) return { successes, trials, rate: null, ci95: null };
  return { successes, trials, rate: successes / trials, ci95: wilson(successes, trials, z) };
}

/**
 * The uplift of the treated group over the control group, p₁ − p₂, with Newcombe's hybrid score
 * interval built from the two Wilson intervals [l₁, u₁] and [l₂, u₂]:
 *   low  = (p₁ − p₂) − √((p₁ − l₁)² + (u₂ − p₂)²)
 *   high = (p₁ − p₂) + √((u₁ − p₁)² + (p₂ − l₂)²)
 * Chosen over the Wald interval because control groups are small (5-20 % of a campaign) and accept
 * rates low, where Wald undercovers; the hybrid keeps coverage near 95 %.
 * Guarded by uplift.test.ts "coverage".
 *
 * If either group has no trials the uplift, its interval and the relative uplift are null (the
 * rates are reported as far as they exist).
 */
export function uplift(treated: Counts, control: Counts, z = Z95): Uplift {
  checkZ(z);
  checkCounts(treated.successes, treated.trials, 'uplift treated');
  checkCounts(control.successes, control.trials, 'uplift control');
  const treatedRate = treated.trials > 0 ? treated.successes / treated.trials : null;
  const controlRate = control.trials > 0 ? control.successes / control.trials : null;
  if (treatedRate === null || controlRate === null) {
    return { treatedRate, controlRate, uplift: null, ci95: null, relative: null };
  }
  const [l1, u1] = wilson(treated.successes, treated.trials, z);
  const [l2, u2] = wilson(control.successes, control.trials, z);
  const difference = treatedRate - controlRate;
  const low = difference - Math.hypot(treatedRate - l1, u2 - controlRate);
  const high = difference + Math.hypot(u1 - treatedRate, controlRate - l2);
  return {
    treatedRate,
    controlRate,
    uplift: difference,
    ci95: [low, high],
    relative: controlRate > 0 ? difference / controlRate : null,
  };
}
