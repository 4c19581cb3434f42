import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_RULES } from '../../test/helpers.js';
import { learningRules } from '../../test/learning-rules.js';
import { CHANNELS, type Channel, channelIndex } from '../domain/channel.js';
import { NO_USAGE } from '../domain/contact.js';
import { type CustomerProfile, profileFromRecord } from '../domain/profile.js';
import { Rng } from '../domain/random.js';
import { decide } from '../engine/decide.js';
import { affinityBinOf, counterField } from '../feedback/feedback-effects.js';
import { buildRuleset, loadRuleset } from '../ruleset/load.js';
import type { CompiledOffer, RulesetSnapshot } from '../ruleset/snapshot.js';
import { cellOf, DEFAULT_LEARNING, LearnedModel, type LearningSettings } from './learned-model.js';
import { calibrated, calibrationRatio } from './response-rate.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const S = DEFAULT_LEARNING.priorStrength;

/** x may show in the web hero placement. */
const HERO = '    placements: { web: [hero] }\n';
const RULES = learningRules(
  ['a', 'b', 'c'],
  [
    { id: 'open', name: 'Open to all' },
    { id: 'targeted', name: 'Targeted', segments: ['seg_a', 'seg_b', 'seg_c'] },
  ],
  [
    {
      id: 'x',
      campaign: 'open',
      product: 'px',
      basePropensity: 0.01,
      channels: ['web', 'email'],
      extra: HERO,
    },
    { id: 'y', campaign: 'open', product: 'py', basePropensity: 0.02, channels: ['web', 'email'] },
    { id: 't', campaign: 'targeted', product: 'pt', basePropensity: 0.02 },
  ],
);

const snapshot = buildRuleset([{ name: 'rules.yaml', text: RULES }], NOW);
const example = await loadRuleset(EXAMPLE_RULES, NOW);
const offer = (id: string): CompiledOffer => snapshot.offerById.get(id)!;
const cell = (id: string, channel: Channel) => cellOf(offer(id), channelIndex(channel));
const ordinal = (segmentId: string) => snapshot.segmentById.get(segmentId)!.ordinal;

interface Counts {
  impressions?: number;
  accepts?: number;
  expected?: number;
}

type CellSpec = [offerId: string, channel: string, segmentId: string | null, Counts];

/** Counters as the feedback consumers keep them: `offer|channel|segment|metric` → amount. */
function counters(cells: readonly CellSpec[]) {
  const out = new Map<string, number>();
  for (const [offerId, channel, segmentId, counts] of cells) {
    for (const [metric, amount] of Object.entries(counts) as [keyof Counts, number][]) {
      const field = counterField(offerId, channel, segmentId, metric);
      out.set(field, (out.get(field) ?? 0) + amount);
    }
  }
  return out;
}

function build(
  cells: CellSpec[],
  settings: LearningSettings = DEFAULT_LEARNING,
  on: RulesetSnapshot = snapshot,
): LearnedModel {
  return LearnedModel.build(on, counters(cells), settings, NOW);
}

function learnedCell(model: LearnedModel, offerId: string, channel: string, segmentId: string | null = null) {
  return model.cells.find((c) => c.offerId === offerId && c.channel === channel && c.segmentId === segmentId);
}

function decideFor(
  profile: CustomerProfile,
  channel: Channel,
  learned: LearnedModel | undefined,
  on: RulesetSnapshot = snapshot,
  limit = 3,
) {
  return decide({
    snapshot: on,
    profile,
    history: [],
    usage: NO_USAGE,
    now: NOW,
    learned,
    request: { channel, placement: null, limit, context: {}, explain: false },
  });
}

const odds = (p: number) => p / (1 - p);

