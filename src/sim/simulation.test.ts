import { describe, expect, it } from 'vitest';
import type { LogEntry } from '../feedback/feedback-event.js';
import { type SimulationResult, simulate } from './simulation.js';

describe('simulate: the loop learns', () => {
  let result: SimulationResult;

  it('over 200,000 interactions learning reaches 90% of the oracle in the last quarter and clearly beats the static policy', async () => {
    result = await simulate({ customers: 10_000, interactions: 200_000, seed: 'issue-6' });
    const q = result.lastQuarterAcceptRate;
    expect(q.learning / q.oracle).toBeGreaterThanOrEqual(0.9);
    expect(q.learning / q.static).toBeGreaterThan(1.08);
    // The reference policies are in their expected order, or the comparison means nothing.
    expect(q.oracle).toBeGreaterThan(q.static);
    expect(q.static).toBeGreaterThan(q.random * 1.5);
    // It learned: the last tenth is better than the first, while the static policy stays put.
    const first = result.overTime[0]!;
    const last = result.overTime[9]!;
    expect(last.learning - first.learning).toBeGreaterThan(last.static - first.static);
  }, 120_000);

  it('reports every campaign, with intervals around the measured uplift', () => {
    expect(result.uplift).toHaveLength(8);
    for (const u of result.uplift) {
      expect(u.treated).toBeGreaterThan(0);
      expect(u.control).toBeGreaterThan(0);
      expect(u.ci95![0]).toBeLessThanOrEqual(u.measured!);
      expect(u.ci95![1]).toBeGreaterThanOrEqual(u.measured!);
      expect(u.truth).toBeGreaterThan(0);
      // Purchases are outcome events, credited by customer: control customers convert too.
      expect(u.treatedConversions).toBeGreaterThan(0);
    }
    expect(result.uplift.some((u) => u.controlConversions > 0)).toBe(true);
  });
});

describe('simulate: uplift intervals', () => {
  it('the 95% intervals of the per-customer uplift contain the true uplift in at least 90 of 100 campaigns', async () => {
    const outcomes: boolean[] = [];
    // Ten independent worlds (seeds) of ten campaigns each: 100 campaigns in all.
    for (let seed = 1; seed <= 10; seed++) {
      const r = await simulate({
        customers: 4000,
        interactions: 30_000,
        seed: `uplift-${seed}`,
        campaigns: 10,
        offers: 50,
        controlShare: 0.2,
      });
      for (const u of r.uplift)
        outcomes.push(u.ci95 !== null && u.ci95[0] <= u.truth! && u.truth! <= u.ci95[1]);
    }
    expect(outcomes).toHaveLength(100);
    expect(outcomes.filter(Boolean).length).toBeGreaterThanOrEqual(90);
  }, 120_000);
});

describe('simulate: the decision log', () => {
  it('logs every decision with exact probabilities, and the feedback that was attributed to it', async () => {
    const entries: LogEntry[] = [];
    const r = await simulate({
      customers: 500,
      interactions: 2000,
      seed: 'log',
      onLog: (e) => entries.push(e),
    });
    const decisions = entries.filter((e) => e.kind === 'decision');
    expect(decisions).toHaveLength(r.interactions);
    const accepts = entries.filter((e) => e.kind === 'feedback' && e.event.type === 'accept').length;
    expect(accepts / r.interactions).toBeCloseTo(r.acceptRate.learning, 10);
    // Purchases are outcome events, without a decision; no convert goes through a decision.
    expect(entries.some((e) => e.kind === 'outcome' && e.event.type === 'purchase')).toBe(true);
    expect(entries.some((e) => e.kind === 'feedback' && e.event.type === 'convert')).toBe(false);
    for (const e of decisions) {
      for (const o of e.decision.offers) {
        expect(o.probability).toBeGreaterThan(0);
        expect(o.probability).toBeLessThanOrEqual(1);
        expect(o.prior).toBeGreaterThan(0);
      }
      expect(e.decision.limit).toBe(1);
    }
    // With exploration 0.05 about one decision in twenty explores.
    const explored = decisions.filter((e) => e.decision.explored).length;
    expect(explored).toBeGreaterThan(50);
    expect(explored).toBeLessThan(160);
  });

  it('is deterministic: the same seed gives the same run', async () => {
    const a = await simulate({ customers: 300, interactions: 1500, seed: 7 });
    const b = await simulate({ customers: 300, interactions: 1500, seed: 7 });
    expect(a).toEqual(b);
  });
});
