import { describe, expect, it } from 'vitest';
import { counterField, dayOf } from '../feedback/feedback-effects.js';
import type { DayCounters } from '../feedback/stats-reader.js';
import { buildRuleset } from '../ruleset/load.js';
import type { DayRange } from './campaign-report.js';
import { clip, planReport } from './plan-report.js';

// Two goals; "grow" runs from 2026-11-21 on, "old" ended before the range. Three campaigns: a and b
// serve f-rev and f-rate; c serves nothing.
const RULES = `
goals:
  - id: grow
    name: Grow
    objective: More revenue from what customers accept.
    target: { metric: revenue, value: 1000 }
    period: { start: "2026-11-21" }
  - id: old
    name: Old
    objective: Last year's.
    target: { metric: conversions, value: 10 }
    period: { start: "2025-01-01", end: "2025-12-31" }
factors:
  - id: f-rev
    name: Revenue
    goal: grow
    metric: revenue
    target: 500
  - id: f-rate
    name: Accept rate
    goal: grow
    metric: accept_rate
    target: 0.1
  - id: f-new
    name: New customers
    goal: grow
    metric: new_customers
    target: 4
  - id: f-old
    name: Old factor
    goal: old
    metric: conversions
    target: 10
campaigns:
  - id: a
    name: A
    objective: cross_sell
    kpis:
      - { metric: accept_rate, target: 0.2 }
      - { metric: revenue, target: 400 }
      - { metric: retention, target: 0.9 }
    serves: [f-rev, f-rate, f-new, f-old]
  - id: b
    name: B
    objective: up_sell
    kpi: { metric: conversions, target: 4 }
    serves: [f-rev, f-rate, f-new]
  - id: c
    name: C
    objective: retention
    kpis: [{ metric: accept_rate, target: 0.5 }]
offers:
  - { id: oa, name: OA, campaign: a, product: pa, channels: [web], value: 1, creatives: { web: { headline: H, image: /i, link: /l } } }
  - { id: ob, name: OB, campaign: b, product: pb, channels: [web], value: 1, creatives: { web: { headline: H, image: /i, link: /l } } }
  - { id: oc, name: OC, campaign: c, product: pc, channels: [web], value: 1, creatives: { web: { headline: H, image: /i, link: /l } } }
`;

const snapshot = buildRuleset([{ name: 'rules.yaml', text: RULES }], Date.parse('2026-11-20T00:00:00Z'));
const D = dayOf(Date.parse('2026-11-20T00:00:00Z'));
const RANGE: DayRange = { from: D, to: D + 2 };

const f = (offer: string, metric: Parameters<typeof counterField>[3]) =>
  counterField(offer, 'web', null, metric);
const counters = new Map<number, DayCounters>([
  // The day before the goal's period: counted for c (unplanned, the whole range), not for the goal.
  [
    D,
    new Map([
      [f('oa', 'impressions'), 1000],
      [f('oa', 'accepts'), 900],
      [f('oc', 'impressions'), 10],
      [f('oc', 'accepts'), 2],
    ]),
  ],
  [
    D + 1,
    new Map([
      [f('oa', 'impressions'), 100],
      [f('oa', 'accepts'), 30],
      [f('oa', 'conversions'), 3],
      [f('oa', 'revenue'), 300.5],
      [f('oa', 'customersPositionBased'), 1.5],
      [f('oa', 'customers'), 20],
      [f('oa', 'customerCancels'), 2],
      [f('ob', 'impressions'), 300],
      [f('ob', 'accepts'), 10],
      [f('ob', 'conversions'), 2],
      [f('ob', 'revenue'), 99.5],
      [f('ob', 'customersPositionBased'), 0.5],
      [f('oc', 'impressions'), 10],
      [f('oc', 'accepts'), 3],
    ]),
  ],
  [
    D + 2,
    new Map([
      [f('ob', 'conversions'), 1],
      [f('ob', 'revenue'), 100],
    ]),
  ],
]);

