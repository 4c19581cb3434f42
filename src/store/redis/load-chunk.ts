/**
 * The per-line work of a bulk load, one chunk of a file at a time: split into lines, parse,
 * validate, encode, and find each customer's bucket. It runs in worker threads (load-worker.ts)
 * or, for small files and in tests, on the loader's own thread; the result is the same.
 */

import { normalizePhone } from '../phone-directory.js';
import { ProfileCodec, type SymbolDictionary } from '../profile-codec.js';
import type { CsvProfileParser } from '../profile-csv.js';
import { FAST_BLANK, FAST_ENCODED, JsonLineEncoder } from '../profile-json-fast.js';
import { parseLine } from '../profile-lines.js';
import { slotBucketOf } from './slot-placement.js';

/** What a chunk of lines became; line numbers are relative to the chunk (its first line is 1). */
export interface EncodedChunk {
  /** Lines in the chunk, blank ones and skipped ones included. */
  readonly lines: number;
  /** The last line that was a record or a bad line; 0 when there was none. */
  readonly lastLine: number;
  /** Customers encoded. */
  readonly count: number;
  /**
   * Each customer's id (UTF-8) then its encoded profile, customer after customer: customer i's id
   * is data[ends[2i - 1] ?? 0 … ends[2i]) and its profile data[ends[2i] … ends[2i + 1]).
   */
  readonly data: Uint8Array;
  readonly ends: Uint32Array;
  readonly buckets: Uint32Array;
  /** Every bad line, in order. */
  readonly badLines: Uint32Array;
  /** Why, for the first MAX_REASONS of them. */
  readonly badReasons: readonly string[];
  /** Customers with a phone number, as pairs: the normalised number, then the customer id. */
  readonly phones: readonly string[];
}

/** The loader reports the first 20 bad lines of a file, so no chunk needs to say more. */
const MAX_REASONS = 20;

export interface ChunkContext {
  readonly codec: ProfileCodec;
  readonly buckets: number;
  /** CSV files: the parser made from the header; null for NDJSON. */
  readonly csv: CsvProfileParser | null;
  /** NDJSON: the fast path for plain lines, with the codec's dictionary; null: JSON.parse every line. */
  readonly fast: JsonLineEncoder | null;
}

export function chunkContext(
  dictionary: SymbolDictionary,
  buckets: number,
  csv: CsvProfileParser | null,
): ChunkContext {
  const fast = csv === null ? new JsonLineEncoder(dictionary.toJSON(), buckets) : null;
  return { codec: new ProfileCodec(dictionary), buckets, csv, fast };
}

/** The memory a chunk's typed arrays own, for postMessage's transfer list. */
export function transferablesOf(chunk: EncodedChunk): ArrayBuffer[] {
  return [chunk.data, chunk.ends, chunk.buckets, chunk.badLines].map((a) => a.buffer as ArrayBuffer);
}

const LINE_BREAK = /\r\n|\n|\r/g;

/**
 * Calls `fn` with each line of `text` and its number (from 1), split as node:readline splits them
 * (\n, \r\n or a lone \r), and returns how many lines there were. Text after the last line break
 * is a line unless it is empty.
 */
export function eachLine(text: string, fn: (line: string, n: number) => void): number {
  let n = 0;
  let from = 0;
  if (!text.includes('\r')) {
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
      fn(text.slice(from, nl), ++n);
      from = nl + 1;
    }
  } else {
    LINE_BREAK.lastIndex = 0;
    for (let m = LINE_BREAK.exec(text); m !== null; m = LINE_BREAK.exec(text)) {
      fn(text.slice(from, m.index), ++n);
      from = LINE_BREAK.lastIndex;
    }
  }
  if (from < text.length) fn(text.slice(from), ++n);
  return n;
}

/**
 * The text of a piece of a file: `head` then `bytes`, each of whole lines. The head is the line
 * that the previous chunk's end cut in two, put together again (null when no line was cut).
 */
export function chunkText(head: Uint8Array | null, bytes: Uint8Array): string {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  return head === null ? text : Buffer.from(head).toString('utf8') + text;
}

/** Where ChunkBuilders write; encodeChunk() is synchronous, so one serves them all. */
let scratch = Buffer.allocUnsafeSlow(1 << 18);

/** Collects what encodeChunk() makes of the lines of a chunk. */
class ChunkBuilder {
  private out = scratch;
  private at = 0;
  private readonly ends: number[] = [];
  private readonly buckets: number[] = [];
  private readonly badLines: number[] = [];
  private readonly badReasons: string[] = [];
  private readonly phones: string[] = [];
  lastLine = 0;

  constructor(private readonly context: ChunkContext) {}

