import { describe, expect, it } from 'vitest';
import { FIXTURE_RULES } from '../../test/helpers.js';
import { counterField, dayOf } from '../feedback/feedback-effects.js';
import { buildRuleset, readRulesDir } from '../ruleset/load.js';
import { segmentEconomicsReport } from './segment-economics.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const DAY = dayOf(NOW);
const files = (await readRulesDir(FIXTURE_RULES)).map((f) =>
  f.name === 'segments.yaml'
    ? {
        ...f,
        text: f.text.replace(
          '  - id: young\n',
          '  - id: young\n    economics: { preferredChannel: mobile, careIntensity: 0.5, contactCost: { call_center: 7.5 } }\n',
        ),
      }
    : f,
);
const snapshot = buildRuleset(files, NOW);

describe('segmentEconomicsReport', () => {
  it("prices each segment's contacts at its cost for the channel, else the policy's, and says what came of them", () => {
    const counters = new Map([
      [
        DAY,
        new Map([
          [counterField('gold-card', 'call_center', 'young', 'impressions'), 10],
          [counterField('gold-card', 'call_center', 'young', 'accepts'), 2],
          [counterField('gold-card', 'call_center', 'young', 'revenue'), 500],
          [counterField('gold-card', 'call_center', 'young', 'expected'), 1.5],
          [counterField('travel-insurance', 'web', null, 'impressions'), 4],
        ]),
      ],
      [DAY - 1, new Map([[counterField('platinum-card', 'call_center', 'young', 'impressions'), 6]])],
    ]);
    const report = segmentEconomicsReport({ snapshot, counters, range: { from: DAY - 1, to: DAY } });
    const web = snapshot.policies[1]!.cost;
    expect(report.rows).toEqual([
      {
        segmentId: null,
        channel: 'web',
        impressions: 4,
        accepts: 0,
        conversions: 0,
        revenue: 0,
        acceptRate: 0,
        costPerContact: web,
        contactCost: 4 * web,
        costPerAccept: null,
        net: -4 * web,
      },
      {
        segmentId: 'young',
        channel: 'call_center',
        impressions: 16,
        accepts: 2,
        conversions: 0,
        revenue: 500,
        acceptRate: 2 / 16,
        costPerContact: 7.5,
        contactCost: 120,
        costPerAccept: 60,
        net: 380,
      },
    ]);
    expect(report.segments.find((s) => s.id === 'young')).toEqual({
      id: 'young',
      preferredChannel: 'mobile',
      careIntensity: 0.5,
      contactCost: { call_center: 7.5 },
    });
    expect(report.segments.find((s) => s.id === 'high_value')).toMatchObject({
      preferredChannel: null,
      careIntensity: 1,
    });
  });
});
