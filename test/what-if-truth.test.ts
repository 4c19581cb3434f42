import { beforeAll, describe, expect, it } from 'vitest';
import { NO_USAGE } from '../src/domain/contact.js';
import { Rng } from '../src/domain/random.js';
import { decide } from '../src/engine/decide.js';
import { LogCounters } from '../src/evaluation/policy-evaluation.js';
import { proportion } from '../src/evaluation/uplift.js';
import { inSample, sampleShare, whatIf } from '../src/evaluation/what-if.js';
import { simulate, simulatedWorld } from '../src/sim/simulation.js';

// The what-if's expected accepts against what the simulator measures (issue 20 item 5, done-when).
//
// The simulator runs its closed loop on the web channel until learning has propensities; the
// learned model is rebuilt from its log (LogCounters: what the server would have learned). The
// what-if of the live ruleset then runs over a sample of the same population at the time the
// simulation ended. The simulator measures the same contacts: each sampled customer is decided
// as the what-if decides them, and accepts are drawn from the world's true accept probabilities.
// The what-if's expected accepts must lie in the Wilson 95% interval of the measured accepts
// (rate interval × contacts). No clock: the simulation's own time, and seeded draws.

const SEED = 'what-if-truth';
const CUSTOMERS = 5000;
const INTERACTIONS = 60_000;
const VOLUME = 4000;

interface Measured {
  /** Σ of the learned propensities of the offers shown: the what-if's expected accepts. */
  readonly expected: number;
  /** Accepts drawn from the world's truth for the same contacts. */
  readonly accepts: number;
  /** Σ of the true accept probabilities of the offers shown. */
  readonly truth: number;
  readonly contacts: number;
  readonly shown: number;
  readonly whatIfShown: number;
}

/** The simulation, then the what-if and the simulator's measurement of the same contacts. */
async function measure(): Promise<Measured> {
  const counters = new LogCounters();
  let end = 0;
  const sim = await simulate({
    customers: CUSTOMERS,
    interactions: INTERACTIONS,
    seed: SEED,
    channels: ['web'],
    onLog: (entry) => {
      counters.add(entry);
      if (entry.kind === 'decision') end = Math.max(end, entry.decision.at);
    },
  });
  expect(sim.acceptRate.learning).toBeGreaterThan(0);

  const world = simulatedWorld({ customers: CUSTOMERS, seed: SEED });
  const learned = counters.model(world.snapshot);
  const share = sampleShare(VOLUME, CUSTOMERS);
  const sampled = world.profiles.map((p, c) => ({ p, c })).filter(({ p }) => inSample(p.id, share));
  const report = whatIf(
    sampled.map(({ p }) => p),
    {
      live: { name: 'live', snapshot: world.snapshot, learned },
      candidate: null,
      channel: 'web',
      limit: 1,
      now: end,
      usage: NO_USAGE,
    },
  );

  const draws = new Rng(SEED, 'what-if-truth');
  let accepts = 0;
  let truth = 0;
  let shown = 0;
  for (const { p, c } of sampled) {
    const d = decide({
      snapshot: world.snapshot,
      profile: p,
      history: [],
      usage: NO_USAGE,
      request: { channel: 'web', placement: null, limit: 1, context: {}, explain: false },
      now: end,
      learned,
    });
    const offer = d.offers[0]?.offer;
    if (offer === undefined) continue;
    shown++;
    const probability = world.acceptProbability(c, offer, 'web');
    truth += probability;
    if (draws.next() < probability) accepts++;
  }
  return {
    expected: report.live.totals.expectedAccepts,
    accepts,
    truth,
    contacts: sampled.length,
    shown,
    whatIfShown: report.live.totals.offersShown,
  };
}

describe('what-if against the simulator', () => {
  let m: Measured;
  beforeAll(async () => {
    m = await measure();
  }, 120_000);

  it('decides the contacts the simulator measures', () => {
    expect(Math.abs(m.contacts - VOLUME)).toBeLessThan(150);
    expect(m.whatIfShown).toBe(m.shown);
    // The draws agree with the truth they are drawn from (the measurement itself is sound).
    const [low, high] = proportion(m.accepts, m.contacts).ci95!;
    expect(m.truth).toBeGreaterThanOrEqual(low * m.contacts);
    expect(m.truth).toBeLessThanOrEqual(high * m.contacts);
  });

  // KNOWN GAP (issue 20 item 5, done-when): the learned propensities of the offers the engine
  // chooses overstate their true accept rate: about 966 expected against 843 measured (interval
  // 794-895) at 60,000 interactions, and the same at 200,000, with exploration 0.05 or 0.2: a bias,
  // not noise. It grows with the customer's affinity (chosen offers by prior: 0.1 → learned 0.074,
  // true 0.071; 0.5 → 0.317 against 0.270; 0.7 → 0.480 against 0.403). The cause is learning's
  // calibration (learning/response-rate.ts calibrationRatio): one odds ratio per cell, the odds of
  // the mean accept rate over the odds of the mean affinity. For affinities that differ from one
  // customer to the next, that ratio is not the one that moves each customer's odds (the world's,
  // and the engine's, model): e.g. affinities 0.1 and 0.9 at a true ratio 0.22 give rates 0.024
  // and 0.664, a ratio of means 0.52, and learned rates 0.055 and 0.825, too high for both. The
  // what-if sums what the engine believes, so it inherits the bias. Checked: fitting each offer's
  // ratio instead so that Σ calibrated(affinity_i, r) over its logged impressions equals its
  // accepts gives 844 expected for the same contacts (true 854, measured 843): inside the interval.
  // Learning would need more than Σ affinity per cell to do that (e.g. impressions per affinity
  // bin). `.fails` pins the gap: when
  // the ratio is fitted so that the learned rates add up to the accepts, this starts passing, and
  // `.fails` must go.
  it("the live ruleset's expected accepts lie within the 95% interval of the measured accepts", () => {
    const [low, high] = proportion(m.accepts, m.contacts).ci95!;
    expect(m.expected).toBeGreaterThanOrEqual(low * m.contacts);
    expect(m.expected).toBeLessThanOrEqual(high * m.contacts);
  });
});
