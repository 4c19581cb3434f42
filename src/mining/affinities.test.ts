import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rule } from '../../test/support/rule.js';
import { AffinityScorer, mergeAffinities, ruleScore } from './affinities.js';
import { mineFrequentItemsets } from './fp-growth.js';
import { generateRules, nameRanks } from './rules.js';
import { transactionsFromBaskets } from './transactions.js';

// Items: 0 bread, 1 butter, 2 jam, 3 milk, 4 coffee, 5 sugar
const NAMES = ['bread', 'butter', 'jam', 'milk', 'coffee', 'sugar'];
const RANK = nameRanks(NAMES);

function scored(scorer: AffinityScorer, held: number[]) {
  const { items, scores } = scorer.score(held);
  return Array.from(items, (item, i) => [NAMES[item], scores[i]]);
}

describe('AffinityScorer', () => {
  const rules = [
    rule([0], [1], 0.6), // bread ⇒ butter
    rule([0, 1], [2], 0.5), // bread ∧ butter ⇒ jam
    rule([3], [4], 0.3), // milk ⇒ coffee
    rule([4], [5], 0.7, 1.5), // coffee ⇒ sugar
    rule([3, 0], [4], 0.45), // milk ∧ bread ⇒ coffee
  ];
  const scorer = new AffinityScorer(rules, NAMES.length, RANK, { top: 10 });

  it('fires rules whose antecedent the customer holds, on products they do not hold, best confidence first', () => {
    expect(scored(scorer, [0])).toEqual([['butter', 0.6]]);
    // bread ∧ butter held: butter is not recommended, jam is.
    expect(scored(scorer, [0, 1])).toEqual([['jam', 0.5]]);
    // milk alone gives coffee 0.3; with bread the better rule gives 0.45 (max, not sum).
    expect(scored(scorer, [3])).toEqual([['coffee', 0.3]]);
    expect(scored(scorer, [3, 0])).toEqual([
      ['butter', 0.6],
      ['coffee', 0.45],
    ]);
    // Rules do not chain: sugar needs coffee to be held.
    expect(scored(scorer, [3, 0, 1, 2])).toEqual([['coffee', 0.45]]);
    expect(scored(scorer, [5])).toEqual([]);
  });

  it('keeps the top K, breaking ties by name, and skips excluded products', () => {
    const tied = [rule([0], [5], 0.5), rule([0], [2], 0.5), rule([0], [4], 0.5), rule([0], [1], 0.9)];
    const top2 = new AffinityScorer(tied, NAMES.length, RANK, { top: 2 });
    expect(scored(top2, [0])).toEqual([
      ['butter', 0.9],
      ['coffee', 0.5],
    ]);
    const exclude = new Uint8Array(NAMES.length);
    exclude[1] = 1;
    const excluding = new AffinityScorer(tied, NAMES.length, RANK, { top: 2, exclude });
    expect(scored(excluding, [0])).toEqual([
      ['coffee', 0.5],
      ['jam', 0.5],
    ]);
  });

  it('scores by lift as 1 − 1/lift when asked; rules with an empty antecedent fire for everyone', () => {
    expect(ruleScore({ confidence: 0.2, lift: 4 }, 'lift')).toBe(0.75);
    expect(ruleScore({ confidence: 0.2, lift: 0.8 }, 'lift')).toBe(0);
    const byLift = new AffinityScorer([rule([], [3], 0.4, 1), rule([4], [5], 0.7, 1.5)], NAMES.length, RANK, {
      top: 5,
      scoring: 'lift',
    });
    expect(scored(byLift, [4])).toEqual([
      ['sugar', 1 - 1 / 1.5],
      ['milk', 0],
    ]);
    expect(scored(byLift, [3])).toEqual([]);
  });

  it('equals a direct evaluation of every rule, on mined rules over random data', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 6 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 6 }),
        fc.integer({ min: 1, max: 5 }),
        (raw, heldRaw, top) => {
          const ts = transactionsFromBaskets(raw.map((b) => b.map((i) => `p${i}`)));
          const rules = generateRules(mineFrequentItemsets(ts, { minCount: 2 }), {
            minConfidence: 0.1,
            maxConsequent: 2,
            minLength: 1,
          });
          const held = heldRaw.map((i) => ts.itemNames.indexOf(`p${i}`)).filter((i) => i >= 0);
          const rank = nameRanks(ts.itemNames);
          const scorer = new AffinityScorer(rules, ts.itemNames.length, rank, { top });
          const best = new Map<number, number>();
          for (const r of rules) {
            if (!Array.from(r.antecedent).every((i) => held.includes(i))) continue;
            for (const y of r.consequent) {
              if (held.includes(y)) continue;
              best.set(y, Math.max(best.get(y) ?? 0, r.confidence));
            }
          }
          const expected = [...best].sort((a, b) => b[1] - a[1] || rank[a[0]]! - rank[b[0]]!).slice(0, top);
          const { items, scores } = scorer.score(held);
          expect(Array.from(items, (item, i) => [item, scores[i]])).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('mergeAffinities', () => {
  it('keeps the higher score per product, best first, ties by name, top K', () => {
    expect(
      mergeAffinities(
        [
          { product: 'a', score: 0.2 },
          { product: 'b', score: 0.9 },
          { product: 'c', score: 0.5 },
        ],
        [
          { product: 'a', score: 0.6 },
          { product: 'd', score: 0.5 },
          { product: 'b', score: 0.1 },
        ],
        3,
      ),
    ).toEqual([
      { product: 'b', score: 0.9 },
      { product: 'a', score: 0.6 },
      { product: 'c', score: 0.5 },
    ]);
  });
});