  private room(n: number): Buffer {
    if (this.at + n > this.out.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.out.length * 2, this.at + n));
      this.out.copy(bigger, 0, 0, this.at);
      this.out = bigger;
      scratch = bigger;
    }
    return this.out;
  }

  /** A customer whose id is `bytes[idStart, idEnd)` (UTF-8) and profile `value[0, length)`. */
  customer(
    bytes: Uint8Array,
    idStart: number,
    idEnd: number,
    value: Buffer,
    length: number,
    bucket: number,
  ): void {
    const out = this.room(idEnd - idStart + length);
    let at = this.at;
    for (let k = idStart; k < idEnd; k++) out[at++] = bytes[k]!;
    this.ends.push(at);
    this.at = at + value.copy(out, at, 0, length);
    this.ends.push(this.at);
    this.buckets.push(bucket);
  }

  /** The customer's phone number, as the profile has it (normalised here; ignored if it is none). */
  phone(raw: string, customerId: string): void {
    const phone = normalizePhone(raw);
    if (phone !== null) this.phones.push(phone, customerId);
  }

  bad(line: number, reason: string): void {
    this.badLines.push(line);
    if (this.badReasons.length < MAX_REASONS) this.badReasons.push(reason);
  }

  /** The general path: parse, validate, encodeRecord. */
  line(text: string, n: number): void {
    const result = parseLine(text, this.context.csv);
    if (result === null) return;
    this.lastLine = n;
    if (typeof result === 'string') {
      this.bad(n, result);
      return;
    }
    let value: Buffer;
    try {
      value = this.context.codec.encodeRecord(result);
    } catch (err) {
      // Cannot happen to a record that passed the schema; reported like a bad line all the same.
      this.bad(n, `cannot encode: ${(err as Error).message}`);
      return;
    }
    const id = Buffer.from(result.id);
    this.customer(id, 0, id.length, value, value.length, slotBucketOf(result.id, this.context.buckets));
    const phone = result.attributes?.phone;
    if (typeof phone === 'string') this.phone(phone, result.id);
  }

  build(lines: number): EncodedChunk {
    const data = new Uint8Array(new ArrayBuffer(this.at));
    data.set(this.out.subarray(0, this.at));
    return {
      lines,
      lastLine: this.lastLine,
      count: this.buckets.length,
      data,
      ends: Uint32Array.from(this.ends),
      buckets: Uint32Array.from(this.buckets),
      badLines: Uint32Array.from(this.badLines),
      badReasons: this.badReasons,
      phones: this.phones,
    };
  }
}

const LF = 10;
const CR = 13;

/** True when every \r of `data` starts a \r\n: lines are then split at \n alone. */
function onlyCrLf(data: Buffer): boolean {
  for (let cr = data.indexOf(CR); cr >= 0; cr = data.indexOf(CR, cr + 1))
    if (data[cr + 1] !== LF) return false;
  return true;
}

/**
 * Encodes the lines of a piece of a profiles file (see chunkText()), given as its bytes: NDJSON
 * lines through the fast path when they are plain, every other line (and CSV) through the general
 * path. The first `skip` lines are counted but not read (the blank lines and header of a CSV
 * file, which the loader has read already).
 */
export function encodeChunkBytes(
  head: Uint8Array | null,
  bytes: Uint8Array,
  skip: number,
  context: ChunkContext,
): EncodedChunk {
  const fast = context.fast;
  const parts = (head === null ? [bytes] : [head, bytes]).map((p) =>
    Buffer.from(p.buffer, p.byteOffset, p.byteLength),
  );
  // A lone \r is a line break for node:readline; such pieces take the general path.
  if (fast === null || context.csv !== null || !parts.every(onlyCrLf)) {
    return encodeChunk(chunkText(head, bytes), skip, context);
  }
  const builder = new ChunkBuilder(context);
  let lines = 0;
  for (let buffer of parts) {
    // Every line must end in a line break, where the fast path's scans stop (the file's last may not).
    if (buffer.length > 0 && buffer[buffer.length - 1] !== LF)
      buffer = Buffer.concat([buffer, Buffer.of(LF)]);
    for (let from = 0; from < buffer.length; ) {
      const lf = buffer.indexOf(LF, from);
      const end = lf > from && buffer[lf - 1] === CR ? lf - 1 : lf;
      const n = ++lines;
      if (n > skip) {
        const status = fast.encodeLine(buffer, from, end);
        if (status === FAST_ENCODED) {
          builder.lastLine = n;
          builder.customer(buffer, fast.idStart, fast.idEnd, fast.value, fast.length, fast.bucket);
          const phone = phoneInLine(buffer, from, end);
          if (phone !== null) builder.phone(phone, buffer.toString('utf8', fast.idStart, fast.idEnd));
        } else if (status !== FAST_BLANK) {
          builder.line(buffer.toString('utf8', from, end), n);
        }
      }
      from = lf + 1;
    }
  }
  return builder.build(lines);
}

const PHONE_KEY = Buffer.from('"phone"');
const QUOTE = 0x22;
const COLON = 0x3a;

/**
 * The `phone` attribute of a plain NDJSON line that the fast path encoded, or null. The schema
 * allows the key `phone` only among attributes (top-level fields and consent are fixed), and an
 * unescaped `"phone"` followed by a colon can only be a key; a value with escapes is parsed properly.
 */
export function phoneInLine(line: Buffer, from: number, end: number): string | null {
  // A view of the line alone: searching the buffer itself would scan on through the next lines.
  const at = line.subarray(from, end).indexOf(PHONE_KEY);
  if (at < 0) return null;
  let i = from + at + PHONE_KEY.length;
  while (i < end && (line[i] === 0x20 || line[i] === 0x09)) i++;
  if (line[i] !== COLON) return null;
  i++;
  while (i < end && (line[i] === 0x20 || line[i] === 0x09)) i++;
  if (line[i] !== QUOTE) return null;
  // With an escaped quote inside, this stops short at the backslash, which sends it to JSON.parse.
  const close = line.indexOf(QUOTE, i + 1);
  if (close < 0 || close > end) return null;
  const value = line.toString('utf8', i + 1, close);
  if (!value.includes('\\')) return value;
  const attributes = (JSON.parse(line.toString('utf8', from, end)) as { attributes?: { phone?: unknown } })
    .attributes;
  return typeof attributes?.phone === 'string' ? attributes.phone : null;
}

/** encodeChunkBytes() for text: every line through the general path. */
function encodeChunk(text: string, skip: number, context: ChunkContext): EncodedChunk {
  const builder = new ChunkBuilder(context);
  const lines = eachLine(text, (line, n) => {
    if (n > skip) builder.line(line, n);
  });
  return builder.build(lines);
}
