import { type CsvRecord, CsvTokenizer } from '../csv/csv-tokenizer.js';
import { ByteInterner } from './byte-interner.js';
import { GrowableInt32, TransactionBuilder, type TransactionSet } from './transactions.js';

/**
 * Reads purchase transactions from bytes, fed chunk by chunk (no I/O here; the CLI reads the file).
 * Two layouts:
 *
 * - `long`: a header naming the columns `transaction_id` and `item` (and optionally
 *   `customer_id`, in any order; other columns are ignored), then one row per item. The rows of a
 *   transaction need not be adjacent: they are grouped by id, as arules' `format = "single"` does.
 * - `baskets`: one transaction per line, its items separated by commas (arules' `format = "basket"`).
 *
 * `auto` takes a first line with `transaction_id` and `item` fields for a long header, else reads
 * baskets. The CSV is split by CsvTokenizer: fields are trimmed of spaces and tabs; a field that
 * starts with a double quote is a quoted CSV field (commas and line breaks inside are kept, `""`
 * is a quote); a quote inside an unquoted field is an ordinary character. Blank lines are skipped,
 * CRLF line ends and a UTF-8 byte-order mark are accepted. A malformed record stops the parse with
 * a MalformedInputError that names the line it starts on.
 *
 * Fields are never turned into strings on the way: items, transaction ids and customer ids are
 * interned from the bytes (ByteInterner), and a row whose transaction id is the one of the row
 * before is recognised by comparing bytes. Only distinct names become strings, at the end.
 */

export type TransactionLayout = 'baskets' | 'long';
export type LayoutOption = 'auto' | TransactionLayout;

export const LONG_COLUMNS = { transaction: 'transaction_id', item: 'item', customer: 'customer_id' } as const;