describe('LearnedModel.identity', () => {
  it('has learned nothing: ratio 1 everywhere, base propensities, the snapshot’s candidate order', () => {
    const model = LearnedModel.identity(snapshot);
    expect(model.snapshot).toBe(snapshot);
    expect([...model.pooled].every((r) => r === 1)).toBe(true);
    expect([...model.upper].every((r) => r === 1)).toBe(true);
    expect(model.bySegment.every((r) => r === null)).toBe(true);
    expect(model.cells).toEqual([]);
    for (const o of snapshot.offers) {
      for (let ch = 0; ch < CHANNELS.length; ch++) {
        expect(model.staticPropensity[cellOf(o, ch)]).toBe(o.basePropensity);
        expect(model.ratio(cellOf(o, ch), 0)).toBe(1);
      }
    }
    expect(model.channels).toBe(snapshot.channels);
  });

  it('is what a build from no counters gives', () => {
    const empty = LearnedModel.build(snapshot, new Map(), DEFAULT_LEARNING, NOW);
    const identity = LearnedModel.identity(snapshot);
    expect(empty.pooled).toEqual(identity.pooled);
    expect(empty.upper).toEqual(identity.upper);
    expect(empty.staticPropensity).toEqual(identity.staticPropensity);
    expect(empty.bySegment).toEqual(identity.bySegment);
    expect(empty.builtAt).toBe(NOW);
    for (const [ch, index] of empty.channels.entries()) {
      expect(index.all.byStaticScore).toEqual(snapshot.channels[ch]!.all.byStaticScore);
    }
  });

  describe('gives the scores of the engine before learning, to the last bit', () => {
    const products = [...new Set(example.offers.map((o) => o.productId))];
    const identity = LearnedModel.identity(example);
    const fromNothing = LearnedModel.build(example, new Map(), DEFAULT_LEARNING, NOW);
    const profileArb = fc.record({
      id: fc.string({ minLength: 1, maxLength: 8 }),
      attributes: fc.record({
        age: fc.integer({ min: 18, max: 90 }),
        clv: fc.integer({ min: 0, max: 20_000 }),
        income: fc.integer({ min: 0, max: 200_000 }),
        preferredChannel: fc.constantFrom(...CHANNELS),
      }),
      consent: fc.constant(Object.fromEntries(CHANNELS.map((c) => [c, true]))),
      affinities: fc.uniqueArray(
        fc.record({
          product: fc.constantFrom(...products),
          score: fc.double({ min: 0, max: 1, noNaN: true }),
        }),
        { selector: (a) => a.product, maxLength: 12 },
      ),
    });

    it('propensity === prior === affinity (or base propensity), score from them exactly', () => {
      fc.assert(
        fc.property(profileArb, fc.constantFrom(...CHANNELS), (record, channel) => {
          const profile = profileFromRecord(record);
          const plain = decideFor(profile, channel, undefined, example, 5);
          for (const learned of [identity, fromNothing]) {
            const result = decideFor(profile, channel, learned, example, 5);
            expect(result.offers.map((o) => [o.offer.id, o.score, o.propensity])).toEqual(
              plain.offers.map((o) => [o.offer.id, o.score, o.propensity]),
            );
          }
          const policy = example.policies[channelIndex(channel)]!;
          const fit = record.attributes.preferredChannel === channel ? policy.preferredFit : policy.otherFit;
          for (const o of plain.offers) {
            const affinity = profile.affinities.get(o.offer.productId) ?? o.offer.basePropensity;
            expect(Object.is(o.propensity, affinity)).toBe(true);
            expect(Object.is(o.prior, affinity)).toBe(true);
            expect(Object.is(o.score, affinity * o.offer.worth * fit - policy.cost)).toBe(true);
          }
        }),
        { numRuns: 200 },
      );
    });
  });

  it('a model built for another snapshot is not used', () => {
    // The same rules compiled again: equal ids, another snapshot (a reload while the model refreshes).
    const reloaded = buildRuleset([{ name: 'rules.yaml', text: RULES }], NOW);
    const stale = build([['x', 'web', null, { impressions: 20_000, expected: 200, accepts: 4_000 }]]);
    expect(stale.pooled[cell('x', 'web')]).toBeGreaterThan(10);
    const profile = profileFromRecord({ id: 'c1', affinities: [{ product: 'px', score: 0.01 }] });
    const plain = decideFor(profile, 'web', undefined, reloaded);
    const withStale = decideFor(profile, 'web', stale, reloaded);
    expect(withStale.offers.map((o) => [o.offer.id, o.score])).toEqual(
      plain.offers.map((o) => [o.offer.id, o.score]),
    );
    expect(withStale.offers[0]!.offer.id).toBe('y');
  });
});

