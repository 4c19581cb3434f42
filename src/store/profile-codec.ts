/**
 * A compact binary form of a CustomerProfile, for Redis hash values (field = customer id, value =
 * these bytes). A typical profile (18 attributes, a few holdings, 20 affinities) must stay under
 * ~175 bytes, so strings that recur across customers are written as indexes into a shared
 * SymbolDictionary and numbers as varints.
 *
 * Format, version 1 (varint = unsigned LEB128, at most 8 bytes, at most 2^53 - 1):
 *
 *   version      u8 = 1
 *   attributes   varint count, then count × (symbol key, value)
 *   consent      u8 bitmask of the channels present, u8 bitmask of their values (bit i = CHANNELS[i])
 *   holdings     varint count, then count × symbol
 *   affinities   varint count, then count × (symbol product, u16 LE round(score × 65535))
 *
 *   symbol       varint v: v odd → dictionary index (v - 1) / 2;
 *                v even → v / 2 bytes of UTF-8 follow (the string is not in the dictionary)
 *   value        u8 tag, then:
 *                  0 null, 1 true, 2 false   nothing
 *                  3 int                     zigzag varint (|n| < 2^52, so the zigzag stays exact)
 *                  4 dec2                    zigzag varint of n × 100 (n has at most 2 decimals)
 *                  5 float64                 8 bytes LE (anything else: big, -0, NaN, ±Infinity)
 *                  6 string                  symbol
 *                  7 list                    varint length, then length × value (string or number)
 *
 * The id is not stored: it is the hash field. Counts precede their items and every read is
 * bounds-checked, and decode() insists on consuming every byte, so a truncated or corrupted value
 * throws a CodecError instead of yielding half a profile. Strings with lone surrogates do not
 * survive UTF-8 (they come back with U+FFFD), as with any UTF-8 store.
 */
import { AffinityTable } from '../domain/affinity-table.js';
import { CHANNELS, type Channel } from '../domain/channel.js';
import { internId, knownId } from '../domain/intern.js';
import type { AttributeValue, CustomerProfile, ProfileRecord } from '../domain/profile.js';

export const FORMAT_VERSION = 1;

/** Bytes that are not a valid encoded profile. */
export class CodecError extends Error {
  override readonly name = 'CodecError';
}

/** What the codec needs of a dictionary; a DictionaryBuilder qualifies while it grows. */
export interface SymbolLookup {
  /** Index of `s`, or -1. */
  indexOf(s: string): number;
  /** The string at `i`, or undefined when out of range. */
  at(i: number): string | undefined;
}

// ---- dictionaries ------------------------------------------------------------------------------

/** An immutable list of frequent strings: product ids, attribute names, attribute values. */
export class SymbolDictionary implements SymbolLookup {
  static readonly EMPTY = new SymbolDictionary([]);

  private readonly index = new Map<string, number>();

  private constructor(private readonly list: readonly string[]) {
    // The first occurrence wins, so a duplicate entry still decodes but is never encoded.
    for (let i = 0; i < list.length; i++) if (!this.index.has(list[i]!)) this.index.set(list[i]!, i);
  }

  /** From the JSON form (toJSON()); the order is the encoding, so it must be kept exactly. */
  static from(list: readonly string[]): SymbolDictionary {
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) {
      throw new TypeError('a symbol dictionary is an array of strings');
    }
    return new SymbolDictionary(Object.freeze([...list]));
  }

  get size(): number {
    return this.list.length;
  }

  indexOf(s: string): number {
    return this.index.get(s) ?? -1;
  }

  at(i: number): string | undefined {
    return this.list[i];
  }

  toJSON(): string[] {
    return [...this.list];
  }
}

/**
 * Counts how often each string of sample profiles would be written, to build a dictionary in
 * order of frequency: the 64 most frequent strings get the one-byte codes, which is the order that
 * makes the encoded profiles smallest. A bulk loader counts the first few thousand records, then
 * freezes the dictionary, so that every worker thread encodes with the same one.
 */
export class SymbolCounter {
  private readonly counts = new Map<string, number>();

  constructor(
    readonly maxEntries = 4096,
    /** Longer strings gain little from a 2-byte index and would bloat the dictionary. */
    readonly maxLength = 64,
  ) {}

