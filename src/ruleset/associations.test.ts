import { describe, expect, it } from 'vitest';
import { NO_USAGE } from '../domain/contact.js';
import { type CustomerProfile, profileFromRecord } from '../domain/profile.js';
import { decide } from '../engine/decide.js';
import { RulesetError, type RulesProblem } from '../errors.js';
import { ASSOCIATIONS_FILE, parseAssociations } from './associations.js';
import { buildRuleset, type RulesSource } from './load.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');

const line = (antecedent: string[], consequent: string[], confidence: number, lift = 2) =>
  JSON.stringify({ antecedent, consequent, support: 0.01, confidence, lift, count: 100 });

const MINED = [
  line(['card'], ['travel'], 0.3, 2.5),
  line(['card', 'savings'], ['travel'], 0.6, 4),
  line(['loan'], ['insurance'], 0.45, 3),
  line(['card'], ['savings', 'insurance'], 0.2, 1.5),
].join('\n');

describe('parseAssociations', () => {
  it('reads rules and answers the best confidence of the rules that fire on the holdings', () => {
    const problems: RulesProblem[] = [];
    const a = parseAssociations(ASSOCIATIONS_FILE, `${MINED}\n\n`, problems);
    expect(problems).toEqual([]);
    expect(a.size).toBe(4);
    expect(a.confidence('travel', new Set(['card']))).toBe(0.3);
    // Both rules fire: the better one counts.
    expect(a.confidence('travel', new Set(['card', 'savings']))).toBe(0.6);
    expect(a.confidence('travel', new Set(['savings']))).toBe(0);
    // A two-product consequent counts for each of its products.
    expect(a.confidence('savings', new Set(['card']))).toBe(0.2);
    expect(a.confidence('insurance', new Set(['card', 'loan']))).toBe(0.45);
  });

  it('lists what fires for the dossier: products not held, best first, with the holdings behind them', () => {
    const a = parseAssociations(ASSOCIATIONS_FILE, MINED, []);
    expect(a.firing(new Set(['card', 'savings']), 5)).toEqual([
      { product: 'travel', confidence: 0.6, lift: 4, support: 0.01, because: ['card', 'savings'] },
      { product: 'insurance', confidence: 0.2, lift: 1.5, support: 0.01, because: ['card'] },
    ]);
    expect(a.firing(new Set(['card', 'savings']), 1)).toHaveLength(1);
    expect(a.firing(new Set(), 5)).toEqual([]);
  });

  it('names the line and the reason of every bad rule', () => {
    const problems: RulesProblem[] = [];
    parseAssociations(
      ASSOCIATIONS_FILE,
      [
        line(['a'], ['b'], 0.5),
        'not json',
        JSON.stringify({
          antecedent: [],
          consequent: ['b'],
          support: 0.1,
          confidence: 0.5,
          lift: 1,
          count: 1,
        }),
        JSON.stringify({
          antecedent: ['a'],
          consequent: ['b'],
          support: 0.1,
          confidence: 1.5,
          lift: 1,
          count: 1,
        }),
        '[1, 2]',
      ].join('\n'),
      problems,
    );
    expect(problems.map((p) => [p.line, p.message])).toEqual([
      [2, 'not a JSON object'],
      [3, 'antecedent must be a list of at least 1 product ids'],
      [4, 'confidence must be a number from 0 to 1'],
      [5, 'not a JSON object'],
    ]);
    expect(problems.every((p) => p.file === ASSOCIATIONS_FILE)).toBe(true);
  });
});

const RULES = `
campaigns:
  - { id: cross, name: Cross-sell, objective: cross_sell }
offers:
  - id: travel-cover
    name: Travel cover
    campaign: cross
    product: travel
    channels: [web]
    value: 10
    basePropensity: 0.01
    propensity: "max(affinity('travel'), association('travel'))"
    creatives: { web: { headline: Travel, image: /t.png, link: "https://bank.example/t" } }
  - id: savings-plus
    name: Savings plus
    campaign: cross
    product: savings
    channels: [web]
    value: 10
    basePropensity: 0.05
    when: "association('savings') > 0.1"
    creatives: { web: { headline: Savings, image: /s.png, link: "https://bank.example/s" } }
`;

