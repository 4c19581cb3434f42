import { type FrequentItemsets, ItemsetCollector } from './itemsets.js';
import { GrowableInt32, insertionSort, type TransactionSet } from './transactions.js';

/**
 * FP-Growth (Han, Pei & Yin 2000): all itemsets that occur in at least `minCount` transactions,
 * with their exact counts. The transactions are compressed into a prefix tree of their frequent
 * items (most frequent first); the itemsets ending in an item are mined from the tree built from
 * that item's prefix paths (its conditional pattern base), recursively; a tree that is a single
 * path yields all combinations of its nodes at once.
 *
 * The trees are typed arrays, not objects: the first tree of a million baskets has millions of
 * nodes. That tree is built from the sorted transactions, so its nodes come in depth-first order
 * (buildRootTree); conditional trees find children through a hash table keyed by (parent, item),
 * so no child lists are kept. Conditional trees keep the order of their parent tree (any fixed
 * order is correct) so paths need no sorting, and one tree per recursion depth is reused, so
 * mining allocates almost nothing once the arrays have grown. Exactness is guarded by
 * fp-growth.test.ts "FP-Growth against a brute-force enumerator".
 */

export interface MiningOptions {
  /** Smallest number of transactions an itemset must occur in (≥ 1); see minSupportCount(). */
  readonly minCount: number;
  /** Longest itemset to find, in items; default: no limit. */
  readonly maxLength?: number;
  /** Stop with TooManyItemsetsError beyond this many itemsets; default 10,000,000. */
  readonly maxItemsets?: number;
}

export const DEFAULT_MAX_ITEMSETS = 10_000_000;

/**
 * The absolute minimum support for a relative one: the smallest count c ≥ 1 with c / n ≥ minSupport,
 * the fraction compared as a double, so that `0.07` of 100 transactions is 7. (arules computes
 * `ceil(n × minSupport)` in doubles, which gives 8 there: 0.07 × 100 is 7.000000000000001. It
 * agrees whenever n × minSupport is not a whole number; docs/mining.md shows how to match it.)
 */
export function minSupportCount(minSupport: number, n: number): number {
  if (!(minSupport >= 0 && minSupport <= 1)) {
    throw new RangeError(`minimum support must be in [0, 1], got ${minSupport}`);
  }
  if (n <= 0) return 1;
  let c = Math.max(1, Math.ceil(minSupport * n));
  while (c > 1 && (c - 1) / n >= minSupport) c--;
  while (c < n && c / n < minSupport) c++;
  return c;
}

/** The frequent itemsets of `ts`; itemsets of one item included. */
export function mineFrequentItemsets(ts: TransactionSet, options: MiningOptions): FrequentItemsets {
  const minCount = Math.max(1, Math.ceil(options.minCount));
  const maxLength = options.maxLength ?? Number.POSITIVE_INFINITY;
  if (!(maxLength >= 1)) throw new RangeError(`maxLength must be at least 1, got ${maxLength}`);
  const out = new ItemsetCollector(options.maxItemsets ?? DEFAULT_MAX_ITEMSETS);

  // Item counts, then the frequent items ranked by count (descending; ties by id).
  const itemCount = new Int32Array(ts.itemNames.length);
  for (let i = 0; i < ts.items.length; i++) itemCount[ts.items[i]!]!++;
  const frequent: number[] = [];
  for (let item = 0; item < itemCount.length; item++) if (itemCount[item]! >= minCount) frequent.push(item);
  frequent.sort((a, b) => itemCount[b]! - itemCount[a]! || a - b);
  const m = frequent.length;
  if (m === 0) return out.finish(ts.size, minCount);

  const miner = new Miner(out, minCount, maxLength, m);
  if (maxLength === 1) {
    for (const item of frequent) miner.emitSingle(item, itemCount[item]!);
    return out.finish(ts.size, minCount);
  }

  const rank = new Int32Array(itemCount.length).fill(-1);
  for (let r = 0; r < m; r++) rank[frequent[r]!] = r;
  const root = miner.tree(0);
  root.globalOf = Int32Array.from(frequent);
  buildRootTree(ts, rank, root);
  miner.mine(0, 0);
  return out.finish(ts.size, minCount);
}

