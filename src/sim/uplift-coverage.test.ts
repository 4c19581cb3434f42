import { describe, expect, it } from 'vitest';
import { type CampaignUplift, simulate, type Touched } from './simulation.js';

/**
 * The per-customer uplift against a known truth: worlds where the chance that a touch (an offer
 * shown, or held out by a control group) is followed by a purchase of its product is set by hand,
 * played through the simulator, hence the real engine, the real feedback log and customer loop
 * (purchases as outcome events, credited by customer, treated and control alike) and the real
 * campaign report. Its 95% intervals must hold the truth in about 95% of campaigns.
 */
const SEEDS = 4;
const CAMPAIGNS = 12;

async function campaignRuns(purchaseRate: (touch: Touched) => number): Promise<CampaignUplift[]> {
  const runs: CampaignUplift[] = [];
  for (let seed = 1; seed <= SEEDS; seed++) {
    const result = await simulate({
      customers: 1200,
      interactions: 5000,
      seed: `coverage-${seed}`,
      campaigns: CAMPAIGNS,
      offers: 48,
      controlShare: 0.5,
      purchaseRate,
    });
    // A campaign whose offers no customer met (a narrow segment) has nothing to measure.
    runs.push(...result.uplift.filter((u) => u.ci95 !== null));
  }
  return runs;
}

const covers = (u: CampaignUplift) => u.ci95![0] <= u.truth! && u.truth! <= u.ci95![1];
const excludesZero = (u: CampaignUplift) => u.ci95![0] > 0 || u.ci95![1] < 0;
const share = (runs: readonly CampaignUplift[], test: (u: CampaignUplift) => boolean) =>
  runs.filter(test).length / runs.length;

describe('per-customer uplift: coverage of the truth', () => {
  it('no effect (30% buy what they were offered, shown or not): the intervals hold 0 in about 95% of campaigns', async () => {
    const runs = await campaignRuns(() => 0.3);
    expect(runs.length).toBeGreaterThanOrEqual(40);
    for (const u of runs) expect(u.truth).toBe(0);
    // Control customers convert through the same crediting as treated ones.
    for (const u of runs) expect(u.controlConversions).toBeGreaterThan(0);
    expect(share(runs, covers)).toBeGreaterThanOrEqual(0.85);
    expect(share(runs, excludesZero)).toBeLessThanOrEqual(0.15);
  }, 120_000);

  it('the offer doubles the rate (40% shown, 20% held out): the intervals hold the truth in about 95% and mostly exclude 0', async () => {
    const runs = await campaignRuns((touch) => (touch.shown ? 0.4 : 0.2));
    expect(runs.length).toBeGreaterThanOrEqual(40);
    for (const u of runs) {
      // About the uplift of one touch (0.2): an episode of a few touches gains a little more.
      expect(u.truth).toBeGreaterThan(0.15);
      expect(u.controlConversions).toBeGreaterThan(0);
    }
    expect(share(runs, covers)).toBeGreaterThanOrEqual(0.85);
    expect(share(runs, excludesZero)).toBeGreaterThanOrEqual(0.7);
  }, 120_000);
});
