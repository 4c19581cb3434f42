import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_RULES } from '../../test/helpers.js';
import { CHANNELS } from '../domain/channel.js';
import { NO_USAGE } from '../domain/contact.js';
import { profileFromRecord } from '../domain/profile.js';
import { buildRuleset, loadRuleset } from '../ruleset/load.js';
import { decide } from './decide.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const snapshot = await loadRuleset(EXAMPLE_RULES, NOW);
const products = [...new Set(snapshot.offers.map((o) => o.productId))];

const attributeValue = fc.oneof(
  fc.integer({ min: -10, max: 300_000 }),
  fc.double({ noNaN: false }),
  fc.string({ maxLength: 8 }),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('north', 'student', 'web', 'call_center', '2020-01-01', 'at_risk'),
);
const attributeName = fc.constantFrom(
  'age',
  'clv',
  'tenureYears',
  'income',
  'region',
  'employment',
  'churnRisk',
  'homeOwner',
  'preferredChannel',
  'accountOpened',
  'digitalActive',
  'lifecycle',
  '__proto__',
  'constructor',
);
const profileArb = fc.record({
  id: fc.string({ minLength: 1, maxLength: 12 }),
  attributes: fc.dictionary(attributeName, attributeValue, { maxKeys: 10 }),
  consent: fc.record(Object.fromEntries(CHANNELS.map((c) => [c, fc.boolean()]))),
  holdings: fc.subarray(products),
  affinities: fc.uniqueArray(
    fc.record({ product: fc.constantFrom(...products), score: fc.double({ min: 0, max: 1, noNaN: true }) }),
    { selector: (a) => a.product, maxLength: 20 },
  ),
});
const requestArb = fc.record({
  channel: fc.constantFrom(...CHANNELS),
  placement: fc.constantFrom(null, 'home-hero', 'account-sidebar', 'home-card', 'nowhere'),
  limit: fc.integer({ min: 1, max: 20 }),
  context: fc.dictionary(fc.constantFrom('intent', 'page', 'x'), attributeValue, { maxKeys: 3 }),
  explain: fc.boolean(),
});

describe('decide() over the example ruleset, for any profile and request', () => {
  it('never throws and keeps its invariants', () => {
    fc.assert(
      fc.property(profileArb, requestArb, (record, request) => {
        const profile = profileFromRecord(record);
        const result = decide({ snapshot, profile, history: [], usage: NO_USAGE, request, now: NOW });
        const offers = result.offers;
        expect(offers.length).toBeLessThanOrEqual(request.limit);
        offers.forEach((o, i) => {
          expect(o.rank).toBe(i + 1);
          expect(o.score).toBeGreaterThan(0);
          if (i > 0) expect(o.score).toBeLessThanOrEqual(offers[i - 1]!.score);
          expect(o.offer.channels).toContain(request.channel);
          expect(o.creative).toBeTruthy();
          expect(profile.holdings.has(o.offer.productId)).toBe(false);
          expect(now(o.offer.validFrom, o.offer.validTo)).toBe(true);
        });
        expect(new Set(offers.map((o) => o.offer.group)).size).toBe(offers.length);
        expect(result.suppressed === null).toBe(!request.explain);
        if (result.suppressed) {
          // With explain, every candidate is accounted for exactly once: chosen or suppressed.
          const seen = [...offers.map((o) => o.offer.id), ...result.suppressed.map((s) => s.offer.id)];
          expect(new Set(seen).size).toBe(seen.length);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('is deterministic: the same input gives the same decision', () => {
    fc.assert(
      fc.property(profileArb, requestArb, (record, request) => {
        const input = {
          snapshot,
          profile: profileFromRecord(record),
          history: [],
          usage: NO_USAGE,
          request,
          now: NOW,
        };
        const ids = (r: ReturnType<typeof decide>) => r.offers.map((o) => [o.offer.id, o.score]);
        expect(ids(decide(input))).toEqual(ids(decide(input)));
      }),
      { numRuns: 100 },
    );
  });

  it('chooses and holds out the same offers with and without explain', () => {
    fc.assert(
      fc.property(profileArb, requestArb, (record, request) => {
        const base = { snapshot, profile: profileFromRecord(record), history: [], usage: NO_USAGE, now: NOW };
        const plain = decide({ ...base, request: { ...request, explain: false } });
        const explained = decide({ ...base, request: { ...request, explain: true } });
        expect(plain.offers.map((o) => o.offer.id)).toEqual(explained.offers.map((o) => o.offer.id));
        expect(plain.heldOut.map((o) => o.offer.id)).toEqual(explained.heldOut.map((o) => o.offer.id));
      }),
      { numRuns: 200 },
    );
  });
});

function now(from: number, to: number): boolean {
  return from <= NOW && NOW <= to;
}

describe('decide() walks the catalog best-first', () => {
  const offers = Array.from(
    { length: 300 },
    (_, i) => `  - id: o${i}
    name: Offer ${i}
    campaign: c1
    product: p${i}
    channels: [web]
    value: ${1000 - i}
    when: context.probe
    creatives:
      web: { headline: H, image: /i.png, link: /l }
`,
  ).join('');
  const text = `campaigns:\n  - id: c1\n    name: C\n    objective: cross_sell\noffers:\n${offers}`;
  const catalog = buildRuleset([{ name: 'catalog.yaml', text }], NOW);

  function evaluations(explain: boolean): number {
    let count = 0;
    // A getter counts how often an eligibility condition reads the request context.
    const context = {
      get probe() {
        count++;
        return true;
      },
    };
    const result = decide({
      snapshot: catalog,
      profile: profileFromRecord({ id: 'c' }),
      history: [],
      usage: NO_USAGE,
      now: NOW,
      request: { channel: 'web', placement: null, limit: 3, context, explain },
    });
    expect(result.offers.map((o) => o.offer.id)).toEqual(['o0', 'o1', 'o2']);
    return count;
  }

  it('evaluates only the conditions of the offers it needs, however large the catalog', () => {
    expect(evaluations(false)).toBe(3);
    expect(evaluations(true)).toBe(300);
  });
});
