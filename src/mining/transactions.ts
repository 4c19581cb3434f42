/**
 * Purchase transactions as the miner holds them: items interned to dense integer ids, every
 * transaction a range of one Int32Array (compressed sparse rows), its items sorted and without
 * duplicates. A basket that names an item twice counts it once, as in arules (an itemMatrix is
 * binary) and in the definition of support.
 */
export interface TransactionSet {
  /** Number of transactions: N, the denominator of support. */
  readonly size: number;
  /** Transaction t holds items[offsets[t] … offsets[t + 1]), ascending ids, each once. */
  readonly offsets: Int32Array;
  readonly items: Int32Array;
  /** Item names by id. */
  readonly itemNames: readonly string[];
  /** Per transaction the index of its customer in customerIds, -1 when unknown; null without customers. */
  readonly customerOf: Int32Array | null;
  readonly customerIds: readonly string[];
}

/** An Int32Array that grows by doubling. */
export class GrowableInt32 {
  data: Int32Array;
  length = 0;

  constructor(capacity = 1024) {
    this.data = new Int32Array(Math.max(capacity, 16));
  }

  push(value: number): void {
    if (this.length === this.data.length) this.reserve(this.length + 1);
    this.data[this.length++] = value;
  }

  reserve(capacity: number): void {
    if (capacity <= this.data.length) return;
    let cap = this.data.length * 2;
    while (cap < capacity) cap *= 2;
    const next = new Int32Array(cap);
    next.set(this.data.subarray(0, this.length));
    this.data = next;
  }