describe('LearnedModel.build: an offer × channel cell', () => {
  it('accepted far more often than the affinities predicted: ratio > 1, learned rate ≈ observed', () => {
    const n = 20_000;
    const e = 0.02; // what the affinities predicted for the customers shown the offer
    const o = 0.1; // what they did
    const model = build([['x', 'email', null, { impressions: n, expected: e * n, accepts: o * n }]]);
    const learned = learnedCell(model, 'x', 'email')!;
    expect(learned).toMatchObject({ impressions: n, accepts: o * n, segmentId: null });
    expect(learned.expectedRate).toBeCloseTo(e, 12);
    expect(learned.ratio).toBeGreaterThan(1);
    // The posterior mean is (S·e + accepts) / (S + n): the prior is worth S impressions, so the
    // learned rate misses the observed one by S·|e − o| / (S + n) (here 2e-4) and no more.
    const bound = (S * Math.abs(e - o)) / (S + n);
    expect(Math.abs(learned.learnedRate - o)).toBeLessThanOrEqual(bound * (1 + 1e-9));
    expect(Math.abs(learned.learnedRate - o)).toBeGreaterThan(bound * 0.99); // the prior still counts
    expect(learned.learnedRate).toBeGreaterThan(learned.ci95[0]);
    expect(learned.learnedRate).toBeLessThan(learned.ci95[1]);
    expect(learned.ci95[0]).toBeGreaterThan(e);
    // The ratio is the odds of the learned rate over the odds of the prediction; in relative
    // terms it misses the observed odds ratio by at most bound / (o(1 − o)) to first order.
    expect(learned.ratio).toBeCloseTo(odds(learned.learnedRate) / odds(e), 9);
    const observedRatio = odds(o) / odds(e);
    expect(Math.abs(learned.ratio / observedRatio - 1)).toBeLessThan((1.1 * bound) / (o * (1 - o)));
    expect(model.pooled[cell('x', 'email')]).toBe(learned.ratio);
    expect(model.ratio(cell('x', 'email'), -1)).toBe(learned.ratio);

    // A customer whose affinity is what was predicted gets the learned rate; the others keep their order.
    const at = (score: number) => {
      const profile = profileFromRecord({ id: 'c', affinities: [{ product: 'px', score }] });
      return decideFor(profile, 'email', model).offers.find((c) => c.offer.id === 'x')!;
    };
    expect(at(e).propensity).toBeCloseTo(learned.learnedRate, 12);
    expect(at(e).prior).toBe(e);
    expect(at(0.01).propensity).toBeLessThan(at(e).propensity);
    expect(at(0.5).propensity).toBeGreaterThan(at(e).propensity);
    expect(at(0.5).propensity).toBeLessThan(1);
  });

  it('with few impressions the affinities still have most of the say', () => {
    const model = build([['x', 'email', null, { impressions: 20, expected: 0.4, accepts: 2 }]]);
    const learned = learnedCell(model, 'x', 'email')!;
    expect(learned.learnedRate).toBeCloseTo((S * 0.02 + 2) / (S + 20), 12);
    expect(learned.ratio).toBeGreaterThan(1);
    expect(learned.ratio).toBeLessThan(odds(0.1) / odds(0.02) / 2);
  });

  it('shown to high-affinity customers who accept exactly as predicted: ratio ≈ 1 (selection is not success)', () => {
    // The offer's base propensity is 1%, but it was shown to customers whose affinities averaged
    // 30%, and 30% accepted: the offer does what the affinities said.
    const n = 10_000;
    const model = build([
      ['x', 'email', null, { impressions: n, expected: 0.3 * n, accepts: 0.3 * n }],
      // The channel reports accepts (see 'a channel with zero accepts'), for the contrast below.
      ['y', 'web', null, { impressions: 100, expected: 2, accepts: 2 }],
    ]);
    const learned = learnedCell(model, 'x', 'email')!;
    expect(learned.learnedRate).toBeCloseTo(0.3, 12);
    expect(Math.abs(learned.ratio - 1)).toBeLessThan(1e-9);
    const profile = profileFromRecord({ id: 'c', affinities: [{ product: 'px', score: 0.3 }] });
    expect(decideFor(profile, 'email', model).offers[0]!.propensity).toBeCloseTo(0.3, 9);

    // Without the expected counter the prediction is the offer's base propensity, and the same
    // accepts read as an offer doing 40 times better than thought.
    const naive = build([
      ['x', 'web', null, { impressions: n, accepts: 0.3 * n }],
      ['y', 'web', null, { impressions: 100, expected: 2, accepts: 2 }],
    ]);
    expect(learnedCell(naive, 'x', 'web')!.expectedRate).toBeCloseTo(0.01, 12);
    expect(naive.pooled[cell('x', 'web')]).toBeGreaterThan(30);
  });

  it('accepted less often than predicted: ratio < 1', () => {
    const model = build([
      ['x', 'web', null, { impressions: 10_000, expected: 500, accepts: 100 }],
      ['y', 'web', null, { impressions: 100, expected: 2, accepts: 2 }],
    ]);
    const learned = learnedCell(model, 'x', 'web')!;
    expect(learned.ratio).toBeLessThan(0.25);
    expect(learned.ci95[1]).toBeLessThan(0.05);
  });
});

