import { describe, expect, it } from 'vitest';
import { rule } from '../../test/support/rule.js';
import { CustomerAffinities, type CustomerAffinityOptions } from './customer-affinities.js';
import { transactionsFromBaskets } from './transactions.js';

const LONG = 'x'.repeat(11);
// Items by first appearance: 0 bread, 1 butter, 2 jam, 3 milk, 4 coffee, 5 LONG (a name too long).
const ts = transactionsFromBaskets(
  [['bread', 'butter'], ['bread', 'jam'], ['bread'], ['milk'], ['coffee', LONG], ['milk'], ['jam']],
  ['ann', 'ann', 'ann', 'bob', 'bob', null, 'a-much-too-long-id'],
);
const rules = [
  rule([0], [1], 0.61234), // bread ⇒ butter
  rule([0], [3], 0.4), // bread ⇒ milk
  rule([3], [4], 0.3), // milk ⇒ coffee
  rule([3], [5], 0.9), // milk ⇒ LONG, never recommended
  rule([2], [0], 0.5), // jam ⇒ bread
];
const OPTIONS: CustomerAffinityOptions = {
  top: 5,
  scoring: 'confidence',
  decimals: 2,
  maxProduct: 10,
  maxHoldings: 2,
  maxId: 10,
};
const customers = new CustomerAffinities(ts, rules, OPTIONS);
const ANN = customers.customerOf('ann');
const BOB = customers.customerOf('bob');

describe('CustomerAffinities', () => {
  it('finds customers by id and knows which ids a profile can take', () => {
    expect(customers.customers).toBe(3);
    expect([ANN, BOB, customers.customerOf('nobody')]).toEqual([0, 1, -1]);
    expect([customers.validId(ANN), customers.validId(2)]).toEqual([true, false]);
  });

  it('lists what a customer bought as holdings: sorted, too long names left out, the most bought first when too many', () => {
    expect(Array.from(customers.itemsOf(ANN))).toEqual([0, 1, 2]);
    // bread three times; butter and jam once each, butter first by name.
    expect(customers.holdingsOf(ANN)).toEqual(['bread', 'butter']);
    expect(customers.holdingsOf(BOB)).toEqual(['coffee', 'milk']);
  });

  it('recommends what the rules that fire name, not held, rounded, never a too long name', () => {
    expect(customers.affinitiesFor(customers.itemsOf(ANN))).toEqual([{ product: 'milk', score: 0.4 }]);
    expect(customers.minedProfile(BOB)).toEqual({ id: 'bob', holdings: ['coffee', 'milk'], affinities: [] });
    expect(customers.affinitiesFor([0])).toEqual([
      { product: 'butter', score: 0.61 },
      { product: 'milk', score: 0.4 },
    ]);
  });

  it('merges into a profile: its holdings count as held, per product the higher score, the top K', () => {
    const profile = {
      id: 'bob',
      holdings: ['jam', 'unknown-product'],
      affinities: [
        { product: 'bread', score: 0.2 },
        { product: 'loan', score: 0.9 },
      ],
      attributes: { age: 40 },
    };
    const { affinities, profile: merged } = customers.mergeInto(profile, BOB);
    // jam (held by the profile) ⇒ bread 0.5; milk ⇒ coffee is held already.
    expect(affinities).toEqual([{ product: 'bread', score: 0.5 }]);
    expect(merged).toEqual({
      ...profile,
      affinities: [
        { product: 'loan', score: 0.9 },
        { product: 'bread', score: 0.5 },
      ],
    });
    expect(profile.affinities).toHaveLength(2);
    const top1 = new CustomerAffinities(ts, rules, { ...OPTIONS, top: 1 });
    expect(top1.mergeInto(profile, BOB).profile.affinities).toEqual([{ product: 'loan', score: 0.9 }]);
  });

  it('leaves a profile as it is when nothing is mined for it', () => {
    const profile = { id: 'bob' };
    expect(customers.mergeInto(profile, BOB)).toEqual({ affinities: [], profile });
    expect(customers.mergeInto(profile, BOB).profile).toBe(profile);
  });
});
