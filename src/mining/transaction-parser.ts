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
 * baskets. Fields are trimmed of spaces and tabs; a field that starts with a double quote is a
 * quoted CSV field (a comma inside is kept, `""` is a quote) and must end on the same line; a quote
 * inside an unquoted field is an ordinary character. Blank lines are skipped, CRLF line ends and a
 * UTF-8 byte-order mark are accepted. A malformed line stops the parse with a MalformedInputError
 * that names the line.
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

const COMMA = 44;
const QUOTE = 34;
const SPACE = 32;
const TAB = 9;
const CR = 13;
const LF = 10;

export class TransactionParser {
  private layout: TransactionLayout | null;
  private readonly items = new ByteInterner();
  private readonly txIds = new ByteInterner();
  private readonly customerIds = new ByteInterner();
  private readonly builder = new TransactionBuilder();
  private readonly customerOf = new GrowableInt32(1 << 12);
  private lineNo = 0;
  private rowCount = 0;
  private carry = new Uint8Array(256);
  private carryLen = 0;
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
  // Fields of the current line: [start, end) in fieldBytes.
  private fieldStart = new Int32Array(64);
  private fieldEnd = new Int32Array(64);
  private fieldBytes: Uint8Array = new Uint8Array(0);
  private scratch = new Uint8Array(256);
  private readonly decoder = new TextDecoder('utf-8');

  private readonly forcedLong: boolean;

  constructor(layout: LayoutOption = 'auto') {
    this.layout = layout === 'auto' ? null : layout;
    this.forcedLong = layout === 'long';
  }

  /** Parses the complete lines of `chunk`; a trailing partial line waits for the next chunk. */
  push(chunk: Uint8Array): void {
    let pos = 0;
    if (this.carryLen > 0) {
      const nl = chunk.indexOf(LF);
      if (nl === -1) {
        this.appendCarry(chunk, 0, chunk.length);
        return;
      }
      this.appendCarry(chunk, 0, nl);
      this.line(this.carry, 0, this.carryLen);
      this.carryLen = 0;
      pos = nl + 1;
    }
    for (;;) {
      const nl = chunk.indexOf(LF, pos);
      if (nl === -1) break;
      this.line(chunk, pos, nl);
      pos = nl + 1;
    }
    if (pos < chunk.length) this.appendCarry(chunk, pos, chunk.length);
  }

  /** Parses the last line (one without a line break) and returns the transactions. */
  end(): ParsedTransactions {
    if (this.carryLen > 0) {
      this.line(this.carry, 0, this.carryLen);
      this.carryLen = 0;
    }
    if (this.layout === null) this.layout = 'baskets';
    if (this.layout === 'long' && this.columns === 0) {
      throw new MalformedInputError(
        Math.max(this.lineNo, 1),
        `no header: the long format starts with a line naming its columns, e.g. ${LONG_COLUMNS.transaction},${LONG_COLUMNS.item},${LONG_COLUMNS.customer}`,
      );
    }
    const hasCustomers = this.customerCol >= 0 && this.customerIds.size > 0;
    const transactions = this.builder.build(
      this.items.texts(),
      hasCustomers ? { of: this.customerOf.toArray(), ids: this.customerIds.texts() } : null,
    );
    return { layout: this.layout, transactions, lines: this.lineNo, rows: this.rowCount, hasCustomers };
  }

  private appendCarry(bytes: Uint8Array, start: number, end: number): void {
    const need = this.carryLen + end - start;
    if (need > this.carry.length) {
      const next = new Uint8Array(Math.max(need, this.carry.length * 2));
      next.set(this.carry.subarray(0, this.carryLen));
      this.carry = next;
    }
    this.carry.set(bytes.subarray(start, end), this.carryLen);
    this.carryLen = need;
  }

  private line(bytes: Uint8Array, start: number, end: number): void {
    const lineNo = ++this.lineNo;
    if (end > start && bytes[end - 1] === CR) end--;
    if (lineNo === 1 && end - start >= 3 && bytes[start] === 0xef && bytes[start + 1] === 0xbb) {
      if (bytes[start + 2] === 0xbf) start += 3;
    }
    let blank = true;
    for (let i = start; i < end; i++) {
      const b = bytes[i]!;
      if (b !== SPACE && b !== TAB) {
        blank = false;
        break;
      }
    }
    if (blank) return;
    const fields = this.split(bytes, start, end);
    if (this.layout === null || (this.layout === 'long' && this.columns === 0)) {
      if (this.readHeader(fields)) return;
      if (this.forcedLong) {
        throw new MalformedInputError(
          lineNo,
          `the long format needs a header naming the columns ${LONG_COLUMNS.transaction} and ${LONG_COLUMNS.item}, got '${this.text(0, fields).slice(0, 200)}'`,
        );
      }
      this.layout = 'baskets';
    }
    if (this.layout === 'long') this.longRow(fields);
    else this.basket(fields);
  }

  /** Takes the fields of the first line as a long-format header when they name the columns. */
  private readHeader(fields: number): boolean {
    const names: string[] = [];
    for (let f = 0; f < fields; f++) names.push(this.field(f).toLowerCase());
    const tx = names.indexOf(LONG_COLUMNS.transaction);
    const item = names.indexOf(LONG_COLUMNS.item);
    if (tx < 0 || item < 0) return false;
    const seen = new Set<string>();
    for (const name of names) {
      if (seen.has(name))
        throw new MalformedInputError(this.lineNo, `column '${name}' appears twice in the header`);
      seen.add(name);
    }
    this.layout = 'long';
    this.columns = fields;
    this.txCol = tx;
    this.itemCol = item;
    this.customerCol = names.indexOf(LONG_COLUMNS.customer);
    this.header = names.join(',');
    return true;
  }