export class MalformedInputError extends Error {
  override readonly name = 'MalformedInputError';
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`);
  }
}

export interface ParsedTransactions {
  readonly layout: TransactionLayout;
  readonly transactions: TransactionSet;
  /** Lines read, blank ones and the header included. */
  readonly lines: number;
  /** Item occurrences read, before repeated items in a transaction were dropped. */
  readonly rows: number;
  /** True when the input names customers (a customer_id column with at least one id). */
  readonly hasCustomers: boolean;
}

export class TransactionParser {
  private layout: TransactionLayout | null;
  private readonly tokenizer = new CsvTokenizer((record) => this.record(record), {
    trim: true,
    strictQuotes: false,
  });
  private readonly items = new ByteInterner();
  private readonly txIds = new ByteInterner();
  private readonly customerIds = new ByteInterner();
  private readonly builder = new TransactionBuilder();
  private readonly customerOf = new GrowableInt32(1 << 12);
  private rowCount = 0;
  // Long layout: column positions and the header, for messages.
  private columns = 0;
  private txCol = -1;
  private itemCol = -1;
  private customerCol = -1;
  private header = '';
  // The previous row's transaction and customer ids (bytes), to skip hashing repeated ids.
  private prevTx = new Uint8Array(64);
  private prevTxLen = -1;
  private prevTxId = -1;
  private prevCustomer = new Uint8Array(64);
  private prevCustomerLen = -1;
  private prevCustomerId = -1;
  private readonly decoder = new TextDecoder('utf-8');

  private readonly forcedLong: boolean;

  constructor(layout: LayoutOption = 'auto') {
    this.layout = layout === 'auto' ? null : layout;
    this.forcedLong = layout === 'long';
  }

  /** Parses the complete lines of `chunk`; a trailing partial line waits for the next chunk. */
  push(chunk: Uint8Array): void {
    this.tokenizer.push(chunk);
  }

  /** Parses the last line (one without a line break) and returns the transactions. */
  end(): ParsedTransactions {
    this.tokenizer.end();
    const lines = this.tokenizer.lines;
    if (this.layout === null) this.layout = 'baskets';
    if (this.layout === 'long' && this.columns === 0) {
      throw new MalformedInputError(
        Math.max(lines, 1),
        `no header: the long format starts with a line naming its columns, e.g. ${LONG_COLUMNS.transaction},${LONG_COLUMNS.item},${LONG_COLUMNS.customer}`,
      );
    }
    const hasCustomers = this.customerCol >= 0 && this.customerIds.size > 0;
    const transactions = this.builder.build(
      this.items.texts(),
      hasCustomers ? { of: this.customerOf.toArray(), ids: this.customerIds.texts() } : null,
    );
    return { layout: this.layout, transactions, lines, rows: this.rowCount, hasCustomers };
  }

  private record(r: CsvRecord): void {
    if (r.error !== null) throw new MalformedInputError(r.line, r.error);
    if (this.layout === null || (this.layout === 'long' && this.columns === 0)) {
      if (this.readHeader(r)) return;
      if (this.forcedLong) {
        throw new MalformedInputError(
          r.line,
          `the long format needs a header naming the columns ${LONG_COLUMNS.transaction} and ${LONG_COLUMNS.item}, got '${this.text(r).slice(0, 200)}'`,
        );
      }
      this.layout = 'baskets';
    }
    if (this.layout === 'long') this.longRow(r);
    else this.basket(r);
  }

  /** Takes the fields of the first line as a long-format header when they name the columns. */
  private readHeader(r: CsvRecord): boolean {
    const names: string[] = [];
    for (let f = 0; f < r.count; f++) names.push(this.field(r, f).toLowerCase());
    const tx = names.indexOf(LONG_COLUMNS.transaction);
    const item = names.indexOf(LONG_COLUMNS.item);
    if (tx < 0 || item < 0) return false;
    const seen = new Set<string>();
    for (const name of names) {
      if (seen.has(name))
        throw new MalformedInputError(r.line, `column '${name}' appears twice in the header`);
      seen.add(name);
    }
    this.layout = 'long';
    this.columns = r.count;
    this.txCol = tx;
    this.itemCol = item;
    this.customerCol = names.indexOf(LONG_COLUMNS.customer);
    this.header = names.join(',');
    return true;
  }

  private longRow(r: CsvRecord): void {
    if (r.count !== this.columns) {
      throw new MalformedInputError(
        r.line,
        `expected ${this.columns} fields (${this.header}), found ${r.count}`,
      );
    }
    const bytes = r.bytes;
    const ts = r.starts[this.txCol]!;
    const te = r.ends[this.txCol]!;
    if (te === ts) throw new MalformedInputError(r.line, `empty ${LONG_COLUMNS.transaction}`);
    const is = r.starts[this.itemCol]!;
    const ie = r.ends[this.itemCol]!;
    if (ie === is) throw new MalformedInputError(r.line, `empty ${LONG_COLUMNS.item}`);

    let tx: number;
    if (te - ts === this.prevTxLen && sameBytes(this.prevTx, bytes, ts, te)) tx = this.prevTxId;
    else {
      tx = this.txIds.intern(bytes, ts, te);
      this.prevTx = remember(this.prevTx, bytes, ts, te);
      this.prevTxLen = te - ts;
      this.prevTxId = tx;
    }
    let customer = -1;
    if (this.customerCol >= 0) {
      const cs = r.starts[this.customerCol]!;
      const ce = r.ends[this.customerCol]!;
      if (ce > cs) {
        if (ce - cs === this.prevCustomerLen && sameBytes(this.prevCustomer, bytes, cs, ce)) {
          customer = this.prevCustomerId;
        } else {
          customer = this.customerIds.intern(bytes, cs, ce);
          this.prevCustomer = remember(this.prevCustomer, bytes, cs, ce);
          this.prevCustomerLen = ce - cs;
          this.prevCustomerId = customer;
        }
      }
    }
    if (tx === this.customerOf.length) this.customerOf.push(customer);
    else if (customer >= 0) {
      const was = this.customerOf.data[tx]!;
      if (was < 0) this.customerOf.data[tx] = customer;
      else if (was !== customer) {
        throw new MalformedInputError(
          r.line,
          `transaction '${this.txIds.text(tx)}' has customer '${this.customerIds.text(customer)}' here but '${this.customerIds.text(was)}' on an earlier line`,
        );
      }
    }
    this.builder.add(tx, this.items.intern(bytes, is, ie));
    this.rowCount++;
  }

  private basket(r: CsvRecord): void {
    const tx = this.builder.size;
    const { bytes, count: fields, starts, ends } = r;
    for (let f = 0; f < fields; f++) {
      const s = starts[f]!;
      const e = ends[f]!;
      if (e === s) {
        throw new MalformedInputError(
          r.line,
          `empty item (field ${f + 1} of ${fields}); items are separated by single commas`,
        );
      }
      this.builder.add(tx, this.items.intern(bytes, s, e));
    }
    this.rowCount += fields;
  }

  private field(r: CsvRecord, f: number): string {
    return this.decoder.decode(r.bytes.subarray(r.starts[f]!, r.ends[f]!));
  }

  private text(r: CsvRecord): string {
    const parts: string[] = [];
    for (let f = 0; f < r.count; f++) parts.push(this.field(r, f));
    return parts.join(',');
  }
}

function sameBytes(prev: Uint8Array, bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (prev[i - start] !== bytes[i]) return false;
  return true;
}

function remember(
  buffer: Uint8Array<ArrayBuffer>,
  bytes: Uint8Array,
  start: number,
  end: number,
): Uint8Array<ArrayBuffer> {
  const target = buffer.length >= end - start ? buffer : new Uint8Array((end - start) * 2);
  target.set(bytes.subarray(start, end));
  return target;
}
