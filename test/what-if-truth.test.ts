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

  // Issue 20 item 5, done-when. Until learning fitted its ratios to the affinity bins, this failed:
  // about 966 expected against 843 measured (interval 794-895), a bias growing with the customer's
  // affinity (0.5 → learned 0.317 against true 0.270). One odds ratio per cell computed from the mean
  // rates (odds of the mean accept rate over odds of the mean affinity) is not the ratio that moves
  // each customer's odds when affinities differ (calibrated() is not linear): the learned rates of
  // the shown customers did not add up to the accepts. Learning now solves for the ratio under
  // which they do, over impressions counted per affinity bin (learned-model.ts learn, response-rate.ts
  // fitRatio): about 862 expected, true 866, measured 824 (interval about 775-875). The interval is
  // the measurement's own; the truth check below guards the bias more tightly than the interval can.
  it("the live ruleset's expected accepts lie within the 95% interval of the measured accepts", () => {
    const [low, high] = proportion(m.accepts, m.contacts).ci95!;
    expect(m.expected).toBeGreaterThanOrEqual(low * m.contacts);
    expect(m.expected).toBeLessThanOrEqual(high * m.contacts);
  });

  it('the expected accepts are the true expected accepts within 5% (no bias from calibration)', () => {
    // The old calibration was 13% over (966 against 854); the fit is within 1%.
    expect(Math.abs(m.expected - m.truth) / m.truth).toBeLessThan(0.05);
  });
});