describe('LearnedModel.build: a channel with zero accepts', () => {
  it('learns nothing, while a channel with accepts learns, the silent offers on it too', () => {
    const model = build([
      // The website reports impressions only: its silence is not rejection.
      ['x', 'web', null, { impressions: 50_000, expected: 500 }],
      ['y', 'web', null, { impressions: 50_000, expected: 1_000 }],
      ['t', 'web', 'seg_a', { impressions: 50_000, expected: 1_000 }],
      // Email reports accepts: y was accepted, x never was, and that is news about x.
      ['y', 'email', null, { impressions: 10_000, expected: 200, accepts: 200 }],
      ['x', 'email', null, { impressions: 10_000, expected: 100 }],
    ]);
    for (const id of ['x', 'y', 't']) {
      expect(model.pooled[cell(id, 'web')]).toBe(1);
      expect(model.upper[cell(id, 'web')]).toBe(1);
      expect(model.bySegment[cell(id, 'web')]).toBeNull();
      expect(model.staticPropensity[cell(id, 'web')]).toBe(offer(id).basePropensity);
      expect(model.cells.some((c) => c.channel === 'web')).toBe(false);
    }
    expect(model.channels[channelIndex('web')]!.all.byStaticScore.map((o) => o.id)).toEqual(
      snapshot.channels[channelIndex('web')]!.all.byStaticScore.map((o) => o.id),
    );
    expect(Math.abs(model.pooled[cell('y', 'email')]! - 1)).toBeLessThan(1e-9);
    expect(model.pooled[cell('x', 'email')]).toBeLessThan(0.1);
  });

  it('accepts of offers not in the snapshot do not make a channel learn', () => {
    const model = build([
      ['x', 'web', null, { impressions: 50_000, expected: 500 }],
      ['gone', 'web', null, { impressions: 1_000, expected: 10, accepts: 50 }],
    ]);
    expect(model.pooled[cell('x', 'web')]).toBe(1);
    expect(model.cells).toEqual([]);
  });
});