/**
 * The first FP-tree, from the transactions' frequent items in rank order. The transactions are
 * sorted first, so that each shares its prefix with the one before: nodes are then created in
 * depth-first order without any child lookup, identical transactions merge for free, and every
 * item's node links run forward through memory. Walking up the tree from an item's nodes, which
 * is most of the mining, then touches memory mostly in order instead of at random.
 */
function buildRootTree(ts: TransactionSet, rank: Int32Array, root: FpTree): void {
  const m = root.globalOf.length;
  // The ranked transactions (frequent items only, ascending rank), back to back.
  const starts = new Int32Array(ts.size + 1);
  const ranked = new Int32Array(ts.items.length);
  let used = 0;
  let kept = 0;
  for (let t = 0; t < ts.size; t++) {
    const from = used;
    for (let i = ts.offsets[t]!; i < ts.offsets[t + 1]!; i++) {
      const r = rank[ts.items[i]!]!;
      if (r >= 0) ranked[used++] = r;
    }
    if (used === from) continue;
    insertionSort(ranked, from, used);
    starts[kept++] = from;
  }
  starts[kept] = used;
  const order = new Int32Array(kept);
  for (let k = 0; k < kept; k++) order[k] = k;
  // Lengths from consecutive starts: transaction k is ranked[starts[k] … starts[k + 1]).
  order.sort((a, b) => {
    const ae = starts[a + 1]!;
    const be = starts[b + 1]!;
    for (let i = starts[a]!, j = starts[b]!; ; i++, j++) {
      if (i === ae) return j === be ? 0 : -1;
      if (j === be) return 1;
      const d = ranked[i]! - ranked[j]!;
      if (d !== 0) return d;
    }
  });
  root.reset(m, used);
  const stack = new Int32Array(m + 1); // stack[d]: the node at depth d + 1 on the previous path
  let prev = -1;
  for (let k = 0; k < kept; k++) {
    const t = order[k]!;
    const from = starts[t]!;
    const len = starts[t + 1]! - from;
    let common = 0;
    if (prev >= 0) {
      const pFrom = starts[prev]!;
      const pLen = starts[prev + 1]! - pFrom;
      while (common < len && common < pLen && ranked[from + common] === ranked[pFrom + common]) common++;
    }
    for (let d = 0; d < common; d++) root.nd[(stack[d]! << 2) + COUNT]!++;
    for (let d = common; d < len; d++) {
      const node = root.append(d === 0 ? 0 : stack[d - 1]!, ranked[from + d]!);
      root.nd[(node << 2) + COUNT] = 1;
      stack[d] = node;
    }
    for (let d = 0; d < len; d++) root.total[ranked[from + d]!]!++;
    prev = t;
  }
}

/**
 * One FP-tree: node 0 is the root; items are local ids 0 … m-1 in the tree's order. A node is four
 * consecutive ints of `nd` (item, count, parent, next node of the same item), so that visiting a
 * node costs one cache line, not four: mining is mostly walks up the tree, bound by memory.
 */
class FpTree {
  nd = new Int32Array(0);
  nodes = 1;
  /** Number of items. */
  m = 0;
  /** Per item: first node, total count, and the global item id. */
  head = new Int32Array(0);
  total = new Int32Array(0);
  globalOf = new Int32Array(0);
  /** Per item the last node of its links, for append(). */
  private tail = new Int32Array(0);
  // Child lookup: (parent, item) → node, open addressing; a slot is live when its stamp is the
  // current generation, so that reset() costs nothing however large the table grew.
  private table = new Int32Array(0);
  private stamp = new Int32Array(0);
  private generation = 1;
  private mask = -1;

  reset(m: number, nodesHint: number): void {
    if (this.head.length < m) {
      const cap = Math.max(m, this.head.length * 2);
      this.head = new Int32Array(cap);
      this.total = new Int32Array(cap);
      this.tail = new Int32Array(cap);
      if (this.globalOf.length < m) this.globalOf = new Int32Array(cap);
    }
    this.head.fill(-1, 0, m);
    this.tail.fill(-1, 0, m);
    this.total.fill(0, 0, m);
    this.m = m;
    this.nodes = 1;
    this.ensureNodes(Math.min(nodesHint, 1 << 24) + 1);
    this.nd[ITEM] = -1;
    this.nd[COUNT] = 0;
    this.nd[PARENT] = -1;
    this.nd[LINK] = -1;
    if (this.table.length === 0) this.resize(64);
    this.generation++;
  }

