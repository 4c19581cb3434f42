import { describe, expect, it } from 'vitest';
import { learningRules } from '../../test/learning-rules.js';
import { channelIndex } from '../domain/channel.js';
import { NO_USAGE } from '../domain/contact.js';
import { type CustomerProfile, type ProfileRecord, profileFromRecord } from '../domain/profile.js';
import { Rng } from '../domain/random.js';
import { counterField } from '../feedback/feedback-effects.js';
import { cellOf, DEFAULT_LEARNING, LearnedModel } from '../learning/learned-model.js';
import { calibrated } from '../learning/response-rate.js';
import { buildRuleset } from '../ruleset/load.js';
import type { CompiledOffer, RulesetSnapshot } from '../ruleset/snapshot.js';
import { decide, type EngineDecision } from './decide.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const WEB = channelIndex('web');

function decideOn(
  snapshot: RulesetSnapshot,
  profile: CustomerProfile,
  learned: LearnedModel | undefined,
  limit: number,
  context: Record<string, string> = {},
  explain = false,
): EngineDecision {
  return decide({
    snapshot,
    profile,
    history: [],
    usage: NO_USAGE,
    now: NOW,
    learned,
    request: { channel: 'web', placement: null, limit, context, explain },
  });
}

const creative = `    creatives:
      web: { headline: H, image: /i.png, link: /l }
`;
const RULES = learningRules(
  ['a', 'b', 'c'],
  [
    { id: 'open', name: 'Open' },
    { id: 'targeted', name: 'Targeted', segments: ['seg_a', 'seg_b', 'seg_c'] },
  ],
  [
    { id: 'x', campaign: 'open', product: 'px', basePropensity: 0.01 },
    { id: 'y', campaign: 'open', product: 'py', basePropensity: 0.02 },
    { id: 't', campaign: 'targeted', product: 'pt', basePropensity: 0.02 },
  ],
);
const snapshot = buildRuleset([{ name: 'rules.yaml', text: RULES }], NOW);
const offer = (id: string) => snapshot.offerById.get(id)!;
const ordinal = (id: string) => snapshot.segmentById.get(id)!.ordinal;

function counters(cells: [string, string | null, number, number, number][]): Map<string, number> {
  const out = new Map<string, number>();
  for (const [offerId, segmentId, impressions, expected, accepts] of cells) {
    out.set(counterField(offerId, 'web', segmentId, 'impressions'), impressions);
    out.set(counterField(offerId, 'web', segmentId, 'expected'), expected);
    out.set(counterField(offerId, 'web', segmentId, 'accepts'), accepts);
  }
  return out;
}

