import type { FrequentItemsets } from './itemsets.js';

/**
 * Association rules X ⇒ Y from frequent itemsets, by the textbook definitions (and arules'
 * apriori, whose arithmetic this copies so that the numbers match to the last bit):
 *
 *   support(X ⇒ Y)    = count(X ∪ Y) / N
 *   confidence(X ⇒ Y) = count(X ∪ Y) / count(X)          (count(∅) = N)
 *   lift(X ⇒ Y)       = confidence × N / count(Y)
 *
 * A rule's length is |X| + |Y|, the length of the itemset X ∪ Y it comes from. Every frequent
 * itemset of an allowed length gives one candidate rule per consequent Y ⊂ itemset with
 * 1 ≤ |Y| ≤ maxConsequent; the antecedent is the rest. The antecedent may be empty (`{} ⇒ {y}`,
 * confidence = support of y) only when minLength ≤ 1, which is what arules does with its default
 * minlen = 1.
 */

export interface RuleOptions {
  readonly minConfidence: number;
  /** Default 0 (no filter). */
  readonly minLift?: number;
  /** In items, antecedent plus consequent; default 2 (no empty antecedents). */
  readonly minLength?: number;
  /** Default: no limit. */
  readonly maxLength?: number;
  /** Largest consequent, in items; default 1 (a single product, as in arules). */
  readonly maxConsequent?: number;
}

export const DEFAULT_MIN_LENGTH = 2;

export interface AssociationRule {
  /** Item ids: ascending ids from generateRules(), by name after sortRules(). */
  readonly antecedent: Int32Array;
  readonly consequent: Int32Array;
  /** count(X ∪ Y): the transactions the rule holds in. */
  readonly count: number;
  readonly antecedentCount: number;
  readonly consequentCount: number;
  readonly support: number;
  readonly confidence: number;
  readonly lift: number;
}

/** All rules of `itemsets` that meet the options; in no particular order (see sortRules). */
export function generateRules(itemsets: FrequentItemsets, options: RuleOptions): AssociationRule[] {
  const n = itemsets.transactions;
  const minConfidence = options.minConfidence;
  const minLift = options.minLift ?? 0;
  const minLength = options.minLength ?? DEFAULT_MIN_LENGTH;
  const maxLength = options.maxLength ?? Number.POSITIVE_INFINITY;
  const maxConsequent = options.maxConsequent ?? 1;
  const allowEmpty = minLength <= 1;
  const rules: AssociationRule[] = [];
  const idx: number[] = [];
  const inY: boolean[] = [];
  let x = new Int32Array(16);
  let y = new Int32Array(16);

  for (let z = 0; z < itemsets.size; z++) {
    const k = itemsets.lengthOf(z);
    if (k < minLength || k > maxLength) continue;
    const items = itemsets.itemsOf(z);
    const count = itemsets.counts[z]!;
    if (x.length < k) {
      x = new Int32Array(k * 2);
      y = new Int32Array(k * 2);
    }
    for (let s = 1; s <= Math.min(maxConsequent, k); s++) {
      if (s === k && !allowEmpty) continue;
      // Every combination of s positions out of k, in lexicographic order.
      idx.length = s;
      for (let i = 0; i < s; i++) idx[i] = i;
      for (;;) {
        inY.length = k;
        inY.fill(false);
        for (let i = 0; i < s; i++) inY[idx[i]!] = true;
        let xl = 0;
        let yl = 0;
        for (let i = 0; i < k; i++) {
          if (inY[i]) y[yl++] = items[i]!;
          else x[xl++] = items[i]!;
        }
        const antecedentCount = itemsets.countOf(x, 0, xl);
        const consequentCount = itemsets.countOf(y, 0, yl);
        if (antecedentCount <= 0 || consequentCount <= 0) {
          // Subsets of a frequent itemset are frequent; this would be a bug in the miner.
          throw new Error('a subset of a frequent itemset is missing');
        }
        const confidence = count / antecedentCount;
        if (confidence >= minConfidence) {
          const lift = (confidence * n) / consequentCount;
          if (lift >= minLift) {
            rules.push({
              antecedent: x.slice(0, xl),
              consequent: y.slice(0, yl),
              count,
              antecedentCount,
              consequentCount,
              support: count / n,
              confidence,
              lift,
            });
          }
        }
        // Next combination.
        let i = s - 1;
        while (i >= 0 && idx[i] === k - s + i) i--;
        if (i < 0) break;
        idx[i]!++;
        for (let j = i + 1; j < s; j++) idx[j] = idx[j - 1]! + 1;
      }
    }
  }
  return rules;
}

