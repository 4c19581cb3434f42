import { describe, expect, it } from 'vitest';
import { type ArmMetric, armCounterField } from '../feedback/feedback-effects.js';
import type { Arm } from '../feedback/feedback-event.js';
import { challengerReport } from './challenger-report.js';
import { uplift } from './uplift.js';

const DAY = 20_400;

/** A day's counters from `arm campaign metric amount` lines. */
function day(lines: readonly [Arm, string, ArmMetric, number][]): Map<string, number> {
  const out = new Map<string, number>();
  for (const [arm, campaign, metric, amount] of lines) {
    const field = armCounterField(arm, campaign, 'web', metric);
    out.set(field, (out.get(field) ?? 0) + amount);
  }
  return out;
}

describe('challenger report', () => {
  const counters = new Map([
    [
      DAY,
      day([
        ['champion', 'cards', 'customers', 700],
        ['champion', 'cards', 'impressions', 1000],
        ['champion', 'cards', 'accepts', 100],
        ['champion', 'cards', 'customerConversions', 35],
        ['champion', 'cards', 'customerRevenue', 3500],
        ['challenger', 'cards', 'customers', 300],
        ['challenger', 'cards', 'impressions', 400],
        ['challenger', 'cards', 'accepts', 60],
        ['challenger', 'cards', 'customerConversions', 30],
        ['challenger', 'cards', 'customerRevenue', 2400],
      ]),
    ],
    [
      DAY + 1,
      day([
        ['champion', 'loans', 'customers', 100],
        ['champion', 'loans', 'impressions', 100],
        ['challenger', 'loans', 'customers', 50],
        ['challenger', 'loans', 'impressions', 50],
        ['challenger', 'loans', 'accepts', 5],
      ]),
    ],
    // Outside the range: not counted.
    [DAY + 5, day([['challenger', 'cards', 'customers', 1_000_000]])],
  ]);
  const report = challengerReport({ counters, range: { from: DAY, to: DAY + 1 } });

  it('sums each arm over the range, per customer', () => {
    expect(report.champion).toMatchObject({
      customers: 800,
      impressions: 1100,
      accepts: 100,
      conversions: 35,
    });
    expect(report.challenger).toMatchObject({
      customers: 350,
      impressions: 450,
      accepts: 65,
      conversions: 30,
    });
    expect(report.champion.conversionRate).toBeCloseTo(35 / 800, 12);
    expect(report.challenger.revenuePerCustomer).toBeCloseTo(2400 / 350, 12);
    expect(report.challenger.acceptRate).toBeCloseTo(65 / 450, 12);
    expect(report.from).toBe('2025-11-08');
  });

  it("gives the challenger's difference with Newcombe's interval, as uplift() does", () => {
    const expected = uplift({ successes: 30, trials: 350 }, { successes: 35, trials: 800 });
    expect(report.conversionRate.difference).toBeCloseTo(expected.uplift!, 12);
    expect(report.conversionRate.ci95).toEqual(expected.ci95);
    const [low, high] = report.acceptRate.ci95!;
    expect(low).toBeLessThan(report.acceptRate.difference!);
    expect(high).toBeGreaterThan(report.acceptRate.difference!);
    expect(report.revenuePerCustomer.difference).toBeCloseTo(2400 / 350 - 3500 / 800, 12);
  });

  it('compares per campaign too, by id', () => {
    expect(report.campaigns.map((c) => c.campaignId)).toEqual(['cards', 'loans']);
    const loans = report.campaigns[1]!;
    expect(loans.champion.acceptRate).toBe(0);
    expect(loans.challenger.acceptRate).toBeCloseTo(0.1, 12);
    expect(loans.champion.revenuePerCustomer).toBe(0);
  });

  it('says "no data" as null, never NaN, and leaves out what is not an arm counter', () => {
    const empty = challengerReport({
      counters: new Map([[DAY, new Map([['gold-card|web|-|accepts', 5]])]]),
      range: { from: DAY, to: DAY },
    });
    expect(empty.campaigns).toEqual([]);
    expect(empty.champion.conversionRate).toBeNull();
    expect(empty.conversionRate).toEqual({ difference: null, ci95: null });
    expect(empty.revenuePerCustomer).toEqual({ difference: null, ci95: null });
  });

  it('counts a customer who converted twice once in the rate', () => {
    const twice = challengerReport({
      counters: new Map([
        [
          DAY,
          day([
            ['challenger', 'cards', 'customers', 2],
            ['challenger', 'cards', 'customerConversions', 3],
          ]),
        ],
      ]),
      range: { from: DAY, to: DAY },
    });
    expect(twice.challenger.conversions).toBe(3);
    expect(twice.challenger.conversionRate).toBe(1);
  });
});