describe('decide() with a learned model', () => {
  it('an offer that does far better than thought wins over one the customer has a higher affinity for', () => {
    const customer = profileFromRecord({
      id: 'c',
      affinities: [
        { product: 'px', score: 0.05 },
        { product: 'py', score: 0.2 },
      ],
    });
    expect(decideOn(snapshot, customer, undefined, 2).offers.map((o) => o.offer.id)).toEqual(['y', 'x']);
    // x: predicted 5%, accepted 30%.
    const model = LearnedModel.build(
      snapshot,
      counters([['x', null, 20_000, 1_000, 6_000]]),
      DEFAULT_LEARNING,
      NOW,
    );
    const ratio = model.pooled[cellOf(offer('x'), WEB)]!;
    expect(ratio).toBeGreaterThan(7);
    const [first, second] = decideOn(snapshot, customer, model, 2).offers;
    expect(first!.offer.id).toBe('x');
    expect(first!.prior).toBe(0.05);
    expect(first!.propensity).toBe(calibrated(0.05, ratio));
    expect(first!.score).toBe(calibrated(0.05, ratio) * 100);
    expect(first!.reasons).toContain('affinity:px');
    // y learned nothing: its propensity is still its affinity.
    expect(second!.offer.id).toBe('y');
    expect(second!.propensity).toBe(0.2);
  });

  describe('a targeted offer with a ratio per segment', () => {
    // t: in seg_a accepted 5× as often as predicted, in seg_b a quarter as often; seg_c too small.
    const model = LearnedModel.build(
      snapshot,
      counters([
        ['t', 'seg_a', 20_000, 400, 1_850],
        ['t', 'seg_b', 20_000, 400, 100],
        ['t', 'seg_c', 100, 2, 10],
      ]),
      DEFAULT_LEARNING,
      NOW,
    );
    const cell = cellOf(offer('t'), WEB);
    const ratioOf = (segmentId: string) =>
      model.cells.find((c) => c.offerId === 't' && c.segmentId === segmentId)?.ratio;
    const pooled = model.pooled[cell]!;

    it('has learned different ratios (the premise)', () => {
      expect(ratioOf('seg_a')).toBeGreaterThan(4);
      expect(ratioOf('seg_b')).toBeLessThan(0.5);
      expect(ratioOf('seg_c')).toBeUndefined();
      expect(pooled).toBeGreaterThan(ratioOf('seg_b')!);
      expect(pooled).toBeLessThan(ratioOf('seg_a')!);
    });

    for (const withAffinity of [true, false]) {
      it(`gives each customer the ratio of their segment (${withAffinity ? 'affinity' : 'base propensity'})`, () => {
        const prior = withAffinity ? 0.03 : offer('t').basePropensity;
        const customerIn = (tier: string) =>
          profileFromRecord({
            id: `c-${tier}`,
            attributes: { tier },
            affinities: withAffinity ? [{ product: 'pt', score: 0.03 }] : [],
          });
        for (const [tier, segmentId, ratio] of [
          ['a', 'seg_a', ratioOf('seg_a')!],
          ['b', 'seg_b', ratioOf('seg_b')!],
          ['c', 'seg_c', pooled],
        ] as const) {
          expect(model.ratio(cell, ordinal(segmentId))).toBe(ratio);
          const result = decideOn(snapshot, customerIn(tier), model, 3);
          const t = result.offers.find((o) => o.offer.id === 't')!;
          expect(t.segmentId).toBe(segmentId);
          expect(t.prior).toBe(prior);
          expect(t.propensity).toBe(calibrated(prior, ratio));
          expect(t.score).toBe(calibrated(prior, ratio) * 100);
          expect(t.reasons).toContain(withAffinity ? 'affinity:pt' : 'base_propensity');
          expect(t.reasons).not.toContain(withAffinity ? 'base_propensity' : 'affinity:pt');
          // Still in score order: t ranks where its exact score puts it.
          const scores = result.offers.map((o) => o.score);
          expect(scores).toEqual([...scores].sort((p, q) => q - p));
        }
        // seg_a's customer sees t first, seg_b's last (x and y score 1 and 2).
        expect(decideOn(snapshot, customerIn('a'), model, 3).offers[0]!.offer.id).toBe('t');
        expect(decideOn(snapshot, customerIn('b'), model, 3).offers.map((o) => o.offer.id)).toEqual([
          'y',
          'x',
          't',
        ]);
        expect(decideOn(snapshot, customerIn('b'), model, 2).offers.map((o) => o.offer.id)).toEqual([
          'y',
          'x',
        ]);
        // Outside every target segment: not a candidate, whatever it learned.
        expect(decideOn(snapshot, customerIn('z'), model, 3).offers.map((o) => o.offer.id)).toEqual([
          'y',
          'x',
        ]);
      });
    }
  });
});

