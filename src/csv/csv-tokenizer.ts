/**
 * The CSV tokenizer that the profile and transaction readers share: bytes in, fed chunk by chunk,
 * records of fields out, as byte ranges (no strings are made here). RFC 4180 quoting: a field that
 * starts with a double quote runs to the matching quote, `""` inside is one quote, and commas and
 * line breaks inside are part of the field. Lines end with LF or CRLF; a UTF-8 byte-order mark at
 * the start is skipped; blank lines (spaces and tabs only) are not records.
 *
 * A line without a quote is split in place: its fields are ranges of the input. A line with a
 * quote takes the slow path: its fields are copied, unquoted, into a scratch buffer, which also
 * carries a quoted field over line breaks and chunk ends.
 */

/** How strict the reading is; the defaults are RFC 4180's. */
export interface CsvOptions {
  /** Spaces and tabs around a field (and around its quotes) are not part of it. Default false. */
  readonly trim?: boolean;
  /**
   * A quote inside an unquoted field is an error; else it is an ordinary character (`12" pizza`).
   * Text after a closing quote is an error either way. Default true.
   */
  readonly strictQuotes?: boolean;
}

/**
 * One record. Field f is bytes[starts[f], ends[f]). The tokenizer reuses the object and its
 * memory: it is valid only during the callback.
 */
export interface CsvRecord {
  /** The line the record starts on, from 1. */
  readonly line: number;
  readonly count: number;
  readonly bytes: Uint8Array;
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  /** Why the record is not CSV (its fields are then incomplete), or null. */
  readonly error: string | null;
}

const COMMA = 44;
const QUOTE = 34;
const SPACE = 32;
const TAB = 9;
const CR = 13;
const LF = 10;

class RecordBuffer implements CsvRecord {
  line = 0;
  count = 0;
  bytes: Uint8Array = new Uint8Array(0);
  starts = new Int32Array(64);
  ends = new Int32Array(64);
  error: string | null = null;

  put(f: number, start: number, end: number): void {
    if (f === this.starts.length) this.grow();
    this.starts[f] = start;
    this.ends[f] = end;
  }

  /** Twice the room for fields. */
  grow(): void {
    const s = new Int32Array(this.starts.length * 2);
    s.set(this.starts);
    this.starts = s;
    const e = new Int32Array(this.ends.length * 2);
    e.set(this.ends);
    this.ends = e;
  }
}

export class CsvTokenizer {
  private readonly record = new RecordBuffer();
  private readonly trim: boolean;
  private readonly strictQuotes: boolean;
  private lineNo = 0;
  /** A line that a chunk boundary cut, until its end arrives. */
  private carry = new Uint8Array(256);
  private carryLen = 0;
  /** The slow path's fields, unquoted. */
  private scratch = new Uint8Array(256);
  // A quoted field still open at the end of a line: the record so far is in scratch[0, written).
  private open = false;
  private written = 0;
  private openField = 0;
  /** The line the open field is on ended with CRLF (else LF): the break is part of the field. */
  private openCrlf = false;
  /** Reading lines one by one (tokenizeLine): a blank line is a record. */
  private lineMode = false;

  constructor(
    private readonly onRecord: (record: CsvRecord) => void,
    options: CsvOptions = {},
  ) {
    this.trim = options.trim ?? false;
    this.strictQuotes = options.strictQuotes ?? true;
  }

  /** Lines read so far, blank ones and those inside quoted fields included. */
  get lines(): number {
    return this.lineNo;
  }

  /** Reads the complete lines of `chunk`; a trailing partial line waits for the next chunk. */
  push(chunk: Uint8Array): void {
    let pos = 0;
    if (this.carryLen > 0) {
      const nl = chunk.indexOf(LF);
      if (nl === -1) {
        this.appendCarry(chunk, 0, chunk.length);
        return;
      }
      this.appendCarry(chunk, 0, nl);
      const length = this.carryLen;
      this.carryLen = 0;
      this.line(this.carry, 0, length);
      pos = nl + 1;
    }
    pos = this.readLines(chunk, pos);
    if (pos < chunk.length) this.appendCarry(chunk, pos, chunk.length);
  }

