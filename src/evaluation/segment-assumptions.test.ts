import { describe, expect, it } from 'vitest';
import { RulesetError } from '../errors.js';
import { counterField, dayOf } from '../feedback/feedback-effects.js';
import { buildRuleset } from '../ruleset/load.js';
import {
  type AssumptionCheck,
  MIN_IMPRESSIONS,
  normalQuantile,
  type SegmentReport,
  segmentReport,
  segmentsReport,
} from './segment-assumptions.js';
import { proportion, uplift, Z95 } from './uplift.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const DAY = dayOf(NOW);

const CREATIVES = `
    creatives:
      call_center: { talkTrack: Hello }
      web: { headline: Hi, image: /i.svg, link: https://x }
      email: { subject: Hi, body: Hello, link: https://x }`;

/** A small ruleset: `loyal` states every kind of assumption, `young` none. */
function rules(assumption = '{ acceptRate: 0.1, bestChannel: web, respondsTo: [savings] }') {
  return [
    {
      name: 'segments.yaml',
      text: `segments:
  - id: loyal
    name: Loyal
    when: customer.tenureYears >= 5
    assumption: ${assumption}
  - id: young
    when: customer.age < 30
`,
    },
    {
      name: 'campaigns.yaml',
      text: `campaigns:
  - id: savings
    name: Savings
    objective: cross_sell
    segments: [loyal, young]
  - id: cards
    name: Cards
    objective: cross_sell
    segments: [loyal]
  - id: open
    name: Open to all
    objective: cross_sell
`,
    },
    {
      name: 'offers.yaml',
      text: `offers:
  - id: save
    name: Save more
    campaign: savings
    product: savings
    channels: [call_center, web, email]
    value: 10${CREATIVES}
  - id: card
    name: A card
    campaign: cards
    product: card
    channels: [call_center, web, email]
    value: 10${CREATIVES}
  - id: banner
    name: A banner
    campaign: open
    product: banner
    channels: [web, email]
    value: 10${CREATIVES}
`,
    },
  ];
}

const snapshot = buildRuleset(rules(), NOW);
const loyal = snapshot.segmentById.get('loyal')!;

/** [offer, channel, segment, impressions, accepts] → one day's counters. */
type Row = [string, string, string | null, number, number];
function countersOf(rows: readonly Row[], day = DAY) {
  const counters = new Map<string, number>();
  for (const [offer, channel, segment, impressions, accepts] of rows) {
    counters.set(counterField(offer, channel, segment, 'impressions'), impressions);
    counters.set(counterField(offer, channel, segment, 'accepts'), accepts);
  }
  return new Map([[day, counters]]);
}

function loyalReport(rows: readonly Row[], ruleset = snapshot): SegmentReport {
  return segmentReport({
    snapshot: ruleset,
    segment: ruleset.segmentById.get('loyal')!,
    counters: countersOf(rows),
    range: { from: DAY, to: DAY },
  });
}

const check = (report: SegmentReport, assumption: AssumptionCheck['assumption']) =>
  report.segment.checks.find((c) => c.assumption === assumption)!;

describe('segmentsReport', () => {
  it("compares each segment's accept rate with the rest of the population, with Wilson and Newcombe intervals", () => {
    const counters = countersOf([
      ['save', 'web', 'loyal', 400, 40],
      ['save', 'web', 'young', 300, 15],
      ['banner', 'web', null, 300, 6],
    ]);
    const report = segmentsReport({ snapshot, counters, range: { from: DAY, to: DAY } });
    expect(report).toMatchObject({ from: '2026-11-22', to: '2026-11-22', minImpressions: MIN_IMPRESSIONS });
    expect(report.population).toEqual({ impressions: 1000, accepts: 61, ...ci(61, 1000) });
    expect(report.segments.map((s) => s.id)).toEqual(['loyal', 'young']);
    const [l, y] = report.segments;
    expect(l!.overall.segment).toEqual({ impressions: 400, accepts: 40, ...ci(40, 400) });
    expect(l!.overall.rest).toEqual({ impressions: 600, accepts: 21, ...ci(21, 600) });
    const diff = uplift({ successes: 40, trials: 400 }, { successes: 21, trials: 600 });
    expect(l!.overall.difference).toBe(diff.uplift);
    expect(l!.overall.ci95).toEqual(diff.ci95);
    expect(l!.overall.verdict).toBe('above');
    expect(y!.overall.segment.impressions).toBe(300);
    expect(y!.assumption).toBeNull();
    expect(y!.checks).toEqual([]);
    // The list leaves the breakdowns to the one-segment report.
    expect(l).not.toHaveProperty('byCampaign');
  });

  it('reads only the days of the range, impressions and accepts, and offers still in the ruleset', () => {
    const counters = new Map([
      ...countersOf([['save', 'web', 'loyal', 200, 20]]),
      ...countersOf([['save', 'web', 'loyal', 900, 900]], DAY - 1),
    ]);
    counters.get(DAY)!.set(counterField('save', 'web', 'loyal', 'clicks'), 77);
    counters.get(DAY)!.set(counterField('gone-offer', 'web', 'loyal', 'impressions'), 500);
    counters.get(DAY)!.set(counterField('save', 'fax', 'loyal', 'impressions'), 500);
    const report = segmentsReport({ snapshot, counters, range: { from: DAY, to: DAY } });
    expect(report.population).toMatchObject({ impressions: 200, accepts: 20 });
  });
});

