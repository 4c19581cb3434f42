import { insertionSort } from './transactions.js';

/**
 * Frequent itemsets, back to back in typed arrays: itemset i holds
 * items[offsets[i] … offsets[i + 1]) (item ids, ascending) and is in counts[i] transactions.
 * find() looks an itemset up by its items, which is how rules get the support of their parts.
 */
export class FrequentItemsets {
  private index: Int32Array | null = null;

  constructor(
    /** N: the number of transactions mined. */
    readonly transactions: number,
    /** The absolute minimum support the itemsets were mined with. */
    readonly minCount: number,
    readonly items: Int32Array,
    readonly offsets: Int32Array,
    readonly counts: Int32Array,
  ) {}

  get size(): number {
    return this.counts.length;
  }

  itemsOf(i: number): Int32Array {
    return this.items.subarray(this.offsets[i]!, this.offsets[i + 1]!);
  }

  lengthOf(i: number): number {
    return this.offsets[i + 1]! - this.offsets[i]!;
  }

  /** Number of itemsets of each length: result[k] is the number of length k (result[0] is 0). */
  countByLength(): number[] {
    const out: number[] = [0];
    for (let i = 0; i < this.size; i++) {
      const k = this.lengthOf(i);
      while (out.length <= k) out.push(0);
      out[k]!++;
    }
    return out;
  }

  /** The index of the itemset with exactly these items (ascending ids), or -1 when it is not frequent. */
  find(items: ArrayLike<number>, start = 0, end = items.length): number {
    const index = this.index ?? this.buildIndex();
    const mask = index.length - 1;
    const len = end - start;
    let slot = hashItems(items, start, end) & mask;
    for (;;) {
      const entry = index[slot]!;
      if (entry === 0) return -1;
      const i = entry - 1;
      const at = this.offsets[i]!;
      if (this.offsets[i + 1]! - at === len) {
        let same = true;
        for (let k = 0; k < len; k++) {
          if (this.items[at + k] !== items[start + k]) {
            same = false;
            break;
          }
        }
        if (same) return i;
      }
      slot = (slot + 1) & mask;
    }
  }

  /** The support count of these items (ascending ids); N for no items; -1 when not frequent. */
  countOf(items: ArrayLike<number>, start = 0, end = items.length): number {
    if (end === start) return this.transactions;
    const i = this.find(items, start, end);
    return i < 0 ? -1 : this.counts[i]!;
  }

  private buildIndex(): Int32Array {
    let size = 16;
    while (size < this.size * 2) size *= 2;
    const index = new Int32Array(size);
    const mask = size - 1;
    for (let i = 0; i < this.size; i++) {
      let slot = hashItems(this.items, this.offsets[i]!, this.offsets[i + 1]!) & mask;
      while (index[slot] !== 0) slot = (slot + 1) & mask;
      index[slot] = i + 1;
    }
    this.index = index;
    return index;
  }
}

function hashItems(items: ArrayLike<number>, start: number, end: number): number {
  let h = 0x9747b28c | 0;
  for (let i = start; i < end; i++) {
    h = Math.imul(h ^ items[i]!, 0x5bd1e995);
    h ^= h >>> 15;
  }
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) & 0x7fffffff;
}

/** Collects itemsets as a miner finds them. */
export class ItemsetCollector {
  private items = new Int32Array(1 << 12);
  private used = 0;
  private offsets = new Int32Array(1 << 10);
  private counts = new Int32Array(1 << 10);
  private n = 0;

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.n;
  }

  /** Adds the itemset `items[0 … len)` (any order; stored sorted) found in `count` transactions. */
  add(items: Int32Array, len: number, count: number): void {
    if (this.n >= this.limit) throw new TooManyItemsetsError(this.limit);
    if (this.used + len > this.items.length) {
      const next = new Int32Array(Math.max(this.items.length * 2, this.used + len));
      next.set(this.items.subarray(0, this.used));
      this.items = next;
    }
    if (this.n + 2 > this.offsets.length) {
      const offsets = new Int32Array(this.offsets.length * 2);
      offsets.set(this.offsets);
      this.offsets = offsets;
      const counts = new Int32Array(this.counts.length * 2);
      counts.set(this.counts);
      this.counts = counts;
    }
    const start = this.used;
    this.items.set(items.subarray(0, len), start);
    insertionSort(this.items, start, start + len);
    this.used += len;
    this.counts[this.n] = count;
    this.n++;
    this.offsets[this.n] = this.used;
  }

  finish(transactions: number, minCount: number): FrequentItemsets {
    return new FrequentItemsets(
      transactions,
      minCount,
      this.items.slice(0, this.used),
      this.offsets.slice(0, this.n + 1),
      this.counts.slice(0, this.n),
    );
  }
}

/** The mining found more itemsets than allowed: the support is too low for the data. */
export class TooManyItemsetsError extends Error {
  override readonly name = 'TooManyItemsetsError';
  constructor(readonly limit: number) {
    super(`more than ${limit.toLocaleString('en-US')} frequent itemsets`);
  }
}