  /**
   * The lines of chunk from pos on; returns where the first incomplete one starts. The hot loop,
   * in a function of its own: one with cold calls after it is compiled before they have run,
   * and left again at the end of every chunk.
   */
  private readLines(chunk: Uint8Array, pos: number): number {
    for (;;) {
      const nl = chunk.indexOf(LF, pos);
      if (nl === -1) return pos;
      this.line(chunk, pos, nl);
      pos = nl + 1;
    }
  }

  /** Reads the last line (one without a line break); a quoted field still open is an error record. */
  end(): void {
    if (this.carryLen > 0) {
      const length = this.carryLen;
      this.carryLen = 0;
      this.line(this.carry, 0, length);
    }
    if (this.open) this.unclosed('at the end of the input');
  }

  /**
   * Reads bytes[start, end) as one whole record, for readers that cut their input into lines
   * themselves: a blank line is a record of one field, a quote left open is an error record, a
   * byte-order mark at its start is skipped. A tokenizer reads either lines or a stream (push).
   */
  tokenizeLine(bytes: Uint8Array, start: number, end: number): void {
    this.lineMode = true;
    this.lineNo = 0;
    this.open = false;
    this.line(bytes, start, end);
    if (this.open) this.unclosed('on its line (this reader takes no line breaks inside quotes)');
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

  /**
   * One line, bytes[start, end) without its LF. Kept small (the fast path and the checks are
   * functions of their own) so that V8 inlines it into the loop over lines.
   */
  private line(bytes: Uint8Array, start: number, end: number): void {
    const lineNo = ++this.lineNo;
    const crlf = end > start && bytes[end - 1] === CR;
    if (crlf) end--;
    if (this.open) {
      this.resume(bytes, start, end, crlf);
      return;
    }
    if (lineNo === 1 && end - start >= 3 && bytes[start] === 0xef && bytes[start + 1] === 0xbb) {
      if (bytes[start + 2] === 0xbf) start += 3;
    }
    if (!this.lineMode && isBlank(bytes, start, end)) return;
    const record = this.record;
    record.line = lineNo;
    const fields = this.split(bytes, start, end);
    if (fields < 0) {
      this.written = 0;
      record.count = 0;
      this.scan(bytes, start, end, crlf, false);
      return;
    }
    record.count = fields;
    record.bytes = bytes;
    record.error = null;
    this.onRecord(record);
  }

  /**
   * Fast path: the fields of a line without quotes are ranges of it; -1 when it has a quote. Two
   * copies of the loop, one trimming and one not: a test of the option per field cost a tenth of
   * the transaction parser's time.
   */
  private split(bytes: Uint8Array, start: number, end: number): number {
    return this.trim ? this.splitTrimmed(bytes, start, end) : this.splitRaw(bytes, start, end);
  }

  private splitRaw(bytes: Uint8Array, start: number, end: number): number {
    const record = this.record;
    let starts = record.starts;
    let ends = record.ends;
    let fields = 0;
    let fieldStart = start;
    for (let i = start; i <= end; i++) {
      const b = i === end ? COMMA : bytes[i]!;
      if (b === COMMA) {
        if (fields === starts.length) {
          record.grow();
          starts = record.starts;
          ends = record.ends;
        }
        starts[fields] = fieldStart;
        ends[fields++] = i;
        fieldStart = i + 1;
      } else if (b === QUOTE) return -1;
    }
    return fields;
  }

  private splitTrimmed(bytes: Uint8Array, start: number, end: number): number {
    const record = this.record;
    let starts = record.starts;
    let ends = record.ends;
    let fields = 0;
    let fieldStart = start;
    for (let i = start; i <= end; i++) {
      const b = i === end ? COMMA : bytes[i]!;
      if (b === COMMA) {
        let s = fieldStart;
        let e = i;
        while (s < e && (bytes[s] === SPACE || bytes[s] === TAB)) s++;
        while (e > s && (bytes[e - 1] === SPACE || bytes[e - 1] === TAB)) e--;
        if (fields === starts.length) {
          record.grow();
          starts = record.starts;
          ends = record.ends;
        }
        starts[fields] = s;
        ends[fields++] = e;
        fieldStart = i + 1;
      } else if (b === QUOTE) return -1;
    }
    return fields;
  }

  /** The next line of a record whose quoted field is open: the line break belongs to the field. */
  private resume(bytes: Uint8Array, start: number, end: number, crlf: boolean): void {
    const out = this.reserve(end - start + 2);
    if (this.openCrlf) out[this.written++] = CR;
    out[this.written++] = LF;
    this.open = false;
    this.scan(bytes, start, end, crlf, true);
  }

  /** Room for `more` bytes after what scratch holds; the content is kept. */
  private reserve(more: number): Uint8Array {
    const need = this.written + more;
    if (need > this.scratch.length) {
      const next = new Uint8Array(Math.max(need, this.scratch.length * 2));
      next.set(this.scratch.subarray(0, this.written));
      this.scratch = next;
    }
    return this.scratch;
  }

  /**
   * Slow path: copies the fields of bytes[i, end), unquoted, into scratch after what it holds.
   * `inQuote`: the line continues a quoted field that started at openField.
   */
  private scan(bytes: Uint8Array, i: number, end: number, crlf: boolean, inQuote: boolean): void {
    const out = this.reserve(end - i);
    const record = this.record;
    const trim = this.trim;
    let w = this.written;
    let f = record.count;
    let fieldStart = this.openField;
    for (;;) {
      if (!inQuote) {
        if (trim) while (i < end && (bytes[i] === SPACE || bytes[i] === TAB)) i++;
        fieldStart = w;
        if (i < end && bytes[i] === QUOTE) {
          i++;
          inQuote = true;
        } else {
          while (i < end) {
            const b = bytes[i]!;
            if (b === COMMA) break;
            if (b === QUOTE && this.strictQuotes) {
              this.fail(f, 'a quote in an unquoted field');
              return;
            }
            out[w++] = b;
            i++;
          }
          let e = w;
          if (trim) while (e > fieldStart && (out[e - 1] === SPACE || out[e - 1] === TAB)) e--;
          record.put(f++, fieldStart, e);
          if (i >= end) break;
          i++; // the comma
          if (i === end) {
            record.put(f++, w, w);
            break;
          }
          continue;
        }
      }
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
        // The field goes on on the next line.
        record.count = f;
        this.written = w;
        this.openField = fieldStart;
        this.openCrlf = crlf;
        this.open = true;
        return;
      }
      inQuote = false;
      if (trim) while (i < end && (bytes[i] === SPACE || bytes[i] === TAB)) i++;
      if (i < end && bytes[i] !== COMMA) {
        this.fail(f, 'text after the closing quote');
        return;
      }
      record.put(f++, fieldStart, w);
      if (i >= end) break;
      i++; // the comma
      if (i === end) {
        record.put(f++, w, w);
        break;
      }
    }
    record.count = f;
    record.bytes = out;
    record.error = null;
    this.written = 0;
    this.onRecord(record);
  }