function ruleset(associations: string | null) {
  const sources: RulesSource[] = [{ name: 'rules.yaml', text: RULES }];
  if (associations !== null) sources.push({ name: ASSOCIATIONS_FILE, text: associations });
  return buildRuleset(sources, NOW);
}

function decideWeb(snapshot: ReturnType<typeof ruleset>, profile: CustomerProfile) {
  return decide({
    snapshot,
    profile,
    history: [],
    usage: NO_USAGE,
    now: NOW,
    request: { channel: 'web', placement: null, limit: 2, context: {}, explain: true },
  });
}

describe('association() in rules', () => {
  const holder = profileFromRecord({ id: 'c-1', holdings: ['card', 'savings-old'] });

  it('gives an offer its propensity, and the reason names the association', () => {
    const snapshot = ruleset(MINED);
    const d = decideWeb(snapshot, holder);
    const travel = d.offers.find((o) => o.offer.id === 'travel-cover')!;
    expect(travel.prior).toBe(0.3);
    expect(travel.propensity).toBe(0.3);
    expect(travel.score).toBeCloseTo(0.3 * 10, 12);
    expect(travel.reasons).toEqual(['campaign:cross', 'propensity_rule', 'association:travel']);
    // Without associations the expression falls back to the affinity (none here: 0), not the base rate.
    const without = decideWeb(ruleset(null), holder);
    expect(without.offers.find((o) => o.offer.id === 'travel-cover')).toBeUndefined();
    expect(without.suppressed?.find((s) => s.offer.id === 'travel-cover')?.code).toBe('unprofitable');
  });

  it('takes the higher of affinity and association when the rule says max()', () => {
    const snapshot = ruleset(MINED);
    const fan = profileFromRecord({
      id: 'c-2',
      holdings: ['card'],
      affinities: [{ product: 'travel', score: 0.8 }],
    });
    const travel = decideWeb(snapshot, fan).offers.find((o) => o.offer.id === 'travel-cover')!;
    expect(travel.prior).toBe(0.8);
    expect(travel.reasons).toContain('association:travel');
  });

  it('decides eligibility', () => {
    const snapshot = ruleset(MINED);
    // card => {savings, insurance} at 0.2 fires: eligible.
    expect(decideWeb(snapshot, holder).offers.map((o) => o.offer.id)).toContain('savings-plus');
    const nobody = profileFromRecord({ id: 'c-3', holdings: ['loan'] });
    expect(decideWeb(snapshot, nobody).suppressed?.find((s) => s.offer.id === 'savings-plus')?.code).toBe(
      'not_eligible',
    );
  });

  it('is part of the ruleset: a bad associations file rejects it with file and line', () => {
    let error: unknown;
    try {
      ruleset(`${line(['a'], ['b'], 0.5)}\n{"antecedent":["a"]}`);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RulesetError);
    expect((error as RulesetError).problems).toEqual([
      expect.objectContaining({ file: ASSOCIATIONS_FILE, line: 2 }),
    ]);
    // And its text is part of the version: new associations, a new ruleset version.
    expect(ruleset(MINED).version).not.toBe(ruleset(null).version);
  });

  it('rejects a propensity expression that does not compile, with its path', () => {
    let error: unknown;
    try {
      buildRuleset(
        [{ name: 'rules.yaml', text: RULES.replace("association('travel'))", "association('travel')") }],
        NOW,
      );
    } catch (err) {
      error = err;
    }
    expect((error as RulesetError).problems[0]).toMatchObject({
      file: 'rules.yaml',
      path: '/offers/0/propensity',
    });
  });
});