describe('segmentReport breakdowns', () => {
  it('per campaign (those that target it), offer and channel, each against the rest there', () => {
    const report = loyalReport([
      ['save', 'web', 'loyal', 200, 20],
      ['save', 'email', 'loyal', 100, 2],
      ['save', 'web', 'young', 500, 10],
      ['card', 'call_center', 'loyal', 50, 5],
      ['banner', 'web', null, 300, 3],
    ]);
    const { byCampaign, byOffer, byChannel } = report.segment;
    expect(byCampaign.map((r) => [r.key, r.name, r.segment.impressions, r.rest.impressions])).toEqual([
      ['savings', 'Savings', 300, 500],
      ['cards', 'Cards', 50, 0],
    ]);
    expect(byOffer.map((r) => [r.key, r.segment.impressions, r.rest.impressions])).toEqual([
      ['save', 300, 500],
      ['card', 50, 0],
    ]);
    expect(byChannel.map((r) => [r.key, r.segment.impressions, r.rest.impressions])).toEqual([
      ['call_center', 50, 0],
      ['web', 200, 800],
      ['email', 100, 0],
    ]);
    // Below the minimum on either side: no verdict, whatever the interval says.
    expect(byCampaign[1]!.verdict).toBe('not_enough_data');
    expect(byChannel[1]!.verdict).toBe('above');
  });
});