describe('LearnedModel.build: target segments', () => {
  const settings: LearningSettings = { priorStrength: S, minSegmentImpressions: 500 };
  const n = 20_000;
  const model = build(
    [
      ['t', 'web', 'seg_a', { impressions: n, expected: 0.02 * n, accepts: 0.1 * n }],
      ['t', 'web', 'seg_b', { impressions: n, expected: 0.02 * n, accepts: 0.005 * n }],
      ['t', 'web', 'seg_c', { impressions: 499, expected: 10, accepts: 200 }],
    ],
    settings,
  );
  const tWeb = cell('t', 'web');

  it('pools all segments of a cell, and gives a segment with enough impressions a ratio of its own', () => {
    const pooled = learnedCell(model, 't', 'web')!;
    expect(pooled.impressions).toBe(2 * n + 499);
    expect(pooled.accepts).toBe(0.105 * n + 200);
    const a = learnedCell(model, 't', 'web', 'seg_a')!;
    const b = learnedCell(model, 't', 'web', 'seg_b')!;
    expect(a.ratio).toBeGreaterThan(pooled.ratio);
    expect(b.ratio).toBeLessThan(pooled.ratio);
    expect(a.ratio).toBeGreaterThan(3);
    expect(b.ratio).toBeLessThan(0.5);
    expect(a.learnedRate).toBeCloseTo(0.1, 3);
    expect(b.learnedRate).toBeCloseTo(0.005, 3);
    expect(model.ratio(tWeb, ordinal('seg_a'))).toBe(a.ratio);
    expect(model.ratio(tWeb, ordinal('seg_b'))).toBe(b.ratio);
    // No segment (or one not known): the pooled ratio.
    expect(model.ratio(tWeb, -1)).toBe(pooled.ratio);
    // The walk orders candidates by the best ratio any segment may apply.
    expect(model.upper[tWeb]).toBe(a.ratio);
    expect(model.staticPropensity[tWeb]).toBe(calibrated(offer('t').basePropensity, a.ratio));
  });

  it('ignores a segment below minSegmentImpressions: its customers get the pooled ratio', () => {
    expect(learnedCell(model, 't', 'web', 'seg_c')).toBeUndefined();
    expect(model.ratio(tWeb, ordinal('seg_c'))).toBe(model.pooled[tWeb]);
    // Its counts still count for the pooled cell (checked above); at the threshold it gets its own.
    const at = build([['t', 'web', 'seg_c', { impressions: 500, expected: 10, accepts: 200 }]], settings);
    const own = learnedCell(at, 't', 'web', 'seg_c')!;
    expect(own.impressions).toBe(500);
    expect(at.ratio(tWeb, ordinal('seg_c'))).toBe(own.ratio);
  });

  it('shrinks a segment with little data to the pooled estimate, and lets one with much data go its own way', () => {
    const few: LearningSettings = { priorStrength: S, minSegmentImpressions: 10 };
    const rest: CellSpec[] = [
      ['t', 'web', 'seg_a', { impressions: 100_000, expected: 2_000, accepts: 2_000 }],
    ];
    for (const m of [20, 200, 2_000, 200_000]) {
      // seg_b: predicted 2%, observed 50%, over m impressions.
      const segModel = build(
        [...rest, ['t', 'web', 'seg_b', { impressions: m, expected: 0.02 * m, accepts: m / 2 }]],
        few,
      );
      const pooledRatio = segModel.pooled[tWeb]!;
      const seg = learnedCell(segModel, 't', 'web', 'seg_b')!;
      // The segment's prior is the pooled estimate applied to what was predicted for it, worth S
      // impressions: its learned rate moves from there towards the observed one by m / (S + m).
      const start = calibrated(0.02, pooledRatio);
      expect(seg.learnedRate - start).toBeCloseTo(((0.5 - start) * m) / (S + m), 12);
      expect(seg.ratio).toBeCloseTo(calibrationRatio(seg.learnedRate, 0.02), 9);
      const own = odds(0.5) / odds(0.02);
      expect(seg.ratio).toBeGreaterThan(pooledRatio);
      expect(seg.ratio).toBeLessThan(own);
      // With 20 impressions against a prior worth 50, the learned rate stays nearer the start.
      if (m === 20) expect(seg.learnedRate - start).toBeLessThan(0.5 - seg.learnedRate);
      if (m === 200_000) expect(seg.ratio / own).toBeGreaterThan(0.99);
    }
  });

  it('segments that all beat their predictions by the same odds ratio each learn that ratio', () => {
    // Every segment observed at odds 4 times those predicted for it, from predictions of 1% to 20%.
    const cells: CellSpec[] = [];
    for (const [segment, e, m] of [
      ['seg_a', 0.01, 50_000],
      ['seg_b', 0.05, 10_000],
      ['seg_c', 0.2, 5_000],
    ] as const) {
      const rate = calibrated(e, 4);
      cells.push(['t', 'web', segment, { impressions: m, expected: e * m, accepts: rate * m }]);
    }
    const agreeing = build(cells, settings);
    for (const s of ['seg_a', 'seg_b', 'seg_c']) {
      const r = agreeing.ratio(tWeb, ordinal(s));
      expect(r).toBeGreaterThan(3.5);
      // Pooled over segments the prediction is an average and the pooled ratio is off (about 3.3);
      // with thousands of impressions each segment gets its own.
      expect(Math.abs(Math.log(r / 4))).toBeLessThan(0.05);
    }
  });
});