  private count(s: string): void {
    if (s.length <= this.maxLength) this.counts.set(s, (this.counts.get(s) ?? 0) + 1);
  }

  addRecord(record: ProfileRecord): void {
    for (const product of record.holdings ?? []) this.count(product);
    for (const affinity of record.affinities ?? []) this.count(affinity.product);
    const attributes = record.attributes ?? {};
    for (const key of Object.keys(attributes)) {
      this.count(key);
      const value = attributes[key];
      if (typeof value === 'string') this.count(value);
      else if (Array.isArray(value)) for (const item of value) if (typeof item === 'string') this.count(item);
    }
  }

  /** `seeds` first (in their order), then the counted strings, most frequent first (ties: first seen). */
  dictionary(seeds: readonly string[] = []): SymbolDictionary {
    const list: string[] = [];
    const taken = new Set<string>();
    for (const s of seeds) {
      if (list.length >= this.maxEntries) break;
      if (s.length > this.maxLength || taken.has(s)) continue;
      taken.add(s);
      list.push(s);
    }
    // Array.prototype.sort is stable: equal counts keep the order of first sight.
    const byCount = [...this.counts].sort((a, b) => b[1] - a[1]);
    for (const [s] of byCount) {
      if (list.length >= this.maxEntries) break;
      if (!taken.has(s)) list.push(s);
    }
    return SymbolDictionary.from(list);
  }
}

// ---- encoding ----------------------------------------------------------------------------------

const NULL = 0;
const TRUE = 1;
const FALSE = 2;
const INT = 3;
const DEC2 = 4;
const FLOAT64 = 5;
const STRING = 6;
const LIST = 7;

/** Integers below this in magnitude zigzag to at most 2^53 - 1, still exact in a double. */
const INT_LIMIT = 2 ** 52;

// One scratch buffer for every encode(): the result is copied out at its exact size.
let out = Buffer.allocUnsafe(1024);
let pos = 0;

function ensure(n: number): void {
  if (pos + n <= out.length) return;
  const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, pos + n));
  out.copy(bigger, 0, 0, pos);
  out = bigger;
}

function writeVarint(v: number): void {
  ensure(8);
  pos = putVarint(out, pos, v);
}

