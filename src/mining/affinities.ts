import type { AssociationRule } from './rules.js';

/**
 * Cross-sell affinities from association rules. A rule X ⇒ Y fires for a customer when they hold
 * every item of X (they bought it in any of their transactions, or hold it otherwise); each item
 * of Y they do not hold yet becomes a candidate. A candidate's score is the best score of the
 * rules that name it:
 *
 * - `confidence` (default): the rule's confidence, P(Y | X), an estimate of the chance that a
 *   customer who bought X buys Y too. It is in [0, 1] like the affinities the engine takes as its
 *   propensity prior, and taking the maximum (not a sum, not a noisy-or) keeps it a probability
 *   that one rule vouches for, without counting the same evidence twice through overlapping rules.
 * - `lift`: 1 − 1/lift for rules with lift > 1, else 0: how much of the chance is owed to X,
 *   which favours specific associations over popular products that every rule predicts.
 *
 * The top K candidates are kept, ties broken by product name so that output is reproducible.
 */

export type AffinityScoring = 'confidence' | 'lift';
export const AFFINITY_SCORINGS: readonly AffinityScoring[] = ['confidence', 'lift'];

export interface AffinityOptions {
  /** Products kept per customer. */
  readonly top: number;
  readonly scoring?: AffinityScoring;
  /** Items never to recommend (1), by id. */
  readonly exclude?: Uint8Array;
}

export interface ScoredItems {
  /** Item ids, best first. */
  readonly items: Int32Array;
  readonly scores: Float64Array;
}

export function ruleScore(
  rule: Pick<AssociationRule, 'confidence' | 'lift'>,
  scoring: AffinityScoring,
): number {
  if (scoring === 'confidence') return rule.confidence;
  return rule.lift > 1 ? 1 - 1 / rule.lift : 0;
}

/**
 * Scores customers against a fixed set of rules. Rules are filed under one item of their
 * antecedent (the rarest, given item counts), so a customer only looks at rules that can fire.
 */
export class AffinityScorer {
  private readonly top: number;
  private readonly anteStart: Int32Array;
  private readonly anteItems: Int32Array;
  private readonly consStart: Int32Array;
  private readonly consItems: Int32Array;
  private readonly scores: Float64Array;
  /** Rules by index item (CSR), and the rules with an empty antecedent, which fire for everyone. */
  private readonly bucketStart: Int32Array;
  private readonly bucketRules: Int32Array;
  private readonly always: Int32Array;
  private readonly heldMark: Int32Array;
  private readonly candMark: Int32Array;
  private readonly best: Float64Array;
  private readonly exclude: Uint8Array;
  private generation = 0;

  /**
   * @param itemCount number of item ids (ids are 0 … itemCount-1)
   * @param nameRank rank of each item id by name, for ties (rules.ts nameRanks())
   * @param itemSupport support count of each item, to file rules under their rarest item
   */
  constructor(
    rules: readonly AssociationRule[],
    itemCount: number,
    private readonly nameRank: Int32Array,
    options: AffinityOptions,
    itemSupport?: ArrayLike<number>,
  ) {
    this.top = options.top;
    const scoring = options.scoring ?? 'confidence';
    const r = rules.length;
    this.anteStart = new Int32Array(r + 1);
    this.consStart = new Int32Array(r + 1);
    for (let i = 0; i < r; i++) {
      this.anteStart[i + 1] = this.anteStart[i]! + rules[i]!.antecedent.length;
      this.consStart[i + 1] = this.consStart[i]! + rules[i]!.consequent.length;
    }
    this.anteItems = new Int32Array(this.anteStart[r]!);
    this.consItems = new Int32Array(this.consStart[r]!);
    this.scores = new Float64Array(r);
    const indexItem = new Int32Array(r);
    const bucketSize = new Int32Array(itemCount + 1);
    const always: number[] = [];
    for (let i = 0; i < r; i++) {
      const rule = rules[i]!;
      this.anteItems.set(rule.antecedent, this.anteStart[i]!);
      this.consItems.set(rule.consequent, this.consStart[i]!);
      this.scores[i] = ruleScore(rule, scoring);
      if (rule.antecedent.length === 0) {
        indexItem[i] = -1;
        always.push(i);
        continue;
      }
      let pick = rule.antecedent[0]!;
      if (itemSupport !== undefined) {
        for (const item of rule.antecedent) if (itemSupport[item]! < itemSupport[pick]!) pick = item;
      }
      indexItem[i] = pick;
      bucketSize[pick + 1]!++;
    }
    for (let i = 0; i < itemCount; i++) bucketSize[i + 1]! += bucketSize[i]!;
    this.bucketStart = bucketSize;
    this.bucketRules = new Int32Array(bucketSize[itemCount]!);
    const fill = bucketSize.slice(0, itemCount);
    for (let i = 0; i < r; i++) if (indexItem[i]! >= 0) this.bucketRules[fill[indexItem[i]!]!++] = i;
    this.always = Int32Array.from(always);
    this.heldMark = new Int32Array(itemCount);
    this.candMark = new Int32Array(itemCount);
    this.best = new Float64Array(itemCount);
    this.exclude = options.exclude ?? new Uint8Array(itemCount);
  }

  /** The top-K products for a customer holding `held` (item ids, any order, repeats allowed). */
  score(held: ArrayLike<number>): ScoredItems {
    const gen = ++this.generation;
    const { heldMark, candMark, best, anteStart, anteItems, consStart, consItems, scores, exclude } = this;
    for (let i = 0; i < held.length; i++) heldMark[held[i]!] = gen;
    const touched: number[] = [];
    const fire = (rule: number) => {
      for (let a = anteStart[rule]!; a < anteStart[rule + 1]!; a++)
        if (heldMark[anteItems[a]!] !== gen) return;
      const s = scores[rule]!;
      for (let c = consStart[rule]!; c < consStart[rule + 1]!; c++) {
        const y = consItems[c]!;
        if (heldMark[y] === gen || exclude[y]) continue;
        if (candMark[y] !== gen) {
          candMark[y] = gen;
          best[y] = s;
          touched.push(y);
        } else if (s > best[y]!) best[y] = s;
      }
    };
    for (let i = 0; i < this.always.length; i++) fire(this.always[i]!);
    for (let i = 0; i < held.length; i++) {
      const h = held[i]!;
      for (let b = this.bucketStart[h]!; b < this.bucketStart[h + 1]!; b++) fire(this.bucketRules[b]!);
    }
    // A product held twice in `held` files its rules twice; firing twice changes nothing.
    const rank = this.nameRank;
    touched.sort((a, b) => best[b]! - best[a]! || rank[a]! - rank[b]!);
    const k = Math.min(this.top, touched.length);
    const items = new Int32Array(k);
    const out = new Float64Array(k);
    for (let i = 0; i < k; i++) {
      items[i] = touched[i]!;
      out[i] = best[touched[i]!]!;
    }
    return { items, scores: out };
  }
}

export interface Affinity {
  product: string;
  score: number;
}

/**
 * Mined affinities merged into a profile's own: per product the higher score, best first (ties
 * by product name), the top `top` kept.
 */
export function mergeAffinities(
  existing: readonly Affinity[],
  mined: readonly Affinity[],
  top: number,
): Affinity[] {
  const best = new Map<string, number>();
  for (const { product, score } of [...existing, ...mined]) {
    const was = best.get(product);
    if (was === undefined || score > was) best.set(product, score);
  }
  return [...best]
    .map(([product, score]) => ({ product, score }))
    .sort((a, b) => b.score - a.score || (a.product < b.product ? -1 : a.product > b.product ? 1 : 0))
    .slice(0, top);
}