  /** A copy of the values, exactly as long as they are. */
  toArray(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

/**
 * Collects (transaction, item) rows in any order and groups them into a TransactionSet. Rows of a
 * transaction usually come together (one basket per line, or a long file sorted by transaction);
 * then they are taken as they are. When a transaction's rows are spread over the input, they are
 * grouped by a counting sort, keeping transactions in the order of their first row.
 */
export class TransactionBuilder {
  private readonly rowTx = new GrowableInt32(1 << 16);
  private readonly rowItem = new GrowableInt32(1 << 16);
  private transactions = 0;
  private lastTx = -1;
  private grouped = true;

  /** Adds item `item` to transaction `tx`; transactions are numbered 0, 1, 2 … by first appearance. */
  add(tx: number, item: number): void {
    if (tx !== this.lastTx) {
      if (tx === this.transactions) this.transactions++;
      else if (tx < this.transactions) this.grouped = false;
      else throw new RangeError(`transaction ${tx} skips numbers (next is ${this.transactions})`);
      this.lastTx = tx;
    }
    this.rowTx.push(tx);
    this.rowItem.push(item);
  }

  /** Declares a transaction without rows (an empty basket); it still counts in N. */
  addEmpty(): number {
    const tx = this.transactions++;
    this.lastTx = tx;
    return tx;
  }

  get size(): number {
    return this.transactions;
  }

  get rows(): number {
    return this.rowTx.length;
  }

  build(
    itemNames: readonly string[],
    customers: { readonly of: Int32Array; readonly ids: readonly string[] } | null = null,
  ): TransactionSet {
    const n = this.transactions;
    const rows = this.rowTx.length;
    const tx = this.rowTx.data;
    const offsets = new Int32Array(n + 1);
    for (let r = 0; r < rows; r++) offsets[tx[r]! + 1]!++;
    for (let t = 0; t < n; t++) offsets[t + 1]! += offsets[t]!;
    let items: Int32Array;
    if (this.grouped) {
      items = this.rowItem.toArray();
    } else {
      items = new Int32Array(rows);
      const fill = offsets.slice(0, n);
      const item = this.rowItem.data;
      for (let r = 0; r < rows; r++) items[fill[tx[r]!]!++] = item[r]!;
    }
    const compacted = sortAndDedupe(offsets, items);
    return {
      size: n,
      offsets,
      items: compacted,
      itemNames,
      customerOf: customers === null ? null : customers.of.subarray(0, n),
      customerIds: customers === null ? [] : customers.ids,
    };
  }
}

/**
 * Sorts each range of `items` and drops repeated items, moving ranges down and rewriting
 * `offsets` in place; returns the items, trimmed when anything was dropped.
 */
function sortAndDedupe(offsets: Int32Array, items: Int32Array): Int32Array {
  const n = offsets.length - 1;
  let write = 0;
  let start = offsets[0]!;
  for (let t = 0; t < n; t++) {
    const end = offsets[t + 1]!;
    const len = end - start;
    if (len > 32) items.subarray(start, end).sort();
    else insertionSort(items, start, end);
    offsets[t] = write;
    let last = -1;
    for (let i = start; i < end; i++) {
      const v = items[i]!;
      if (v !== last) {
        items[write++] = v;
        last = v;
      }
    }
    start = end;
  }
  offsets[n] = write;
  return write === items.length ? items : items.slice(0, write);
}

/** Sorts a[start, end) ascending; for the few items of a basket faster than a typed-array sort. */
export function insertionSort(a: Int32Array, start: number, end: number): void {
  for (let i = start + 1; i < end; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= start && a[j]! > v) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
  }
}

/**
 * A TransactionSet from baskets of item names (tests, small inputs). Items get ids in order of
 * first appearance; `customers`, when given, names each basket's customer (null: unknown).
 */
export function transactionsFromBaskets(
  baskets: readonly (readonly string[])[],
  customers?: readonly (string | null)[],
): TransactionSet {
  const itemIds = new Map<string, number>();
  const builder = new TransactionBuilder();
  const customerIndex = new Map<string, number>();
  const customerOf = new Int32Array(baskets.length);
  baskets.forEach((basket, t) => {
    if (basket.length === 0) builder.addEmpty();
    for (const name of basket) {
      let id = itemIds.get(name);
      if (id === undefined) {
        id = itemIds.size;
        itemIds.set(name, id);
      }
      builder.add(t, id);
    }
    const customer = customers?.[t] ?? null;
    if (customer === null) customerOf[t] = -1;
    else {
      let c = customerIndex.get(customer);
      if (c === undefined) {
        c = customerIndex.size;
        customerIndex.set(customer, c);
      }
      customerOf[t] = c;
    }
  });
  return builder.build(
    [...itemIds.keys()],
    customers === undefined ? null : { of: customerOf, ids: [...customerIndex.keys()] },
  );
}

/** The items of transaction `t`, as a new array (tests, reports). */
export function transactionItems(ts: TransactionSet, t: number): number[] {
  return Array.from(ts.items.subarray(ts.offsets[t]!, ts.offsets[t + 1]!));
}

/**
 * What each customer bought over all their transactions: customer c's distinct items are
 * items[offsets[c] … offsets[c + 1]), ascending ids, and times[i] says in how many of the
 * customer's transactions items[i] was.
 */
export interface CustomerItems {
  readonly offsets: Int32Array;
  readonly items: Int32Array;
  readonly times: Int32Array;
}

export function itemsByCustomer(ts: TransactionSet): CustomerItems {
  const customers = ts.customerIds.length;
  const of = ts.customerOf;
  if (of === null || customers === 0) {
    return { offsets: new Int32Array(customers + 1), items: new Int32Array(0), times: new Int32Array(0) };
  }
  // Transactions grouped by customer (counting sort), then each customer's items merged.
  const txStart = new Int32Array(customers + 1);
  for (let t = 0; t < ts.size; t++) if (of[t]! >= 0) txStart[of[t]! + 1]!++;
  for (let c = 0; c < customers; c++) txStart[c + 1]! += txStart[c]!;
  const byCustomer = new Int32Array(txStart[customers]!);
  const fill = txStart.slice(0, customers);
  for (let t = 0; t < ts.size; t++) if (of[t]! >= 0) byCustomer[fill[of[t]!]!++] = t;

  const seen = new Int32Array(ts.itemNames.length).fill(-1);
  const slotOf = new Int32Array(ts.itemNames.length);
  const offsets = new Int32Array(customers + 1);
  const items = new GrowableInt32(ts.items.length);
  const times = new GrowableInt32(ts.items.length);
  for (let c = 0; c < customers; c++) {
    const first = items.length;
    for (let k = txStart[c]!; k < txStart[c + 1]!; k++) {
      const t = byCustomer[k]!;
      for (let i = ts.offsets[t]!; i < ts.offsets[t + 1]!; i++) {
        const item = ts.items[i]!;
        if (seen[item] === c) times.data[slotOf[item]!]!++;
        else {
          seen[item] = c;
          slotOf[item] = items.length;
          items.push(item);
          times.push(1);
        }
      }
    }
    sortPairs(items.data, times.data, first, items.length);
    offsets[c + 1] = items.length;
  }
  return { offsets, items: items.toArray(), times: times.toArray() };
}

/** Sorts keys[start, end) ascending and moves values along. */
function sortPairs(keys: Int32Array, values: Int32Array, start: number, end: number): void {
  if (end - start > 64) {
    const order = Array.from({ length: end - start }, (_, i) => start + i).sort(
      (a, b) => keys[a]! - keys[b]!,
    );
    const k = order.map((i) => keys[i]!);
    const v = order.map((i) => values[i]!);
    keys.set(k, start);
    values.set(v, start);
    return;
  }
  for (let i = start + 1; i < end; i++) {
    const k = keys[i]!;
    const v = values[i]!;
    let j = i - 1;
    while (j >= start && keys[j]! > k) {
      keys[j + 1] = keys[j]!;
      values[j + 1] = values[j]!;
      j--;
    }
    keys[j + 1] = k;
    values[j + 1] = v;
  }
}
