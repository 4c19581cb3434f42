import type { ProfileRecord } from '../domain/profile.js';
import { type Affinity, AffinityScorer, type AffinityScoring, mergeAffinities } from './affinities.js';
import { type AssociationRule, nameRanks } from './rules.js';
import { type CustomerItems, itemsByCustomer, type TransactionSet } from './transactions.js';

export interface CustomerAffinityOptions {
  /** Affinities kept per customer. */
  readonly top: number;
  readonly scoring: AffinityScoring;
  /** Scores are rounded to this many decimals. */
  readonly decimals: number;
  /** What a profile record takes: longer product names are neither recommended nor held. */
  readonly maxProduct: number;
  readonly maxHoldings: number;
  readonly maxId: number;
}

/** A customer's line of affinities.ndjson: a profile record that `offerloop load` takes. */
export interface MinedProfile {
  readonly id: string;
  readonly holdings: string[];
  readonly affinities: Affinity[];
}

/**
 * What the mined rules say about each customer of a transaction set (customer c is the index of
 * ts.customerIds): the products they bought, as a profile's holdings, and the products the rules
 * that fire on them recommend, as a profile's affinities; and how those merge into a profile the
 * customer has already. No I/O: the mine command streams the files through it.
 */
export class CustomerAffinities {
  private readonly names: readonly string[];
  private readonly rank: Int32Array;
  /** Products whose names cannot be a profile's product (1). */
  private readonly exclude: Uint8Array;
  private readonly scorer: AffinityScorer;
  private readonly bought: CustomerItems;
  private itemIndex: Map<string, number> | null = null;
  private customerIndex: Map<string, number> | null = null;

  constructor(
    private readonly ts: TransactionSet,
    rules: readonly AssociationRule[],
    private readonly options: CustomerAffinityOptions,
  ) {
    const names = ts.itemNames;
    this.names = names;
    this.rank = nameRanks(names);
    const support = new Int32Array(names.length);
    for (let i = 0; i < ts.items.length; i++) support[ts.items[i]!]!++;
    this.exclude = new Uint8Array(names.length);
    names.forEach((name, i) => {
      if (name.length > options.maxProduct) this.exclude[i] = 1;
    });
    this.scorer = new AffinityScorer(
      rules,
      names.length,
      this.rank,
      { top: options.top, scoring: options.scoring, exclude: this.exclude },
      support,
    );
    this.bought = itemsByCustomer(ts);
  }

  /** Customers in the transactions. */
  get customers(): number {
    return this.ts.customerIds.length;
  }

  /** Whether customer c's id can be a profile's id (not empty, not too long). */
  validId(c: number): boolean {
    const id = this.ts.customerIds[c]!;
    return id.length >= 1 && id.length <= this.options.maxId;
  }

  /** The customer with this id, or -1. */
  customerOf(id: string): number {
    this.customerIndex ??= new Map(this.ts.customerIds.map((customer, c) => [customer, c]));
    return this.customerIndex.get(id) ?? -1;
  }

  /** The items customer c bought, ascending, each once. */
  itemsOf(c: number): Int32Array {
    return this.bought.items.subarray(this.bought.offsets[c]!, this.bought.offsets[c + 1]!);
  }

  /** What customer c bought, as a profile's holdings, sorted: the most often bought if too many. */
  holdingsOf(c: number): string[] {
    const { offsets, items, times } = this.bought;
    const idx: number[] = [];
    for (let i = offsets[c]!; i < offsets[c + 1]!; i++) if (!this.exclude[items[i]!]) idx.push(i);
    if (idx.length > this.options.maxHoldings) {
      idx.sort((a, b) => times[b]! - times[a]! || this.rank[items[a]!]! - this.rank[items[b]!]!);
      idx.length = this.options.maxHoldings;
    }
    return idx.map((i) => this.names[items[i]!]!).sort();
  }

  /** The top products the rules recommend to someone who holds `held` (item ids), best first. */
  affinitiesFor(held: ArrayLike<number>): Affinity[] {
    const { items, scores } = this.scorer.score(held);
    const f = 10 ** this.options.decimals;
    const out: Affinity[] = [];
    for (let i = 0; i < items.length; i++) {
      out.push({ product: this.names[items[i]!]!, score: Math.round(scores[i]! * f) / f });
    }
    return out;
  }

  /** Customer c's mined profile; its affinities are those of what c bought unless given. */
  minedProfile(c: number, affinities = this.affinitiesFor(this.itemsOf(c))): MinedProfile {
    return { id: this.ts.customerIds[c]!, holdings: this.holdingsOf(c), affinities };
  }

  /**
   * Merges customer c's mined affinities into `profile`, c's existing profile. Its holdings count
   * as bought: rules fire on them and they are not recommended. Per product the higher score is
   * kept, then the top K. Returns the mined affinities and the profile, a new object when any
   * were mined (else `profile` itself).
   */
  mergeInto(profile: ProfileRecord, c: number): { affinities: Affinity[]; profile: ProfileRecord } {
    this.itemIndex ??= new Map(this.names.map((name, i) => [name, i]));
    const held: number[] = Array.from(this.itemsOf(c));
    for (const product of profile.holdings ?? []) {
      const item = this.itemIndex.get(product);
      if (item !== undefined) held.push(item);
    }
    const affinities = this.affinitiesFor(held);
    if (affinities.length === 0) return { affinities, profile };
    return {
      affinities,
      profile: {
        ...profile,
        affinities: mergeAffinities(profile.affinities ?? [], affinities, this.options.top),
      },
    };
  }
}