describe('LearnedModel.build: the cells it reports', () => {
  it('ratio = odds(learned rate) / odds(expected rate), with or without the expected counter', () => {
    const settings: LearningSettings = { priorStrength: S, minSegmentImpressions: 100 };
    const model = build(
      [
        ['x', 'web', null, { impressions: 5_000, expected: 50, accepts: 150 }],
        ['y', 'web', null, { impressions: 5_000, accepts: 50 }],
        ['t', 'web', 'seg_a', { impressions: 5_000, expected: 250, accepts: 400 }],
        ['t', 'web', 'seg_b', { impressions: 300, accepts: 30 }],
      ],
      settings,
    );
    expect(model.cells).toHaveLength(5);
    for (const c of model.cells) {
      expect(c.ratio, `${c.offerId} ${c.segmentId}`).toBeCloseTo(
        odds(c.learnedRate) / odds(c.expectedRate),
        9,
      );
    }
    // Without the expected counter, what was predicted is the offer's base propensity.
    expect(learnedCell(model, 'y', 'web')!.expectedRate).toBe(0.02);
    expect(learnedCell(model, 't', 'web', 'seg_b')!.expectedRate).toBe(0.02);
  });
});

describe('LearnedModel.build: what it ignores', () => {
  const good: CellSpec[] = [
    ['x', 'web', null, { impressions: 5_000, expected: 50, accepts: 150 }],
    ['t', 'web', 'seg_a', { impressions: 5_000, expected: 100, accepts: 50 }],
  ];

  it('counters of unknown offers and channels, other metrics and malformed fields', () => {
    const clean = LearnedModel.build(snapshot, counters(good), DEFAULT_LEARNING, NOW);
    const dirty = counters(good);
    for (const [field, amount] of [
      ['gone|web|-|impressions', 1_000],
      ['gone|web|-|accepts', 900],
      ['gone|email|-|accepts', 900],
      ['x|fax|-|impressions', 1_000],
      ['x|fax|-|accepts', 900],
      ['x|email|-|bogus', 900],
      ['x|email|-|clicks', 900],
      ['x|email|-|conversions', 900],
      ['x|email|-|controls', 900],
      ['x|web|-|revenue', 1e6],
      ['x|web|-', 900],
      ['x|web|-|accepts|again', 900],
      ['', 900],
      ['|||', 900],
      ['x', 900],
    ] as const) {
      dirty.set(field, amount);
    }
    const model = LearnedModel.build(snapshot, dirty, DEFAULT_LEARNING, NOW);
    expect(model.pooled).toEqual(clean.pooled);
    expect(model.upper).toEqual(clean.upper);
    expect(model.bySegment).toEqual(clean.bySegment);
    expect(model.cells).toEqual(clean.cells);
    expect(model.cells.map((c) => `${c.offerId}|${c.channel}|${c.segmentId}`).sort()).toEqual([
      't|web|null',
      't|web|seg_a',
      'x|web|null',
    ]);
  });

  it('counts of a segment the snapshot no longer has count for the pooled cell only', () => {
    const model = build([
      ...good,
      ['t', 'web', 'seg_gone', { impressions: 5_000, expected: 100, accepts: 500 }],
    ]);
    expect(learnedCell(model, 't', 'web')!.impressions).toBe(10_000);
    expect(model.cells.some((c) => c.segmentId === 'seg_gone')).toBe(false);
  });
});