describe('decide() with a learned model walks in exact score order', () => {
  // A generated catalog: 4 campaigns (one untargeted, three targeting overlapping segments),
  // 48 offers over 16 products and 10 groups, some with a condition on the request.
  const gen = new Rng('walk-catalog');
  const segmentWhen = [
    'customer.age < 40',
    'customer.age >= 30',
    'customer.income > 50000',
    'customer.vip == true',
  ];
  const inSegment = (p: ProfileRecord) => {
    const a = p.attributes ?? {};
    return [(a.age as number) < 40, (a.age as number) >= 30, (a.income as number) > 50_000, a.vip === true];
  };
  const targets = [[], ['s0', 's1'], ['s2', 's3'], ['s1', 's3']];
  const text = `segments:
${segmentWhen.map((when, i) => `  - id: s${i}\n    when: ${when}\n`).join('')}campaigns:
${targets
  .map(
    (segments, i) =>
      `  - id: c${i}\n    name: C${i}\n    objective: cross_sell\n    priority: ${[1, 1.5, 1, 0.8][i]}\n` +
      (segments.length > 0 ? `    segments: [${segments.join(', ')}]\n` : ''),
  )
  .join('')}offers:
${Array.from(
  { length: 48 },
  (_, i) => `  - id: o${i}
    name: O${i}
    campaign: c${i % 4}
    product: p${i % 16}
    group: g${i % 10}
    channels: [web]
    value: ${gen.float(10, 200).toFixed(2)}
    basePropensity: ${gen.float(0.005, 0.2).toFixed(4)}
${i % 5 === 0 ? "    when: context.page == 'home'\n" : ''}${creative}`,
).join('')}contactPolicies:
  - channel: web
    cost: 0.3
    preferredChannelFit: 1.4
`;
  const catalog = buildRuleset([{ name: 'catalog.yaml', text }], NOW);

  // Counters for most cells, per target segment for targeted campaigns: ratios from 1/7 to 7, and
  // segments above and below minSegmentImpressions (500).
  const field = new Map<string, number>();
  for (const o of catalog.offers) {
    const segments = o.campaign.segments.length > 0 ? o.campaign.segments.map((s) => s.id) : [null];
    for (const segmentId of segments) {
      if (gen.chance(0.15)) continue;
      const impressions = gen.int(0, 2_500);
      const predicted = gen.float(0.01, 0.3);
      const accepts = Math.round(impressions * calibrated(predicted, Math.exp(gen.float(-2, 2))));
      field.set(counterField(o.id, 'web', segmentId, 'impressions'), impressions);
      if (gen.chance(0.9))
        field.set(counterField(o.id, 'web', segmentId, 'expected'), impressions * predicted);
      field.set(counterField(o.id, 'web', segmentId, 'accepts'), accepts);
    }
  }
  const learned = LearnedModel.build(catalog, field, DEFAULT_LEARNING, NOW);
  const products = Array.from({ length: 16 }, (_, i) => `p${i}`);

  /** The slate by brute force: every candidate scored exactly for this customer, sorted, picked greedily. */
  function bruteForce(model: LearnedModel, record: ProfileRecord, page: string, limit: number) {
    const member = inSegment(record);
    const holdings = new Set(record.holdings);
    const affinity = new Map((record.affinities ?? []).map((a) => [a.product, a.score]));
    const fit = record.attributes?.preferredChannel === 'web' ? 1.4 : 1;
    const scored: {
      offer: CompiledOffer;
      score: number;
      propensity: number;
      prior: number;
      segmentId: string | null;
    }[] = [];
    for (const o of catalog.offers) {
      const i = Number(o.id.slice(1));
      const targeted = o.campaign.segments.length > 0;
      const segment = o.campaign.segments.find((s) => member[s.ordinal]) ?? null;
      if (targeted && segment === null) continue;
      if (holdings.has(`p${i % 16}`)) continue;
      if (i % 5 === 0 && page !== 'home') continue;
      const prior = affinity.get(`p${i % 16}`) ?? o.basePropensity;
      const propensity = calibrated(
        prior,
        model.ratio(cellOf(o, WEB), segment === null ? -1 : segment.ordinal),
      );
      const score = propensity * o.worth * fit - 0.3;
      if (score > 0) scored.push({ offer: o, score, propensity, prior, segmentId: segment?.id ?? null });
    }
    scored.sort((a, b) => b.score - a.score || a.offer.ordinal - b.offer.ordinal);
    const groups = new Set<string>();
    const slate: (typeof scored)[number][] = [];
    for (const s of scored) {
      if (slate.length >= limit) break;
      if (groups.has(s.offer.group)) continue;
      groups.add(s.offer.group);
      slate.push(s);
    }
    return slate.map((s) => ({
      id: s.offer.id,
      score: s.score,
      propensity: s.propensity,
      prior: s.prior,
      segmentId: s.segmentId,
    }));
  }

  it('the premise: segment ratios of their own, some above the pooled one', () => {
    expect(learned.cells.filter((c) => c.segmentId !== null).length).toBeGreaterThan(10);
    let above = 0;
    for (const o of catalog.offers) {
      const cell = cellOf(o, WEB);
      if (learned.upper[cell]! > learned.pooled[cell]!) above++;
    }
    expect(above).toBeGreaterThan(5);
  });

  it('equals the brute force for 600 random customers, with and without explain, learned or not', () => {
    const rng = new Rng('walk-customers');
    let shown = 0;
    let bySegment = 0;
    for (let n = 0; n < 600; n++) {
      const record: ProfileRecord = {
        id: `cust-${n}`,
        attributes: {
          age: rng.int(18, 80),
          income: rng.int(0, 100_000),
          vip: rng.chance(0.3),
          preferredChannel: rng.chance(0.5) ? 'web' : 'email',
        },
        holdings: products.filter(() => rng.chance(0.1)),
        affinities: products
          .filter(() => rng.chance(0.4))
          .map((product) => ({ product, score: rng.float(0, 0.6) })),
      };
      const profile = profileFromRecord(record);
      const page = rng.chance(0.5) ? 'home' : 'other';
      const limit = rng.int(1, 6);
      for (const model of [learned, LearnedModel.identity(catalog)]) {
        const expected = bruteForce(model, record, page, limit);
        for (const explain of [false, true]) {
          const result = decideOn(catalog, profile, model, limit, { page }, explain);
          const got = result.offers.map((o) => ({
            id: o.offer.id,
            score: o.score,
            propensity: o.propensity,
            prior: o.prior,
            segmentId: o.segmentId,
          }));
          expect(got, `customer ${n}, limit ${limit}, explain ${explain}`).toEqual(expected);
          const affinity = new Map((record.affinities ?? []).map((a) => [a.product, a.score]));
          shown += result.offers.length;
          for (const o of result.offers) {
            if (model.bySegment[cellOf(o.offer, WEB)] != null) bySegment++;
            const hasAffinity = affinity.has(o.offer.productId);
            expect(o.reasons).toContain(hasAffinity ? `affinity:${o.offer.productId}` : 'base_propensity');
          }
        }
      }
    }
    // Not a vacuous comparison: full slates, many offers rescored for the customer's segment.
    expect(shown).toBeGreaterThan(4 * 600);
    expect(bySegment).toBeGreaterThan(300);
  });
});