describe('planReport', () => {
  const report = planReport({ snapshot, counters, range: RANGE });
  const grow = report.goals[0]!;

  it('counts a goal over its period clipped to the range', () => {
    expect(report.from).toBe('2026-11-20');
    expect(report.to).toBe('2026-11-22');
    expect(grow.period).toEqual({ start: '2026-11-21T00:00:00.000Z', end: null });
    expect(grow.counted).toEqual({ from: '2026-11-21', to: '2026-11-22' });
  });

  it('pools a factor: sums for counts and revenue, numerators over denominators for rates', () => {
    const [rev, rate, customers] = grow.factors;
    expect(rev).toMatchObject({ id: 'f-rev', actual: 500, progress: 1 });
    // (30 + 10) / (100 + 300), not the mean of 0.3 and 0.033.
    expect(rate).toMatchObject({ id: 'f-rate', actual: 40 / 400, progress: 40 / 400 / 0.1 });
    expect(customers).toMatchObject({ id: 'f-new', actual: 2, progress: 0.5 });
    expect(rev!.campaigns.map((c) => [c.id, c.actual])).toEqual([
      ['a', 300.5],
      ['b', 199.5],
    ]);
  });

  it("shows every KPI of a campaign over the goal's days", () => {
    const a = grow.factors[0]!.campaigns[0]!;
    expect(a.kpis).toEqual([
      { metric: 'accept_rate', target: 0.2, actual: 0.3, progress: 0.3 / 0.2 },
      { metric: 'revenue', target: 400, actual: 300.5, progress: 300.5 / 400 },
      // 18 of the 20 customers reached cancelled nothing.
      { metric: 'retention', target: 0.9, actual: 0.9, progress: 1 },
    ]);
    // The older single kpi reads as one kpis entry.
    expect(grow.factors[0]!.campaigns[1]!.kpis).toEqual([
      { metric: 'conversions', target: 4, actual: 3, progress: 0.75 },
    ]);
  });

  it("measures a goal by its own target over its campaigns, and by its factors' progress", () => {
    expect(grow.target).toEqual({ metric: 'revenue', value: 1000 });
    expect(grow.actual).toBe(500);
    expect(grow.progress).toBe(0.5);
    // Capped at 1 each: 1 (revenue), 1 (rate at exactly its target), 0.5 (new customers).
    expect(grow.factorProgress).toBeCloseTo((1 + 1 + 0.5) / 3, 12);
    expect(grow.factorsMet).toBe(2);
  });

  it('a goal whose period is outside the range has nothing counted', () => {
    const old = report.goals[1]!;
    expect(old.counted).toBeNull();
    expect(old).toMatchObject({ actual: null, progress: null, factorProgress: null, factorsMet: 0 });
    expect(old.period).toEqual({ start: '2025-01-01T00:00:00.000Z', end: '2025-12-31T23:59:59.999Z' });
    expect(old.factors[0]).toMatchObject({ id: 'f-old', actual: null, progress: null });
    expect(old.factors[0]!.campaigns[0]!.kpis.every((k) => k.actual === null)).toBe(true);
  });

  it('lists the campaigns that serve no factor, counted over the whole range', () => {
    expect(report.unplanned).toEqual([
      {
        id: 'c',
        name: 'C',
        objective: 'retention',
        kpis: [{ metric: 'accept_rate', target: 0.5, actual: 0.25, progress: 0.5 }],
      },
    ]);
  });

  it('a rate without trials is no data, not zero', () => {
    const empty = planReport({ snapshot, counters: new Map(), range: RANGE });
    expect(empty.goals[0]!.factors[1]).toMatchObject({ actual: null, progress: null });
    expect(empty.goals[0]!.factors[0]).toMatchObject({ actual: 0, progress: 0 });
    expect(empty.goals[0]!.factorProgress).toBe(0);
  });
});

describe('clip', () => {
  const day = (iso: string) => dayOf(Date.parse(iso));
  it('keeps the days of the range within the period', () => {
    const range = { from: day('2026-03-01'), to: day('2026-03-31') };
    const goal = (start: string, end: string | null) => ({
      start: Date.parse(start),
      end: end === null ? Number.POSITIVE_INFINITY : Date.parse(end),
    });
    expect(clip(range, goal('2026-01-01', null))).toEqual(range);
    expect(clip(range, goal('2026-03-10', '2026-03-20T23:59:59.999Z'))).toEqual({
      from: day('2026-03-10'),
      to: day('2026-03-20'),
    });
    expect(clip(range, goal('2026-04-01', null))).toBeNull();
    expect(clip(range, goal('2025-01-01', '2026-02-28T23:59:59.999Z'))).toBeNull();
  });
});