describe('assumption checks', () => {
  it('acceptRate: contradicted when outside the 95% interval of the actual rate, consistent inside', () => {
    const rows: Row[] = [['save', 'web', 'loyal', 1000, 40]];
    const [low, high] = proportion(40, 1000).ci95!;
    expect(0.1).toBeGreaterThan(high);
    const contradicted = check(loyalReport(rows), 'acceptRate');
    expect(contradicted).toMatchObject({ verdict: 'contradicted', expected: 0.1 });
    expect(contradicted.observed).toEqual({ impressions: 1000, accepts: 40, rate: 0.04, ci95: [low, high] });
    expect(contradicted.reason).toContain('10.00% is above the interval');
    const consistent = check(loyalReport([['save', 'web', 'loyal', 1000, 95]]), 'acceptRate');
    expect(consistent.verdict).toBe('consistent');
  });

  it('never flags on thin data: below the minimum, not enough data', () => {
    // 0 accepts in 99: the interval excludes 10%, but 99 impressions are too few to say.
    expect(check(loyalReport([['save', 'web', 'loyal', 99, 0]]), 'acceptRate')).toMatchObject({
      verdict: 'not_enough_data',
      reason: `not enough data: 99 impressions in the range, a check needs ${MIN_IMPRESSIONS}`,
    });
    // Web, the assumed best channel, has 99 impressions: no verdict on it, however email does.
    const report = loyalReport([
      ['save', 'web', 'loyal', MIN_IMPRESSIONS - 1, 0],
      ['save', 'email', 'loyal', 5000, 2500],
    ]);
    expect(check(report, 'bestChannel')).toMatchObject({ verdict: 'not_enough_data', comparedWith: null });
    // Nobody else saw the campaign: no rest to compare with.
    expect(check(report, 'respondsTo')).toMatchObject({
      verdict: 'not_enough_data',
      reason: `the rest of Savings's audience: not enough data: 0 impressions, a check needs ${MIN_IMPRESSIONS}`,
    });
  });

  it('bestChannel: contradicted when significantly below another channel, at a Bonferroni-adjusted level', () => {
    const report = loyalReport([
      ['save', 'web', 'loyal', 1000, 20],
      ['save', 'email', 'loyal', 1000, 60],
      ['save', 'call_center', 'loyal', 1000, 25],
    ]);
    const best = check(report, 'bestChannel');
    expect(best.verdict).toBe('contradicted');
    // Two channels compared: each at 97.5%, so that the claim is flagged by chance at most 5% of the time.
    const z = normalQuantile(1 - 0.025 / 2);
    const diff = uplift({ successes: 20, trials: 1000 }, { successes: 60, trials: 1000 }, z);
    expect(best.comparedWith).toEqual({
      key: 'email',
      response: { impressions: 1000, accepts: 60, ...ci(60, 1000) },
      difference: diff.uplift,
      interval: diff.ci95,
      level: 0.975,
    });
    expect(best.reason).toContain('on web against 6.00% on email');
    // Only just below, with an interval that reaches 0: consistent.
    const close = check(
      loyalReport([
        ['save', 'web', 'loyal', 1000, 50],
        ['save', 'email', 'loyal', 1000, 60],
      ]),
      'bestChannel',
    );
    expect(close.verdict).toBe('consistent');
    expect(close.comparedWith!.level).toBe(0.95);
    expect(close.comparedWith!.interval).toEqual(
      uplift({ successes: 50, trials: 1000 }, { successes: 60, trials: 1000 }, Z95).ci95,
    );
  });

  it('bestChannel: not enough data without another channel of the minimum', () => {
    const best = check(
      loyalReport([
        ['save', 'web', 'loyal', 1000, 10],
        ['save', 'email', 'loyal', 99, 90],
      ]),
      'bestChannel',
    );
    expect(best.verdict).toBe('not_enough_data');
    expect(best.reason).toContain('no other channel');
  });

  it('respondsTo: contradicted when significantly below the rest of the campaign audience', () => {
    const report = loyalReport([
      ['save', 'web', 'loyal', 1000, 20],
      ['save', 'web', 'young', 1000, 80],
      // Other campaigns do not count: the comparison is within the campaign.
      ['banner', 'web', null, 5000, 0],
    ]);
    const responds = check(report, 'respondsTo');
    const diff = uplift({ successes: 20, trials: 1000 }, { successes: 80, trials: 1000 });
    expect(responds).toMatchObject({
      expected: 'savings',
      verdict: 'contradicted',
      comparedWith: { key: 'rest', difference: diff.uplift, interval: diff.ci95, level: 0.95 },
    });
    expect(responds.comparedWith!.response.impressions).toBe(1000);
    expect(report.segment.contradicted).toBe(2); // and the rate; web has no other channel to lose to
    const fine = loyalReport([
      ['save', 'web', 'loyal', 1000, 90],
      ['save', 'web', 'young', 1000, 80],
    ]);
    expect(check(fine, 'respondsTo').verdict).toBe('consistent');
  });

  it('checks only what is stated', () => {
    const ruleset = buildRuleset(rules('{ respondsTo: [cards] }'), NOW);
    const report = loyalReport([['card', 'web', 'loyal', 500, 50]], ruleset);
    expect(report.segment.checks.map((c) => [c.assumption, c.expected, c.verdict])).toEqual([
      ['respondsTo', 'cards', 'not_enough_data'],
    ]);
    expect(report.segment.assumption).toEqual({ acceptRate: null, bestChannel: null, respondsTo: ['cards'] });
    expect(loyal.assumption).toEqual({ acceptRate: 0.1, bestChannel: 'web', respondsTo: ['savings'] });
  });
});

describe('assumptions in the rules', () => {
  function problemsOf(assumption: string) {
    try {
      buildRuleset(rules(assumption), NOW);
    } catch (err) {
      if (err instanceof RulesetError) return err.problems.map((p) => `${p.file}:${p.line}: ${p.message}`);
      throw err;
    }
    return [];
  }

  it('an unknown campaign, or one that does not target the segment, is an error at its file and line', () => {
    expect(problemsOf('{ respondsTo: [savings, nope, open] }')).toEqual([
      "segments.yaml:5: unknown campaign 'nope'",
      "segments.yaml:5: campaign 'open' does not target segment 'loyal' (it targets everybody): the segment's responses to it are never counted",
    ]);
    expect(problemsOf('\n      respondsTo:\n        - savings\n        - nope')).toEqual([
      "segments.yaml:8: unknown campaign 'nope'",
    ]);
  });

  it('an unknown channel, a rate out of [0, 1] or an empty assumption is rejected by the schema', () => {
    expect(problemsOf('{ bestChannel: fax }')[0]).toMatch(
      /^segments\.yaml:5: must be equal to one of the allowed values/,
    );
    expect(problemsOf('{ acceptRate: 1.5 }')).toEqual(['segments.yaml:5: must be <= 1']);
    expect(problemsOf('{}')).toEqual(['segments.yaml:5: must NOT have fewer than 1 properties']);
  });
});

describe('normalQuantile', () => {
  it('is the standard normal quantile', () => {
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
    expect(normalQuantile(0.975)).toBeCloseTo(Z95, 6);
    expect(normalQuantile(0.9875)).toBeCloseTo(2.241403, 6);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232, 6);
    expect(() => normalQuantile(1)).toThrow(RangeError);
  });
});

function ci(accepts: number, impressions: number) {
  const p = proportion(accepts, impressions);
  return { rate: p.rate, ci95: p.ci95 };
}