describe('LearnedModel.build: candidate order', () => {
  const web = channelIndex('web');
  const ids = (model: LearnedModel, list: 'all' | 'hero' | 'unlisted') => {
    const index = model.channels[web]!;
    const candidates = list === 'hero' ? index.byPlacement.get('hero')! : index[list];
    return candidates.byStaticScore.map((o) => o.id);
  };

  it('an offer whose ratio grows moves ahead, in every list it is in', () => {
    const before = LearnedModel.identity(snapshot);
    // Base propensities: y 2%, t 2%, x 1%, equal values.
    expect(ids(before, 'all')).toEqual(['y', 't', 'x']);
    expect(ids(before, 'hero')).toEqual(['y', 't', 'x']);
    const steps = [1, 2, 3, 5].map((times) =>
      build([['x', 'web', null, { impressions: 10_000, expected: 100, accepts: 100 * times }]]),
    );
    expect(ids(steps[0]!, 'all')).toEqual(['y', 't', 'x']);
    expect(ids(steps[3]!, 'all')).toEqual(['x', 'y', 't']);
    expect(ids(steps[3]!, 'hero')).toEqual(['x', 'y', 't']);
    // x is not open to every placement, so it is not in the list of an unlisted one.
    expect(ids(steps[3]!, 'unlisted')).toEqual(['y', 't']);
    // The snapshot itself is not touched.
    expect(snapshot.channels[web]!.all.byStaticScore.map((o) => o.id)).toEqual(['y', 't', 'x']);
    const xs = steps.map((m) => m.staticPropensity[cell('x', 'web')]!);
    for (let i = 1; i < xs.length; i++) expect(xs[i]).toBeGreaterThan(xs[i - 1]!);

    // A customer without affinities now sees x first, scored at its learned static propensity.
    const shown = decideFor(profileFromRecord({ id: 'c' }), 'web', steps[3]).offers;
    expect(shown.map((c) => c.offer.id)).toEqual(['x', 'y']);
    expect(shown[0]!.propensity).toBe(xs[3]);
    expect(shown[0]!.prior).toBe(0.01);
    expect(shown[0]!.reasons).toContain('base_propensity');
  });

  it('a segment’s ratio orders the candidate by its upper bound', () => {
    const model = build([
      ['t', 'web', 'seg_a', { impressions: 10_000, expected: 200, accepts: 2_000 }],
      ['t', 'web', 'seg_b', { impressions: 10_000, expected: 200, accepts: 20 }],
    ]);
    expect(model.pooled[cell('t', 'web')]).toBeLessThan(model.upper[cell('t', 'web')]!);
    expect(ids(model, 'all')[0]).toBe('t');
  });
});

