import { idIndex, internId } from './intern.js';

/**
 * A customer's precomputed affinities: product → score in [0, 1]. Two flat arrays instead of a
 * Map, because a decision reads the affinities of a customer whose data is usually not in the CPU
 * cache: a Map keeps each score in a separate heap number, this keeps all of them in one block.
 * A customer has tens of affinities, so get() scans linearly over the interned ids.
 */
export class AffinityTable implements ReadonlyMap<string, number> {
  static readonly EMPTY = new AffinityTable([], new Float64Array(0));

  /** idIndex() of each product, so the engine finds a product's offers with an array read. */
  readonly indexes: Int32Array;

  private constructor(
    readonly products: readonly string[],
    readonly scores: Float64Array,
  ) {
    this.indexes = Int32Array.from(products, idIndex);
  }

  /** Builds a table; a product listed twice keeps its last score, as a Map would. */
  static from(entries: Iterable<{ readonly product: string; readonly score: number }>): AffinityTable {
    const products: string[] = [];
    const scores: number[] = [];
    for (const { product, score } of entries) {
      const id = internId(product);
      const at = products.indexOf(id);
      if (at >= 0) scores[at] = score;
      else {
        products.push(id);
        scores.push(score);
      }
    }
    return products.length === 0
      ? AffinityTable.EMPTY
      : new AffinityTable(products, Float64Array.from(scores));
  }

  get size(): number {
    return this.products.length;
  }

  get(product: string): number | undefined {
    const products = this.products;
    for (let i = 0; i < products.length; i++) if (products[i] === product) return this.scores[i];
    return undefined;
  }

  has(product: string): boolean {
    return this.products.includes(product);
  }

  forEach(callback: (score: number, product: string, table: ReadonlyMap<string, number>) => void): void {
    for (let i = 0; i < this.products.length; i++) callback(this.scores[i]!, this.products[i]!, this);
  }

  *entries(): MapIterator<[string, number]> {
    for (let i = 0; i < this.products.length; i++) yield [this.products[i]!, this.scores[i]!];
  }

  keys(): MapIterator<string> {
    return this.products.values();
  }

  *values(): MapIterator<number> {
    yield* this.scores;
  }

  [Symbol.iterator](): MapIterator<[string, number]> {
    return this.entries();
  }
}