/** Writes varint `v` into `target` at `at` (room for 8 bytes needed); returns where it ends. */
export function putVarint(target: Uint8Array, at: number, v: number): number {
  // Most varints are symbol codes and counts: one or two bytes.
  if (v < 0x80) {
    target[at] = v;
    return at + 1;
  }
  if (v < 0x4000) {
    target[at] = (v & 0x7f) | 0x80;
    target[at + 1] = v >>> 7;
    return at + 2;
  }
  while (v >= 0x80) {
    target[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  target[at++] = v;
  return at;
}

function writeSymbol(s: string, dict: SymbolLookup): void {
  writeSymbolAt(dict.indexOf(s), s);
}

/** `s`, whose dictionary index is `i` (or -1). */
function writeSymbolAt(i: number, s: string): void {
  if (i >= 0) {
    writeVarint(i * 2 + 1);
    return;
  }
  // At most 3 UTF-8 bytes per UTF-16 unit: a short string's header is surely one byte, so write
  // the text first and fill in its length, instead of measuring it with Buffer.byteLength.
  ensure(9 + s.length * 3);
  if (s.length <= 21) {
    const n = out.write(s, pos + 1, 'utf8');
    out[pos] = n * 2;
    pos += 1 + n;
  } else {
    const n = Buffer.byteLength(s, 'utf8');
    writeVarint(n * 2);
    pos += out.write(s, pos, n, 'utf8');
  }
}

function writeNumber(v: number): void {
  ensure(9);
  pos = putNumber(out, pos, v);
}

/** Writes number `v` with its tag into `target` at `at` (room for 9 bytes needed); returns where it ends. */
export function putNumber(target: Buffer, at: number, v: number): number {
  if (Number.isInteger(v) && Math.abs(v) < INT_LIMIT && !Object.is(v, -0)) {
    target[at] = INT;
    return putVarint(target, at + 1, v >= 0 ? v * 2 : -v * 2 - 1);
  }
  const cents = Math.round(v * 100);
  if (Math.abs(cents) < INT_LIMIT && cents / 100 === v && !Object.is(v, -0)) {
    target[at] = DEC2;
    return putVarint(target, at + 1, cents >= 0 ? cents * 2 : -cents * 2 - 1);
  }
  target[at] = FLOAT64;
  return target.writeDoubleLE(v, at + 1);
}

function writeValue(value: AttributeValue, dict: SymbolLookup): void {
  ensure(1);
  if (value === null) out[pos++] = NULL;
  else if (value === true) out[pos++] = TRUE;
  else if (value === false) out[pos++] = FALSE;
  else if (typeof value === 'number') writeNumber(value);
  else if (typeof value === 'string') {
    out[pos++] = STRING;
    writeSymbol(value, dict);
  } else if (Array.isArray(value)) {
    out[pos++] = LIST;
    writeVarint(value.length);
    for (const item of value) {
      if (typeof item === 'number') writeNumber(item);
      else if (typeof item === 'string') {
        ensure(1);
        out[pos++] = STRING;
        writeSymbol(item, dict);
      } else throw new CodecError(`cannot encode list item ${String(item)}`);
    }
  } else throw new CodecError(`cannot encode attribute value ${String(value)}`);
}

function writeAttributes(attributes: Readonly<Record<string, AttributeValue>>, dict: SymbolLookup): void {
  const keys = Object.keys(attributes);
  writeVarint(keys.length);
  for (const key of keys) {
    writeSymbol(key, dict);
    writeValue(attributes[key]!, dict);
  }
}

function writeConsent(consent: Readonly<Partial<Record<Channel, boolean>>>): void {
  let present = 0;
  let values = 0;
  for (let i = 0; i < CHANNELS.length; i++) {
    const given = consent[CHANNELS[i]!];
    if (given === undefined) continue;
    present |= 1 << i;
    if (given) values |= 1 << i;
  }
  ensure(2);
  out[pos++] = present;
  out[pos++] = values;
}

/** Clamped so that an out-of-range score (or NaN) cannot wrap around. */
function writeScore(score: number): void {
  const q = score > 0 ? Math.min(0xffff, Math.round(score * 0xffff)) : 0;
  ensure(2);
  out[pos++] = q & 0xff;
  out[pos++] = q >>> 8;
}

// Scratch for writeRecord: the dictionary index of each item, and where it first occurred.
let codes = new Int32Array(256);
let firsts = new Int32Array(256);
let scoreAt = new Float64Array(256);

function scratchFor(n: number): void {
  if (n <= codes.length) return;
  codes = new Int32Array(n);
  firsts = new Int32Array(n);
  scoreAt = new Float64Array(n);
}

/**
 * Marks in `firsts` where each of the n items (codes[i], or names(i) when not in the dictionary)
 * first occurred, and returns how many distinct items there are. Equal strings have equal codes,
 * so dictionary items compare as integers.
 */
function dedupe(n: number, name: (i: number) => string): number {
  let distinct = 0;
  for (let i = 0; i < n; i++) {
    const code = codes[i]!;
    let first = i;
    for (let j = 0; j < i; j++) {
      if (firsts[j] !== j || codes[j] !== code) continue;
      if (code >= 0 || name(j) === name(i)) {
        first = j;
        break;
      }
    }
    firsts[i] = first;
    if (first === i) distinct++;
  }
  return distinct;
}

/**
 * Writes a record as encode(profileFromRecord(record)) would, without building the profile:
 * holdings are a set (the first of equal ids is kept), affinities keep the position of a product's
 * first occurrence and the score of its last, as AffinityTable.from does.
 */
function writeRecord(record: ProfileRecord, dict: SymbolLookup): void {
  ensure(1);
  out[pos++] = FORMAT_VERSION;
  writeAttributes(record.attributes ?? {}, dict);
  writeConsent(record.consent ?? {});

  const holdings = record.holdings ?? [];
  let n = holdings.length;
  scratchFor(n);
  for (let i = 0; i < n; i++) codes[i] = dict.indexOf(holdings[i]!);
  writeVarint(n < 2 ? n : dedupe(n, (i) => holdings[i]!));
  for (let i = 0; i < n; i++) if (n < 2 || firsts[i] === i) writeSymbolAt(codes[i]!, holdings[i]!);

  const affinities = record.affinities ?? [];
  n = affinities.length;
  scratchFor(n);
  for (let i = 0; i < n; i++) {
    codes[i] = dict.indexOf(affinities[i]!.product);
    scoreAt[i] = affinities[i]!.score;
  }
  const distinct = n < 2 ? n : dedupe(n, (i) => affinities[i]!.product);
  // A product listed twice keeps its last score, at the position where it was first listed.
  if (distinct < n) for (let i = 0; i < n; i++) if (firsts[i] !== i) scoreAt[firsts[i]!] = scoreAt[i]!;
  writeVarint(distinct);
  for (let i = 0; i < n; i++) {
    if (n >= 2 && firsts[i] !== i) continue;
    writeSymbolAt(codes[i]!, affinities[i]!.product);
    writeScore(scoreAt[i]!);
  }
}

/** Value tags, for the bulk loader's JSON fast path (profile-json-fast.ts). */
export const TAGS = { NULL, TRUE, FALSE, STRING, LIST } as const;

// ---- decoding ----------------------------------------------------------------------------------

// The bytes being decoded; decode() is synchronous, so module state is safe and saves a closure.
const EMPTY = Buffer.alloc(0);
let src: Buffer = EMPTY;
let at = 0;
let end = 0;

function truncated(): never {
  throw new CodecError(`profile bytes truncated at offset ${at} of ${end}`);
}

function readByte(): number {
  if (at >= end) truncated();
  return src[at++]!;
}

function readVarint(): number {
  let b = readByte();
  if (b < 0x80) return b;
  let value = b & 0x7f;
  let scale = 0x80;
  for (let i = 1; i < 8; i++) {
    b = readByte();
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      if (value > Number.MAX_SAFE_INTEGER) break;
      return value;
    }
    scale *= 0x80;
  }
  throw new CodecError(`bad varint ending at offset ${at}`);
}

/** A count of items that take at least a byte each: more than the bytes left is corruption. */
function readCount(): number {
  const n = readVarint();
  if (n > end - at) truncated();
  return n;
}

function readZigzag(): number {
  const z = readVarint();
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

function readSymbol(dict: SymbolLookup): string {
  const v = readVarint();
  if (v % 2 === 1) {
    const s = dict.at((v - 1) / 2);
    if (s === undefined) throw new CodecError(`dictionary index ${(v - 1) / 2} out of range at offset ${at}`);
    return s;
  }
  const n = v / 2;
  if (n > end - at) truncated();
  const s = src.toString('utf8', at, at + n);
  at += n;
  return s;
}

/**
 * A product id: one of the loaded version's dictionary is pooled (what a load holds bounds the pool);
 * one written inline since, by the API, is only looked up, as the API's own path does (domain/intern.ts).
 */
function readProductId(dict: SymbolLookup): string {
  const fromDictionary = at < end && (src[at]! & 1) === 1; // the varint's low bit: a dictionary index
  if (!fromDictionary) return knownId(readSymbol(dict));
  const start = at;
  const i = (readVarint() - 1) / 2;
  const shared = interned[i];
  if (shared !== undefined) return shared;
  at = start;
  const id = internId(readSymbol(dict));
  interned[i] = id;
  return id;
}

/** The pooled id of each dictionary entry read so far, by index: the codec's own (see decode()). */
const NO_IDS: (string | undefined)[] = [];
let interned = NO_IDS;

function readNumber(tag: number): number {
  if (tag === INT) return readZigzag();
  if (tag === DEC2) return readZigzag() / 100;
  if (at + 8 > end) truncated();
  const v = src.readDoubleLE(at);
  at += 8;
  return v;
}

function readValue(dict: SymbolLookup): AttributeValue {
  const tag = readByte();
  switch (tag) {
    case NULL:
      return null;
    case TRUE:
      return true;
    case FALSE:
      return false;
    case INT:
    case DEC2:
    case FLOAT64:
      return readNumber(tag);
    case STRING:
      return readSymbol(dict);
    case LIST: {
      const items = new Array<string | number>(readCount());
      for (let i = 0; i < items.length; i++) {
        const itemTag = readByte();
        if (itemTag === STRING) items[i] = readSymbol(dict);
        else if (itemTag === INT || itemTag === DEC2 || itemTag === FLOAT64) items[i] = readNumber(itemTag);
        else throw new CodecError(`bad list item tag ${itemTag} at offset ${at - 1}`);
      }
      return items;
    }
    default:
      throw new CodecError(`bad value tag ${tag} at offset ${at - 1}`);
  }
}

const ALL_CHANNELS = (1 << CHANNELS.length) - 1;

// ---- the codec ---------------------------------------------------------------------------------

export class ProfileCodec {
  /**
   * The pooled id of each dictionary entry decoded as a product, by index: one pool lookup per
   * entry and codec instead of one per product per profile. Only for a fixed dictionary (a
   * SymbolDictionary: a loaded version's); a growing one (a loader's builder) is not cached.
   */
  private readonly interned: (string | undefined)[] = [];

  constructor(readonly dictionary: SymbolLookup = SymbolDictionary.EMPTY) {}

  encode(profile: CustomerProfile): Buffer {
    const dict = this.dictionary;
    pos = 0;
    ensure(1);
    out[pos++] = FORMAT_VERSION;
    writeAttributes(profile.attributes, dict);
    writeConsent(profile.consent);

    writeVarint(profile.holdings.size);
    for (const product of profile.holdings) writeSymbol(product, dict);

    const { products, scores } = profile.affinities;
    writeVarint(products.length);
    for (let i = 0; i < products.length; i++) {
      writeSymbol(products[i]!, dict);
      writeScore(scores[i]!);
    }

    return Buffer.from(out.subarray(0, pos));
  }

  /**
   * The bytes of encode(profileFromRecord(record)), without building the profile (no Set, no
   * AffinityTable, no interning): what a bulk loader needs of a validated record.
   */
  encodeRecord(record: ProfileRecord): Buffer {
    pos = 0;
    writeRecord(record, this.dictionary);
    return Buffer.from(out.subarray(0, pos));
  }

  /** The profile of customer `id`, built as profileFromRecord() builds it. */
  decode(id: string, bytes: Uint8Array): CustomerProfile {
    const dict = this.dictionary;
    src = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    at = 0;
    end = src.length;
    interned = dict instanceof SymbolDictionary ? this.interned : [];
    try {
      const version = readByte();
      if (version !== FORMAT_VERSION) throw new CodecError(`unknown profile format version ${version}`);

      const attributes: Record<string, AttributeValue> = {};
      for (let n = readCount(); n > 0; n--) {
        const key = readSymbol(dict);
        const value = readValue(dict);
        // Assigning '__proto__' would set the prototype; JSON.parse makes it an own property.
        if (key === '__proto__') {
          Object.defineProperty(attributes, key, {
            value,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        } else attributes[key] = value;
      }

      const present = readByte();
      const values = readByte();
      if ((present & ~ALL_CHANNELS) !== 0 || (values & ~present) !== 0) {
        throw new CodecError(`bad consent bytes at offset ${at - 2}`);
      }
      const consent: Partial<Record<Channel, boolean>> = {};
      for (let i = 0; i < CHANNELS.length; i++) {
        if ((present & (1 << i)) !== 0) consent[CHANNELS[i]!] = (values & (1 << i)) !== 0;
      }

      const holdings = new Set<string>();
      for (let n = readCount(); n > 0; n--) holdings.add(readProductId(dict));

      // The table's arrays directly (what AffinityTableBuilder does, without a call per entry):
      // pooled ids, and a product listed twice keeps its last score.
      const products: string[] = [];
      const scores: number[] = [];
      for (let n = readCount(); n > 0; n--) {
        const product = readProductId(dict);
        const score = (readByte() | (readByte() << 8)) / 0xffff;
        const seen = products.indexOf(product);
        if (seen >= 0) scores[seen] = score;
        else {
          products.push(product);
          scores.push(score);
        }
      }
      const affinities = products.length === 0 ? AffinityTable.EMPTY : AffinityTable.of(products, scores);

      if (at !== end) throw new CodecError(`${end - at} unexpected bytes after the profile at offset ${at}`);
      return { id, attributes, consent, holdings, affinities };
    } finally {
      // So that the module does not keep the caller's buffer alive.
      src = EMPTY;
      interned = NO_IDS;
    }
  }
}
