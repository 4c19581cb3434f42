import { describe, expect, it } from 'vitest';
import { formatMineSummary, type MineSummary } from './mine-report.js';

const SUMMARY: MineSummary = {
  input: {
    file: 'tx.csv',
    bytes: 2_500_000,
    layout: 'long',
    lines: 120_001,
    rows: 120_000,
    transactions: 30_000,
    items: 150,
    customers: 7_000,
  },
  minSupport: 0.01,
  minCount: 300,
  itemsets: { total: 180, byLength: [150, 30] },
  rules: { file: 'out/rules.ndjson', count: 42 },
  affinities: {
    file: 'out/affinities.ndjson',
    customers: 6_999,
    withAffinities: 5_000,
    affinities: 12_345,
    skippedIds: 1,
  },
  profiles: { file: 'out/profiles.ndjson', profiles: 8_000, merged: 4_000, appended: 1_000 },
  seconds: { read: 0.25, mine: 0.5, rules: 0.04, affinities: 1.26, total: 2.05 },
  memory: { peakRssMB: 120.5, peakHeapMB: 60.2, peakArrayBuffersMB: 4.1 },
};

describe('formatMineSummary', () => {
  it('says what was read, mined and written, with counts, thresholds and times', () => {
    expect(
      formatMineSummary(SUMMARY, { minSupport: 0.01, minConfidence: 0.2, minLift: 1.5 }).split('\n'),
    ).toEqual([
      'read tx.csv (long format, 2.5 MB): 30,000 transactions, 120,000 items of 150 products, 7,000 customers in 0.3 s',
      'minimum support 0.01 = 300 transactions: 180 frequent itemsets (1: 150, 2: 30) in 0.5 s',
      'wrote out/rules.ndjson: 42 rules (confidence ≥ 0.2, lift ≥ 1.5) in 0.0 s',
      'wrote out/affinities.ndjson: 6,999 customers, 5,000 with affinities (12,345 in all); 1 customer ids longer than 128 characters skipped in 1.3 s',
      'wrote out/profiles.ndjson: 8,000 profiles, 4,000 with mined affinities merged, 1,000 appended for customers the profiles lacked',
      'total 2.0 s; peak RSS 120.5 MB, heap 60.2 MB (sampled between phases)',
      '',
    ]);
  });

  it('says when there were no customers, and leaves out a lift of 0 and an empty itemset list', () => {
    const text = formatMineSummary(
      {
        ...SUMMARY,
        input: { ...SUMMARY.input, customers: 0 },
        itemsets: { total: 0, byLength: [] },
        affinities: null,
        profiles: null,
      },
      { minSupport: 0.5, minConfidence: 0.1, minLift: 0 },
    );
    expect(text).toContain('of 150 products in 0.3 s');
    expect(text).toContain('0 frequent itemsets (none)');
    expect(text).toContain('(confidence ≥ 0.1) in');
    expect(text).toContain('no customer ids in the input: no affinities written');
    expect(text).not.toContain('profiles.ndjson');
  });
});