/** Ranks of item ids in the order of their names (UTF-16 code units, like Array.prototype.sort). */
export function nameRanks(itemNames: readonly string[]): Int32Array {
  const order = itemNames.map((_, i) => i).sort((a, b) => compareText(itemNames[a]!, itemNames[b]!));
  const rank = new Int32Array(itemNames.length);
  order.forEach((item, r) => {
    rank[item] = r;
  });
  return rank;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The rules in the order rules.ndjson lists them, so that files diff well: by consequent, then
 * confidence (highest first), then antecedent; items of each side sorted by name, sides compared
 * item by item by name (a shorter side that is a prefix first). Returns new rule objects.
 */
export function sortRules(
  rules: readonly AssociationRule[],
  itemNames: readonly string[],
): AssociationRule[] {
  const rank = nameRanks(itemNames);
  const byName = (a: number, b: number) => rank[a]! - rank[b]!;
  const sorted = rules.map((r) => ({
    ...r,
    antecedent: r.antecedent.slice().sort(byName),
    consequent: r.consequent.slice().sort(byName),
  }));
  const compareSides = (a: Int32Array, b: Int32Array): number => {
    const len = Math.min(a.length, b.length);
    for (let i = 0; i < len; i++) {
      const d = rank[a[i]!]! - rank[b[i]!]!;
      if (d !== 0) return d;
    }
    return a.length - b.length;
  };
  sorted.sort(
    (a, b) =>
      compareSides(a.consequent, b.consequent) ||
      b.confidence - a.confidence ||
      compareSides(a.antecedent, b.antecedent),
  );
  return sorted;
}

/** One line of rules.ndjson. */
export interface RuleRecord {
  antecedent: string[];
  consequent: string[];
  support: number;
  confidence: number;
  lift: number;
  count: number;
}

export function ruleRecord(rule: AssociationRule, itemNames: readonly string[]): RuleRecord {
  return {
    antecedent: Array.from(rule.antecedent, (i) => itemNames[i]!),
    consequent: Array.from(rule.consequent, (i) => itemNames[i]!),
    support: rule.support,
    confidence: rule.confidence,
    lift: rule.lift,
    count: rule.count,
  };
}

/** Parses one line of rules.ndjson, or says why it is not a rule. */
export function parseRuleLine(text: string): RuleRecord | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const r = value as Record<string, unknown>;
  const isItems = (v: unknown) =>
    Array.isArray(v) && v.every((s) => typeof s === 'string' && s.length > 0) && new Set(v).size === v.length;
  if (!isItems(r.antecedent)) return 'antecedent must be an array of distinct item names';
  if (!isItems(r.consequent) || (r.consequent as string[]).length === 0) {
    return 'consequent must be a non-empty array of distinct item names';
  }
  if ((r.antecedent as string[]).some((item) => (r.consequent as string[]).includes(item))) {
    return 'antecedent and consequent must not share items';
  }
  for (const key of ['support', 'confidence'] as const) {
    const v = r[key];
    if (typeof v !== 'number' || !(v > 0 && v <= 1)) return `${key} must be a number in (0, 1]`;
  }
  if (typeof r.lift !== 'number' || !(r.lift > 0) || !Number.isFinite(r.lift)) {
    return 'lift must be a positive number';
  }
  if (typeof r.count !== 'number' || !Number.isSafeInteger(r.count) || r.count < 1) {
    return 'count must be a positive whole number';
  }
  return {
    antecedent: r.antecedent as string[],
    consequent: r.consequent as string[],
    support: r.support as number,
    confidence: r.confidence as number,
    lift: r.lift,
    count: r.count,
  };
}
