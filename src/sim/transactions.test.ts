import { describe, expect, it } from 'vitest';
import type { ProfileRecord } from '../domain/profile.js';
import { generatePopulation } from './population.js';
import {
  generateTransactions,
  PARTNER_RATE,
  productPartners,
  TRANSACTIONS_CSV_HEADER,
  type Transaction,
  toCsvLines,
} from './transactions.js';

const PRODUCTS = Array.from({ length: 40 }, (_, i) => `prod-${String(i + 1).padStart(4, '0')}`);
const population = [...generatePopulation(500, PRODUCTS, { seed: 42, affinities: 10 })];

describe('generateTransactions', () => {
  it('is deterministic by seed', () => {
    const a = [...generateTransactions(population, { seed: 1, products: PRODUCTS })];
    expect([...generateTransactions(population, { seed: 1, products: PRODUCTS })]).toEqual(a);
    expect([...generateTransactions(population, { seed: 2, products: PRODUCTS })]).not.toEqual(a);
  });

  it('gives each customer basketsPerCustomer baskets (default 3) with sequential ids', () => {
    const txs = [...generateTransactions(population, { seed: 1 })];
    expect(txs).toHaveLength(1500);
    expect(txs.map((t) => t.transactionId)).toEqual(txs.map((_, i) => `tx-${i + 1}`));
    expect(txs.slice(0, 4).map((t) => t.customerId)).toEqual(['cust-1', 'cust-1', 'cust-1', 'cust-2']);
    expect([...generateTransactions(population, { seed: 1, basketsPerCustomer: 0 })]).toEqual([]);
    expect([
      ...generateTransactions(population.slice(0, 2), { seed: 1, basketsPerCustomer: 5 }),
    ]).toHaveLength(10);
    expect(() => [...generateTransactions(population, { seed: 1, basketsPerCustomer: -1 })]).toThrow(
      RangeError,
    );
  });

  it('fills baskets with distinct products of the customer (and of the catalog when given)', () => {
    const byId = new Map(population.map((p) => [p.id, p]));
    const own = [...generateTransactions(population, { seed: 1 })];
    for (const t of own) {
      const p = byId.get(t.customerId)!;
      const mine = new Set([...(p.holdings ?? []), ...(p.affinities ?? []).map((a) => a.product)]);
      expect(t.items.length).toBeGreaterThanOrEqual(1);
      expect(new Set(t.items).size).toBe(t.items.length);
      for (const item of t.items) expect(mine.has(item)).toBe(true);
    }
    for (const t of generateTransactions(population, { seed: 1, products: PRODUCTS })) {
      expect(t.items.length).toBeGreaterThanOrEqual(1);
      expect(new Set(t.items).size).toBe(t.items.length);
      for (const item of t.items) expect(PRODUCTS).toContain(item);
    }
  });

  it('buys a product the customer has a high affinity for more often than average', () => {
    const others = PRODUCTS.slice(1, 20).map((product) => ({ product, score: 0.02 }));
    const fan: ProfileRecord = {
      id: 'fan',
      holdings: ['prod-0040'],
      affinities: [{ product: 'prod-0001', score: 0.9 }, ...others],
    };
    const counts = new Map<string, number>();
    for (const t of generateTransactions([fan], { seed: 3, basketsPerCustomer: 3000 })) {
      for (const item of t.items) counts.set(item, (counts.get(item) ?? 0) + 1);
    }
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const average = total / counts.size;
    expect(counts.get('prod-0001')!).toBeGreaterThan(3 * average);
    // and the purchase rate rises with the score across the population
    let high = 0;
    let highBought = 0;
    let low = 0;
    let lowBought = 0;
    const txs = [...generateTransactions(population, { seed: 5, basketsPerCustomer: 20 })];
    const bought = new Map<string, Set<string>>();
    for (const t of txs) {
      const set = bought.get(t.customerId) ?? new Set<string>();
      for (const i of t.items) set.add(i);
      bought.set(t.customerId, set);
    }
    for (const p of population) {
      for (const a of p.affinities ?? []) {
        const got = bought.get(p.id)?.has(a.product) ? 1 : 0;
        if (a.score >= 0.3) {
          high++;
          highBought += got;
        } else if (a.score < 0.05) {
          low++;
          lowBought += got;
        }
      }
    }
    expect(highBought / high).toBeGreaterThan(1.5 * (lowBought / low));
  });

  it('plants the partner associations: a product’s partner joins it far more often than by chance', () => {
    const partners = productPartners(PRODUCTS, 1);
    expect(partners.size).toBe(PRODUCTS.length);
    for (const [a, b] of partners) expect(a).not.toBe(b);
    const txs = [
      ...generateTransactions(population, { seed: 1, products: PRODUCTS, basketsPerCustomer: 10 }),
    ];
    const [a, b] = [...partners][0]!;
    const withA = txs.filter((t) => t.items.includes(a));
    const confidence = withA.filter((t) => t.items.includes(b)).length / withA.length;
    const support = txs.filter((t) => t.items.includes(b)).length / txs.length;
    // Below PARTNER_RATE itself: a product that joins as someone's partner brings no partner along.
    expect(confidence).toBeGreaterThan(PARTNER_RATE / 2);
    expect(confidence / support).toBeGreaterThan(2);
  });

  it('depends per customer only on the profile, so batches with startId equal one run', () => {
    const whole = [...generateTransactions(population, { seed: 9, products: PRODUCTS })];
    const first = [...generateTransactions(population.slice(0, 200), { seed: 9, products: PRODUCTS })];
    const second = [
      ...generateTransactions(population.slice(200), {
        seed: 9,
        products: PRODUCTS,
        startId: first.length + 1,
      }),
    ];
    expect([...first, ...second]).toEqual(whole);
  });

  it('skips customers with nothing to buy unless the catalog is given', () => {
    const empty: ProfileRecord = { id: 'empty' };
    expect([...generateTransactions([empty], { seed: 1 })]).toEqual([]);
    const txs = [...generateTransactions([empty], { seed: 1, products: ['x', 'y'] })];
    expect(txs).toHaveLength(3);
    for (const t of txs) expect(t.items.length).toBeGreaterThanOrEqual(1);
  });
});

describe('toCsvLines', () => {
  const txs: Transaction[] = [
    { transactionId: 'tx-1', customerId: 'cust-1', items: ['a', 'b'] },
    { transactionId: 'tx-2', customerId: 'cust-2', items: ['c'] },
  ];

  it('writes the long format: a header, then one line per item', () => {
    expect([...toCsvLines(txs)]).toEqual([
      TRANSACTIONS_CSV_HEADER,
      'tx-1,a,cust-1',
      'tx-1,b,cust-1',
      'tx-2,c,cust-2',
    ]);
    expect(TRANSACTIONS_CSV_HEADER).toBe('transaction_id,item,customer_id');
    expect([...toCsvLines(txs, { header: false })]).toHaveLength(3);
  });

  it('quotes fields that need it', () => {
    const odd: Transaction = { transactionId: 't,1', customerId: 'c"1', items: ['x'] };
    expect([...toCsvLines([odd], { header: false })]).toEqual(['"t,1",x,"c""1"']);
  });
});