  /** Reports the record as bad at field f (from 0); the rest of its line is dropped. */
  private fail(f: number, reason: string): void {
    const record = this.record;
    record.count = f;
    record.bytes = this.scratch;
    record.error = `field ${f + 1}: ${reason}`;
    this.written = 0;
    this.onRecord(record);
  }

  private unclosed(where: string): void {
    this.open = false;
    this.fail(this.record.count, `quoted field not closed ${where}`);
  }
}

/** True when bytes[start, end) holds nothing but spaces and tabs. */
function isBlank(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = bytes[i]!;
    if (b !== SPACE && b !== TAB) return false;
  }
  return true;
}

const textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * The fields of a record as strings. The record's bytes are decoded once; when they are all ASCII
 * (as many characters as bytes) the fields are slices of that text, else each is decoded on its own.
 */
export function fieldTexts(record: CsvRecord): string[] {
  const { bytes, starts, ends, count } = record;
  const fields = new Array<string>(count);
  if (count === 0) return fields;
  const from = starts[0]!;
  const text = textDecoder.decode(bytes.subarray(from, ends[count - 1]!));
  const ascii = text.length === ends[count - 1]! - from;
  for (let f = 0; f < count; f++) {
    fields[f] = ascii
      ? text.slice(starts[f]! - from, ends[f]! - from)
      : textDecoder.decode(bytes.subarray(starts[f]!, ends[f]!));
  }
  return fields;
}

/**
 * The fields of a record whose bytes are all ASCII and already decoded: `text` is record.bytes as
 * a string (from its first byte), so byte offsets are character offsets and no decoding is needed.
 */
export function sliceFields(record: CsvRecord, text: string): string[] {
  const fields = new Array<string>(record.count);
  for (let f = 0; f < record.count; f++) fields[f] = text.slice(record.starts[f]!, record.ends[f]!);
  return fields;
}