describe('LearnedModel.build: customers of differing affinities (affinity bins)', () => {
  const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

  /**
   * The counters of `n` impressions of `offerId` on web in `segmentId`, affinities drawn around
   * `centre` (logit, sd 2), accepted with the world's probability calibrated(affinity, rTrue).
   * `bins: false`: as written before the counters had affinity bins.
   */
  function shown(
    into: Map<string, number>,
    rng: Rng,
    offerId: string,
    segmentId: string | null,
    n: number,
    centre: number,
    rTrue: number,
    bins = true,
  ): void {
    const bump = (metric: Parameters<typeof counterField>[3], amount: number) => {
      const field = counterField(offerId, 'web', segmentId, metric);
      into.set(field, (into.get(field) ?? 0) + amount);
    };
    for (let i = 0; i < n; i++) {
      const a = sigmoid(centre + 2 * rng.normal());
      bump('impressions', 1);
      bump('expected', a);
      if (bins) bump(`affinityImpressions:${affinityBinOf(a)}`, 1);
      if (rng.next() < calibrated(a, rTrue)) bump('accepts', 1);
    }
  }

  it('learns the ratio that moved each customer; the old counters (no bins) learn the ratio of the means', () => {
    const rng = new Rng('learned-model', 'bins');
    const withBins = new Map<string, number>();
    shown(withBins, rng, 'x', null, 20_000, -2, 0.3);
    const fitted = LearnedModel.build(snapshot, withBins, DEFAULT_LEARNING, NOW).pooled[cell('x', 'web')]!;
    expect(Math.abs(Math.log(fitted / 0.3))).toBeLessThan(0.1);

    // The same counters without the bins: the ratio of the mean rates, as before the bins.
    const old = new Map([...withBins].filter(([field]) => !field.includes('affinityImpressions')));
    const c = old.get('x|web|-|impressions')!;
    const model = LearnedModel.build(snapshot, old, DEFAULT_LEARNING, NOW);
    const learned = learnedCell(model, 'x', 'web')!;
    expect(model.pooled[cell('x', 'web')]).toBe(
      calibrationRatio(learned.learnedRate, old.get('x|web|-|expected')! / c),
    );
    expect(Math.abs(Math.log(model.pooled[cell('x', 'web')]! / 0.3))).toBeGreaterThan(0.2);
  });

  it('a window half without bins (a deployment within it) still learns, between the two', () => {
    const rng = new Rng('learned-model', 'mixed');
    const counts = new Map<string, number>();
    shown(counts, rng, 'x', null, 10_000, -2, 0.3, false);
    shown(counts, rng, 'x', null, 10_000, -2, 0.3, true);
    const r = LearnedModel.build(snapshot, counts, DEFAULT_LEARNING, NOW).pooled[cell('x', 'web')]!;
    const old = new Map([...counts].filter(([field]) => !field.includes('affinityImpressions')));
    const before = LearnedModel.build(snapshot, old, DEFAULT_LEARNING, NOW).pooled[cell('x', 'web')]!;
    expect(Number.isFinite(r)).toBe(true);
    expect(Math.abs(Math.log(r / 0.3))).toBeLessThan(Math.abs(Math.log(before / 0.3)));
  });

  it('segments of differing affinities that share a true ratio each learn it, and so does the pool', () => {
    const rng = new Rng('learned-model', 'segments');
    const counts = new Map<string, number>();
    shown(counts, rng, 't', 'seg_a', 20_000, -3, 3);
    shown(counts, rng, 't', 'seg_b', 20_000, 0, 3);
    const model = LearnedModel.build(snapshot, counts, DEFAULT_LEARNING, NOW);
    const tWeb = cell('t', 'web');
    expect(Math.abs(Math.log(model.pooled[tWeb]! / 3))).toBeLessThan(0.1);
    for (const s of ['seg_a', 'seg_b'])
      expect(Math.abs(Math.log(model.ratio(tWeb, ordinal(s)) / 3))).toBeLessThan(0.1);
  });

  it('with accepts exactly as the affinities predicted, the ratio is 1 (selection is not success)', () => {
    const rng = new Rng('learned-model', 'as-predicted');
    const counts = new Map<string, number>();
    shown(counts, rng, 'x', null, 20_000, -1, 1);
    const r = LearnedModel.build(snapshot, counts, DEFAULT_LEARNING, NOW).pooled[cell('x', 'web')]!;
    expect(Math.abs(Math.log(r))).toBeLessThan(0.05);
  });
});