  /** Adds a path given in descending order, `path[len-1]` first, with count `c`. */
  insertReversed(path: Int32Array, len: number, c: number): void {
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const it = path[i]!;
      node = this.child(node, it);
      this.nd[(node << 2) + COUNT]! += c;
      this.total[it]! += c;
    }
  }

  /** True when the tree is one chain holding every item once: item k under item k-1. */
  isSinglePath(): boolean {
    if (this.nodes - 1 !== this.m) return false;
    let above = 0;
    for (let k = 0; k < this.m; k++) {
      const n = this.head[k]!;
      if (this.nd[(n << 2) + LINK] !== -1 || this.nd[(n << 2) + PARENT] !== above) return false;
      above = n;
    }
    return true;
  }

  /**
   * A new child of `node` for item `it`, without looking for an existing one (the caller knows
   * there is none), linked at the end of the item's node links; count 0. No child lookups work
   * on a tree built this way.
   */
  append(node: number, it: number): number {
    const n = this.newNode(node, it);
    const tail = this.tail[it]!;
    if (tail === -1) this.head[it] = n;
    else this.nd[(tail << 2) + LINK] = n;
    this.tail[it] = n;
    return n;
  }

  private newNode(parent: number, it: number): number {
    const n = this.nodes++;
    if (n << 2 >= this.nd.length) this.ensureNodes(n + 1);
    const o = n << 2;
    this.nd[o + ITEM] = it;
    this.nd[o + COUNT] = 0;
    this.nd[o + PARENT] = parent;
    this.nd[o + LINK] = -1;
    return n;
  }

  private child(node: number, it: number): number {
    const { table, stamp, generation, mask, nd } = this;
    let slot = slotOf(node, it) & mask;
    for (;;) {
      if (stamp[slot] !== generation) break;
      const n = table[slot]!;
      if (nd[(n << 2) + PARENT] === node && nd[(n << 2) + ITEM] === it) return n;
      slot = (slot + 1) & mask;
    }
    const n = this.newNode(node, it);
    this.nd[(n << 2) + LINK] = this.head[it]!;
    this.head[it] = n;
    this.table[slot] = n;
    this.stamp[slot] = generation;
    if (this.nodes * 2 > this.table.length) this.resize(this.table.length * 2);
    return n;
  }

  private ensureNodes(capacity: number): void {
    if (capacity << 2 <= this.nd.length) return;
    const cap = Math.max(capacity, (this.nd.length >> 2) * 2, 64);
    this.nd = growTo(this.nd, cap << 2);
  }

  private resize(size: number): void {
    this.table = new Int32Array(size);
    this.stamp = new Int32Array(size);
    this.mask = size - 1;
    this.generation = 1;
    for (let n = 1; n < this.nodes; n++) {
      let slot = slotOf(this.nd[(n << 2) + PARENT]!, this.nd[(n << 2) + ITEM]!) & this.mask;
      while (this.stamp[slot] === 1) slot = (slot + 1) & this.mask;
      this.table[slot] = n;
      this.stamp[slot] = 1;
    }
  }
}

const ITEM = 0;
const COUNT = 1;
const PARENT = 2;
const LINK = 3;

function slotOf(parent: number, item: number): number {
  let h = (Math.imul(parent, 0x9e3779b1) + Math.imul(item + 1, 0x85ebca77)) | 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 12);
}

function growTo(a: Int32Array, cap: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(cap);
  next.set(a);
  return next;
}

class Miner {
  private readonly trees: FpTree[] = [];
  /** Per depth: conditional counts and the local id of each parent-tree item in the child tree. */
  private readonly condCount: Int32Array[] = [];
  private readonly newLocal: Int32Array[] = [];
  /** A path being collected; at most one item per frequent item. */
  readonly path: Int32Array;
  /** The itemset being extended: global item ids. */
  private readonly suffix: Int32Array;
  /** A conditional pattern base: per path its length, its count, then its items (bottom up). */
  private readonly base = new GrowableInt32(1 << 16);

