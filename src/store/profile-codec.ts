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
import { internId } from '../domain/intern.js';
import type { AttributeValue, CustomerProfile } from '../domain/profile.js';

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
 * Learns a dictionary while a bulk loader streams profiles. Entries are only appended, so values
 * encoded with the dictionary as it stood earlier stay decodable with any later one.
 */
export class DictionaryBuilder implements SymbolLookup {
  private readonly list: string[] = [];
  private readonly index = new Map<string, number>();

  constructor(
    readonly maxEntries = 4096,
    /** Longer strings gain little from a 2-byte index and would bloat the dictionary. */
    readonly maxLength = 64,
  ) {}

  get size(): number {
    return this.list.length;
  }

  /** Index of `s`, learning it on first sight; -1 when it is too long or the dictionary is full. */
  add(s: string): number {
    let i = this.index.get(s);
    if (i === undefined) {
      if (this.list.length >= this.maxEntries || s.length > this.maxLength) return -1;
      i = this.list.push(s) - 1;
      this.index.set(s, i);
    }
    return i;
  }

  /**
   * Learns the strings of a profile. Products first: every affinity names one, so they deserve the
   * one-byte indexes (0-63) more than attribute values that may be unique (dates).
   */
  addProfile(profile: CustomerProfile): void {
    for (const product of profile.holdings) this.add(product);
    for (const product of profile.affinities.products) this.add(product);
    for (const key in profile.attributes) this.add(key);
    for (const key in profile.attributes) {
      const value = profile.attributes[key];
      if (typeof value === 'string') this.add(value);
      else if (Array.isArray(value)) for (const item of value) if (typeof item === 'string') this.add(item);
    }
  }

  indexOf(s: string): number {
    return this.index.get(s) ?? -1;
  }

  at(i: number): string | undefined {
    return this.list[i];
  }

  freeze(): SymbolDictionary {
    return SymbolDictionary.from(this.list);
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
  while (v >= 0x80) {
    out[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[pos++] = v;
}

function writeZigzag(n: number): void {
  writeVarint(n >= 0 ? n * 2 : -n * 2 - 1);
}

function writeSymbol(s: string, dict: SymbolLookup): void {
  const i = dict.indexOf(s);
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
  if (Number.isInteger(v) && Math.abs(v) < INT_LIMIT && !Object.is(v, -0)) {
    out[pos++] = INT;
    writeZigzag(v);
    return;
  }
  const cents = Math.round(v * 100);
  if (Math.abs(cents) < INT_LIMIT && cents / 100 === v && !Object.is(v, -0)) {
    out[pos++] = DEC2;
    writeZigzag(cents);
    return;
  }
  out[pos++] = FLOAT64;
  pos = out.writeDoubleLE(v, pos);
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
  constructor(readonly dictionary: SymbolLookup = SymbolDictionary.EMPTY) {}

  encode(profile: CustomerProfile): Buffer {
    const dict = this.dictionary;
    pos = 0;
    ensure(1);
    out[pos++] = FORMAT_VERSION;

    const attributes = profile.attributes;
    const keys = Object.keys(attributes);
    writeVarint(keys.length);
    for (const key of keys) {
      writeSymbol(key, dict);
      writeValue(attributes[key]!, dict);
    }

    let present = 0;
    let values = 0;
    for (let i = 0; i < CHANNELS.length; i++) {
      const consent = profile.consent[CHANNELS[i]!];
      if (consent === undefined) continue;
      present |= 1 << i;
      if (consent) values |= 1 << i;
    }
    ensure(2);
    out[pos++] = present;
    out[pos++] = values;

    writeVarint(profile.holdings.size);
    for (const product of profile.holdings) writeSymbol(product, dict);

    const { products, scores } = profile.affinities;
    writeVarint(products.length);
    for (let i = 0; i < products.length; i++) {
      writeSymbol(products[i]!, dict);
      const score = scores[i]!;
      // Clamped so that an out-of-range score (or NaN) cannot wrap around.
      const q = score > 0 ? Math.min(0xffff, Math.round(score * 0xffff)) : 0;
      ensure(2);
      out[pos++] = q & 0xff;
      out[pos++] = q >>> 8;
    }

    return Buffer.from(out.subarray(0, pos));
  }

  /** The profile of customer `id`, built as profileFromRecord() builds it. */
  decode(id: string, bytes: Uint8Array): CustomerProfile {
    const dict = this.dictionary;
    src = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    at = 0;
    end = src.length;
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
      for (let n = readCount(); n > 0; n--) holdings.add(internId(readSymbol(dict)));

      const affinities: { product: string; score: number }[] = [];
      for (let n = readCount(); n > 0; n--) {
        const product = readSymbol(dict);
        const q = readByte() | (readByte() << 8);
        affinities.push({ product, score: q / 0xffff });
      }

      if (at !== end) throw new CodecError(`${end - at} unexpected bytes after the profile at offset ${at}`);
      return { id, attributes, consent, holdings, affinities: AffinityTable.from(affinities) };
    } finally {
      // So that the module does not keep the caller's buffer alive.
      src = EMPTY;
    }
  }
}
