import { describe, expect, it } from 'vitest';
import { buildRuleset } from '../ruleset/load.js';
import { campaignsReport, type Metrics } from './campaign-report.js';
import { kpiProgress, kpiValue, pooledParts } from './kpi.js';

// Metrics as campaign reports make them, from two campaigns' counters of one day.
const RULES = `
campaigns:
  - { id: a, name: A, objective: cross_sell }
  - { id: b, name: B, objective: retention }
offers:
  - { id: oa, name: OA, campaign: a, product: pa, channels: [web], value: 1, creatives: { web: { headline: H, image: /i, link: /l } } }
  - { id: ob, name: OB, campaign: b, product: pb, channels: [web], value: 1, creatives: { web: { headline: H, image: /i, link: /l } } }
`;
const snapshot = buildRuleset([{ name: 'r.yaml', text: RULES }], 0);
const counts = (offer: string, c: Record<string, number>) =>
  Object.entries(c).map(([metric, n]) => [`${offer}|web|-|${metric}`, n] as const);
const [a, b] = campaignsReport({
  snapshot,
  counters: new Map([
    [
      10,
      new Map([
        ...counts('oa', {
          impressions: 100,
          accepts: 30,
          conversions: 3,
          revenue: 0.1,
          customers: 10,
          customerCancels: 1,
          customersPositionBased: 0.4,
        }),
        ...counts('ob', {
          impressions: 300,
          accepts: 10,
          conversions: 2,
          revenue: 0.2,
          customers: 30,
          customerCancels: 9,
          customersPositionBased: 0.6,
        }),
      ]),
    ],
  ]),
  range: { from: 10, to: 10 },
}).campaigns.map((c) => c.totals) as [Metrics, Metrics];

describe('KPI metrics', () => {
  it('pool rates as numerators over denominators, never as a mean of rates', () => {
    expect(kpiValue(pooledParts('accept_rate', [a, b]))).toBe(40 / 400);
    expect(kpiValue(pooledParts('conversion_rate', [a, b]))).toBe(5 / 400);
    // 9 + 21 of 10 + 30 customers stayed.
    expect(kpiValue(pooledParts('retention', [a, b]))).toBe(30 / 40);
  });

  it('add up counts, revenue and position-based credits, to a millionth', () => {
    expect(kpiValue(pooledParts('conversions', [a, b]))).toBe(5);
    expect(kpiValue(pooledParts('revenue', [a, b]))).toBe(0.3);
    expect(kpiValue(pooledParts('new_customers', [a, b]))).toBe(1);
  });

  it('a rate without trials is no data; a count without campaigns is 0', () => {
    expect(kpiValue(pooledParts('accept_rate', []))).toBeNull();
    expect(kpiValue(pooledParts('revenue', []))).toBe(0);
  });

  it('progress is actual over target, null for a target of 0 or no actual', () => {
    expect(kpiProgress({ metric: 'accept_rate', target: 0.2 }, [a])).toEqual({
      metric: 'accept_rate',
      target: 0.2,
      actual: 0.3,
      progress: 0.3 / 0.2,
    });
    expect(kpiProgress({ metric: 'revenue', target: 0 }, [a]).progress).toBeNull();
    expect(kpiProgress({ metric: 'accept_rate', target: 0.2 }, []).progress).toBeNull();
  });
});
