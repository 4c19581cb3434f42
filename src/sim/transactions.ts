import type { ProfileRecord } from '../domain/profile.js';
import { Rng, type Seed } from '../domain/random.js';

/**
 * Synthetic purchase baskets for market-basket mining. A customer buys mostly what they hold and
 * what they have an affinity for (the higher the score, the likelier), so mined associations and
 * the precomputed affinities tell the same story. Given the whole product list, the generator also
 * plants known associations: every product has a partner (productPartners()) that joins it in a
 * basket with probability PARTNER_RATE — the truth a miner should find with a high lift.
 */

export interface Transaction {
  transactionId: string;
  customerId: string;
  items: string[];
}

export interface TransactionOptions {
  seed: Seed;
  /** Baskets per customer; default 3. */
  basketsPerCustomer?: number;
  /**
   * Every product of the catalog: enables planted partner pairs and occasional purchases of
   * products the customer has no affinity for. Without it, items come from holdings and affinities.
   */
  products?: readonly string[];
  /** Number of the first transaction (`tx-${startId}`); default 1. Lets a caller generate in batches. */
  startId?: number;
}

export const TRANSACTIONS_CSV_HEADER = 'transaction_id,item,customer_id';
export const DEFAULT_BASKETS = 3;
/** Chance that a product's partner joins it in the basket. */
export const PARTNER_RATE = 0.35;
/** Chance that an item is a random product of the catalog rather than one of the customer's own. */
const NOISE_RATE = 0.05;
const MAX_BASKET = 6;
const HOLDING_WEIGHT = 0.6;

/** Affinity score → purchase weight; strictly increasing. */
function affinityWeight(score: number): number {
  return 0.05 + 2 * score;
}

/**
 * The planted associations: each product's partner, a different product of the list, chosen by the
 * seed. Pairs are not symmetric (a → b does not imply b → a), like real cross-sell rules.
 */
export function productPartners(products: readonly string[], seed: Seed): Map<string, string> {
  const unique = [...new Set(products)];
  const partners = new Map<string, string>();
  if (unique.length < 2) return partners;
  const rng = new Rng(seed, 'partners');
  for (let i = 0; i < unique.length; i++) {
    const j = (i + rng.int(1, unique.length - 1)) % unique.length;
    partners.set(unique[i]!, unique[j]!);
  }
  return partners;
}

/**
 * `basketsPerCustomer` baskets for each profile, lazily. A customer's baskets depend only on the
 * seed, the options and that profile, not on the customers before it, so batches of one population
 * can be generated separately (with `startId` carrying the transaction numbers on).
 */
export function* generateTransactions(
  profiles: Iterable<ProfileRecord>,
  opts: TransactionOptions,
): Generator<Transaction> {
  const baskets = opts.basketsPerCustomer ?? DEFAULT_BASKETS;
  if (!Number.isInteger(baskets) || baskets < 0) {
    throw new RangeError(`basketsPerCustomer must be a non-negative integer, got ${baskets}`);
  }
  const catalog = opts.products === undefined ? [] : [...new Set(opts.products)];
  const partners = productPartners(catalog, opts.seed);
  const rng = new Rng(opts.seed);
  let next = opts.startId ?? 1;

  const items: string[] = [];
  const weights: number[] = [];
  for (const profile of profiles) {
    rng.restart(profile.id);
    items.length = 0;
    weights.length = 0;
    for (const product of profile.holdings ?? []) {
      items.push(product);
      weights.push(HOLDING_WEIGHT);
    }
    for (const { product, score } of profile.affinities ?? []) {
      items.push(product);
      weights.push(affinityWeight(score));
    }
    if (items.length === 0 && catalog.length === 0) continue;

    for (let b = 0; b < baskets; b++) {
      let size = 1;
      while (size < MAX_BASKET && rng.chance(0.45)) size++;
      const basket: string[] = [];
      const available = weights.slice();
      let left = available.length;
      while (basket.length < size) {
        let item: string | undefined;
        if (left === 0 || (catalog.length > 0 && rng.chance(NOISE_RATE))) {
          if (catalog.length === 0) break;
          item = rng.pick(catalog);
        } else {
          const i = rng.weightedIndex(available);
          available[i] = 0;
          left--;
          item = items[i]!;
        }
        if (basket.includes(item)) {
          // A random product that is already in; with the customer's own products exhausted, stop.
          if (left === 0) break;
          continue;
        }
        basket.push(item);
        const partner = partners.get(item);
        if (partner !== undefined && basket.length < MAX_BASKET && !basket.includes(partner)) {
          if (rng.chance(PARTNER_RATE)) basket.push(partner);
        }
      }
      yield { transactionId: `tx-${next++}`, customerId: profile.id, items: basket };
    }
  }
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * Transactions in the long CSV format the miner reads: a header `transaction_id,item,customer_id`
 * (unless `header: false`), then one line per item. Lines come without a line break.
 */
export function* toCsvLines(
  transactions: Iterable<Transaction>,
  opts: { header?: boolean } = {},
): Generator<string> {
  if (opts.header ?? true) yield TRANSACTIONS_CSV_HEADER;
  for (const t of transactions) {
    const id = csvField(t.transactionId);
    const customer = csvField(t.customerId);
    for (const item of t.items) yield `${id},${csvField(item)},${customer}`;
  }
}