  constructor(
    private readonly out: ItemsetCollector,
    private readonly minCount: number,
    private readonly maxLength: number,
    items: number,
  ) {
    this.path = new Int32Array(items + 1);
    this.suffix = new Int32Array(items + 1);
  }

  tree(depth: number): FpTree {
    while (this.trees.length <= depth) {
      this.trees.push(new FpTree());
      this.condCount.push(new Int32Array(0));
      this.newLocal.push(new Int32Array(0));
    }
    return this.trees[depth]!;
  }

  emitSingle(item: number, count: number): void {
    this.suffix[0] = item;
    this.out.add(this.suffix, 1, count);
  }

  /** Mines the tree at `depth`, whose itemsets all extend suffix[0 … suffixLen). */
  mine(depth: number, suffixLen: number): void {
    const tree = this.trees[depth]!;
    const len = suffixLen + 1;
    for (let j = tree.m - 1; j >= 0; j--) {
      this.suffix[suffixLen] = tree.globalOf[j]!;
      this.out.add(this.suffix, len, tree.total[j]!);
      if (len >= this.maxLength || j === 0) continue;
      const child = this.tree(depth + 1);
      this.buildConditional(depth, j, child);
      if (child.m === 0) continue;
      if (child.isSinglePath()) this.combinations(child, len, 0, 0);
      else this.mine(depth + 1, len);
    }
  }

  /** Builds in `child` the conditional FP-tree of item j of the tree at `depth`. */
  private buildConditional(depth: number, j: number, child: FpTree): void {
    const tree = this.trees[depth]!;
    if (this.condCount[depth]!.length < tree.m) {
      this.condCount[depth] = new Int32Array(tree.m);
      this.newLocal[depth] = new Int32Array(tree.m);
    }
    const cc = this.condCount[depth]!;
    const local = this.newLocal[depth]!;
    const nd = tree.nd;
    // One walk up the tree per node of j (random memory access, the costly part): the prefix
    // paths are counted and copied to a buffer, which the second pass reads in order.
    const base = this.base;
    base.length = 0;
    for (let n = tree.head[j]!; n !== -1; n = nd[(n << 2) + LINK]!) {
      const c = nd[(n << 2) + COUNT]!;
      const at = base.length;
      base.push(0);
      base.push(c);
      for (let p = nd[(n << 2) + PARENT]!; p !== 0; p = nd[(p << 2) + PARENT]!) {
        const it = nd[(p << 2) + ITEM]!;
        cc[it]! += c;
        base.push(it);
      }
      base.data[at] = base.length - at - 2;
    }
    // Prefix paths hold only items before j in the tree's order.
    let m = 0;
    for (let k = 0; k < j; k++) {
      local[k] = cc[k]! >= this.minCount ? m++ : -1;
      cc[k] = 0;
    }
    child.reset(m, base.length);
    if (m === 0) return;
    for (let k = 0; k < j; k++) if (local[k]! >= 0) child.globalOf[local[k]!] = tree.globalOf[k]!;
    const path = this.path;
    const data = base.data;
    for (let at = 0; at < base.length; ) {
      const len = data[at]!;
      const c = data[at + 1]!;
      let kept = 0;
      for (let i = at + 2; i < at + 2 + len; i++) {
        const l = local[data[i]!]!;
        if (l >= 0) path[kept++] = l;
      }
      if (kept > 0) child.insertReversed(path, kept, c);
      at += len + 2;
    }
  }

  /**
   * A single-path tree: every non-empty subset of its nodes extends the suffix, with the count of
   * its deepest node (counts only shrink down a path). Subsets are built in path order, so the
   * node added last is the deepest.
   */
  private combinations(tree: FpTree, suffixLen: number, from: number, chosen: number): void {
    const at = suffixLen + chosen;
    for (let d = from; d < tree.m; d++) {
      const node = tree.head[d]!;
      this.suffix[at] = tree.globalOf[d]!;
      this.out.add(this.suffix, at + 1, tree.nd[(node << 2) + COUNT]!);
      if (at + 1 < this.maxLength) this.combinations(tree, suffixLen, d + 1, chosen + 1);
    }
  }
}