  private longRow(fields: number): void {
    if (fields !== this.columns) {
      throw new MalformedInputError(
        this.lineNo,
        `expected ${this.columns} fields (${this.header}), found ${fields}`,
      );
    }
    const bytes = this.fieldBytes;
    const ts = this.fieldStart[this.txCol]!;
    const te = this.fieldEnd[this.txCol]!;
    if (te === ts) throw new MalformedInputError(this.lineNo, `empty ${LONG_COLUMNS.transaction}`);
    const is = this.fieldStart[this.itemCol]!;
    const ie = this.fieldEnd[this.itemCol]!;
    if (ie === is) throw new MalformedInputError(this.lineNo, `empty ${LONG_COLUMNS.item}`);

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
      const cs = this.fieldStart[this.customerCol]!;
      const ce = this.fieldEnd[this.customerCol]!;
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
          this.lineNo,
          `transaction '${this.txIds.text(tx)}' has customer '${this.customerIds.text(customer)}' here but '${this.customerIds.text(was)}' on an earlier line`,
        );
      }
    }
    this.builder.add(tx, this.items.intern(bytes, is, ie));
    this.rowCount++;
  }

  private basket(fields: number): void {
    const tx = this.builder.size;
    const bytes = this.fieldBytes;
    for (let f = 0; f < fields; f++) {
      const s = this.fieldStart[f]!;
      const e = this.fieldEnd[f]!;
      if (e === s) {
        throw new MalformedInputError(
          this.lineNo,
          `empty item (field ${f + 1} of ${fields}); items are separated by single commas`,
        );
      }
      this.builder.add(tx, this.items.intern(bytes, s, e));
    }
    this.rowCount += fields;
  }

  /** Splits a line into fields; returns their number. */
  private split(bytes: Uint8Array, start: number, end: number): number {
    // Fast path: no quote on the line, fields are slices of the input.
    let fields = 0;
    let fieldStart = start;
    let quoted = false;
    for (let i = start; i <= end; i++) {
      const b = i === end ? COMMA : bytes[i]!;
      if (b === COMMA) {
        this.setField(fields++, bytes, fieldStart, i);
        fieldStart = i + 1;
      } else if (b === QUOTE) {
        quoted = true;
        break;
      }
    }
    this.fieldBytes = bytes;
    return quoted ? this.splitQuoted(bytes, start, end) : fields;
  }

  /** Records field f as bytes[start, end) trimmed of spaces and tabs. */
  private setField(f: number, bytes: Uint8Array, start: number, end: number): void {
    while (start < end && (bytes[start] === SPACE || bytes[start] === TAB)) start++;
    while (end > start && (bytes[end - 1] === SPACE || bytes[end - 1] === TAB)) end--;
    this.putField(f, start, end);
  }

  private putField(f: number, start: number, end: number): void {
    if (f === this.fieldStart.length) {
      const s = new Int32Array(f * 2);
      s.set(this.fieldStart);
      this.fieldStart = s;
      const e = new Int32Array(f * 2);
      e.set(this.fieldEnd);
      this.fieldEnd = e;
    }
    this.fieldStart[f] = start;
    this.fieldEnd[f] = end;
  }

  /** Slow path for a line with a double quote: fields are copied, unescaped, into scratch. */
  private splitQuoted(bytes: Uint8Array, start: number, end: number): number {
    if (this.scratch.length < end - start) this.scratch = new Uint8Array((end - start) * 2);
    const out = this.scratch;
    let w = 0;
    let fields = 0;
    let i = start;
    for (;;) {
      while (i < end && (bytes[i] === SPACE || bytes[i] === TAB)) i++;
      const fieldStart = w;
      if (i < end && bytes[i] === QUOTE) {
        i++;
        let closed = false;
        while (i < end) {
          const b = bytes[i]!;
          if (b === QUOTE) {
            if (i + 1 < end && bytes[i + 1] === QUOTE) {
              out[w++] = QUOTE;
              i += 2;
              continue;
            }
            i++;
            closed = true;
            break;
          }
          out[w++] = b;
          i++;
        }
        if (!closed) {
          throw new MalformedInputError(
            this.lineNo,
            `quoted field ${fields + 1} is not closed (a quoted field must end on its line)`,
          );
        }
        while (i < end && (bytes[i] === SPACE || bytes[i] === TAB)) i++;
        if (i < end && bytes[i] !== COMMA) {
          throw new MalformedInputError(
            this.lineNo,
            `unexpected text after the closing quote of field ${fields + 1}`,
          );
        }
        this.putField(fields++, fieldStart, w);
      } else {
        while (i < end && bytes[i] !== COMMA) out[w++] = bytes[i++]!;
        let e = w;
        while (e > fieldStart && (out[e - 1] === SPACE || out[e - 1] === TAB)) e--;
        this.putField(fields++, fieldStart, e);
      }
      if (i >= end) break;
      i++; // the comma
      if (i === end) {
        this.putField(fields++, w, w);
        break;
      }
    }
    this.fieldBytes = out;
    return fields;
  }

  private field(f: number): string {
    return this.decoder.decode(this.fieldBytes.subarray(this.fieldStart[f]!, this.fieldEnd[f]!));
  }

  private text(from: number, fields: number): string {
    const parts: string[] = [];
    for (let f = from; f < fields; f++) parts.push(this.field(f));
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
