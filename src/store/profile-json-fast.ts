/**
 * The bulk loader's fast path for NDJSON: encodes a profile record straight from the bytes of its
 * line, without JSON.parse, the schema validator or a single object, when the line is plain:
 *
 * - ASCII strings without escapes; whitespace is spaces and tabs;
 * - an object with `id` and, in this order, any of `attributes`, `consent`, `holdings`,
 *   `affinities`, each at most once, of the types and within the limits of profileRecordSchema;
 * - attribute values that are strings, numbers, true, false, null or lists of strings and numbers.
 *
 * Anything else (an escape, a non-ASCII byte, an unknown or repeated key, another order, a value
 * the schema rejects …) makes encodeLine() give up; the caller then takes the general path
 * (JSON.parse, schema, ProfileCodec.encodeRecord), which also explains what is wrong with a bad
 * line. For every line it accepts, the fast path gives exactly the bytes of the general path
 * (profile-json-fast.test.ts checks it over generated and mangled lines): numbers are read to the
 * same double as JSON.parse, duplicate holdings and affinities are merged as encodeRecord() merges
 * them, and the dictionary is looked up by the string's bytes. It is about twice as fast as
 * JSON.parse alone, which is most of what a load costs.
 */
import { CHANNELS } from '../domain/channel.js';
import { FORMAT_VERSION, putNumber, putVarint, TAGS } from './profile-codec.js';
import { bucketAt, customerSlotOfBytes } from './redis/slot-placement.js';

const TAB = 9;
const SPACE = 32;
const QUOTE = 34;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const COLON = 58;
const BACKSLASH = 92;
const LBRACKET = 91;
const RBRACKET = 93;
const LBRACE = 123;
const RBRACE = 125;

/** Powers of ten that are exact doubles. */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/** FNV-1a, as stableHash32() computes it over the UTF-16 units of an (ASCII) string. */
const FNV_BASIS = 0x811c9dc5 | 0; // as an int32, like every later value of the hash
const FNV_PRIME = 0x01000193;

/** Limits of profileRecordSchema. */
const MAX_ID = 128;
const MAX_ATTRIBUTES = 64;
const MAX_LIST = 64;
const MAX_PRODUCT = 64;
const MAX_ITEMS = 256;

/** What encodeLine() made of a line. */
export const FAST_ENCODED = 0;
export const FAST_BLANK = 1;
/** Not plain: take the general path. */
export const FAST_NO = 2;

/** Returned by the scanning methods instead of a position: the line is not plain. */
const NO = -1;

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const KEY_ID = ascii('id');
/** The sections in the order they are encoded. */
const SECTIONS = ['attributes', 'consent', 'holdings', 'affinities'].map(ascii);
const CHANNEL_NAMES = CHANNELS.map(ascii);
const KEY_PRODUCT = ascii('product');
const KEY_SCORE = ascii('score');
/** How affinity items usually start and continue: matched in one go. */
const PRODUCT_OPENING = ascii('{"product":"');
const SCORE_KEY = ascii(',"score":');
const TRUE_TEXT = ascii('true');
const FALSE_TEXT = ascii('false');
const NULL_TEXT = ascii('null');

/** Bytes in a string: 0 plain (printable ASCII), 1 the closing quote, 2 anything the fast path does not read. */
const STRING_BYTE = new Uint8Array(256).fill(2);
for (let c = SPACE; c < 0x80; c++) STRING_BYTE[c] = 0;
STRING_BYTE[QUOTE] = 1;
STRING_BYTE[BACKSLASH] = 2;

/** A–Z, a–z, _ (may start an attribute name) = 1; 0–9 = 2; anything else 0. */
const NAME_CHAR = new Uint8Array(256);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z_]/.test(ch)) NAME_CHAR[c] = 1;
  else if (/[0-9]/.test(ch)) NAME_CHAR[c] = 2;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

export class JsonLineEncoder {
  /** Open addressing over the dictionary's ASCII entries: index + 1, 0 when empty. */
  private readonly table: Int32Array;
  private readonly mask: number;
  private readonly entryBytes: Uint8Array;
  private readonly entryStart: Int32Array;
  private readonly entryEnd: Int32Array;
  private readonly entryHash: Int32Array;
  /** Per dictionary entry: the record in which it last was an attribute name (duplicate check). */
  private readonly keySeen: Int32Array;
  private record = 0;
  /** Per dictionary entry: the dedupe() round in which it was last seen, and where. */
  private readonly seenRound: Int32Array;
  private readonly seenAt: Int32Array;
  private round = 0;

  /** The line being read. */
  private b: Buffer = Buffer.alloc(0);
  // The last string scanString() read: bytes [strStart, strEnd), FNV-1a hash.
  private strStart = 0;
  private strEnd = 0;
  private strHash = 0;

  /** The encoded profile: value[0, length) after FAST_ENCODED. */
  value: Buffer = Buffer.allocUnsafeSlow(4096);
  length = 0;
  /** After FAST_ENCODED: the id's bytes in the line, and its bucket. */
  idStart = 0;
  idEnd = 0;
  bucket = 0;

  // Holdings or affinities of the line: dictionary code, bytes, hash, first occurrence, score.
  private readonly codes = new Int32Array(MAX_ITEMS);
  private readonly starts = new Int32Array(MAX_ITEMS);
  private readonly ends = new Int32Array(MAX_ITEMS);
  private readonly hashes = new Int32Array(MAX_ITEMS);
  private readonly firsts = new Int32Array(MAX_ITEMS);
  private readonly scores = new Float64Array(MAX_ITEMS);
  private items = 0;
  /** Attribute names not in the dictionary, start and end, for the duplicate check. */
  private readonly otherKeys: number[] = [];

  constructor(
    dictionary: readonly string[],
    private readonly buckets: number,
  ) {
    const size = 2 ** Math.ceil(Math.log2(Math.max(16, dictionary.length * 2)));
    this.table = new Int32Array(size);
    this.mask = size - 1;
    this.entryBytes = new TextEncoder().encode(dictionary.join(''));
    this.entryStart = new Int32Array(dictionary.length);
    this.entryEnd = new Int32Array(dictionary.length);
    this.entryHash = new Int32Array(dictionary.length);
    this.keySeen = new Int32Array(dictionary.length);
    this.seenRound = new Int32Array(dictionary.length);
    this.seenAt = new Int32Array(dictionary.length);
    let offset = 0;
    for (let d = 0; d < dictionary.length; d++) {
      const s = dictionary[d]!;
      const length = Buffer.byteLength(s);
      this.entryStart[d] = offset;
      this.entryEnd[d] = offset + length;
      offset += length;
      // A string with non-ASCII characters never matches: the fast path gives up on those.
      if (!isAscii(s)) continue;
      let h = FNV_BASIS;
      for (let k = 0; k < s.length; k++) h = Math.imul(h ^ s.charCodeAt(k), FNV_PRIME);
      this.entryHash[d] = h;
      // The first of two equal entries wins, as in SymbolDictionary.
      if (this.find(h, this.entryStart[d]!, this.entryEnd[d]!, this.entryBytes) >= 0) continue;
      let slot = h & this.mask;
      while (this.table[slot] !== 0) slot = (slot + 1) & this.mask;
      this.table[slot] = d + 1;
    }
  }

  /**
   * Encodes the line bytes[start, end): FAST_ENCODED (value, length, idStart, idEnd and bucket
   * are set), FAST_BLANK for spaces and tabs only, or FAST_NO. The byte at `end` must exist and be
   * a line break (\n or \r), where every scan stops.
   */
  encodeLine(bytes: Buffer, start: number, end: number): number {
    this.b = bytes;
    let i = this.ws(start);
    if (i === end) return FAST_BLANK;
    // Room for the whole profile, checked once: no item writes more than 3 bytes per byte it was read from.
    const room = 4 * (end - start) + 64;
    if (this.value.length < room) this.value = Buffer.allocUnsafeSlow(Math.max(room, this.value.length * 2));
    i = this.object(i);
    if (i === NO || this.ws(i) !== end) return FAST_NO;
    return FAST_ENCODED;
  }

  /** The record's object, from its `{`; returns the position after its `}`. */
  private object(i: number): number {
    const b = this.b;
    if (b[i] !== LBRACE) return NO;
    this.record++;
    const v = this.value;
    v[0] = FORMAT_VERSION;
    let w = 1;
    let next = 0; // the next section to write
    let haveId = false;
    i = this.ws(i + 1);
    if (b[i] === RBRACE) return NO; // no id
    for (;;) {
      i = this.scanString(this.ws(i));
      if (i === NO) return NO;
      const keyStart = this.strStart;
      const keyEnd = this.strEnd;
      i = this.ws(i);
      if (b[i] !== COLON) return NO;
      i = this.ws(i + 1);
      if (this.equals(keyStart, keyEnd, KEY_ID)) {
        if (haveId) return NO;
        i = this.scanString(i);
        const length = this.strEnd - this.strStart;
        if (i === NO || length < 1 || length > MAX_ID) return NO;
        haveId = true;
        this.idStart = this.strStart;
        this.idEnd = this.strEnd;
        this.bucket = bucketAt(
          customerSlotOfBytes(b, this.strStart, this.strEnd),
          this.strHash >>> 0,
          this.buckets,
        );
      } else {
        let section = 0;
        while (section < SECTIONS.length && !this.equals(keyStart, keyEnd, SECTIONS[section]!)) section++;
        if (section === SECTIONS.length || section < next) return NO;
        for (; next < section; next++) w = this.empty(next, w);
        next++;
        if (section === 0) i = this.attributes(i, w);
        else if (section === 1) i = this.consent(i, w);
        else if (section === 2) i = this.holdings(i, w);
        else i = this.affinities(i, w);
        if (i === NO) return NO;
        w = this.length;
      }
      i = this.ws(i);
      const c = b[i++];
      if (c === RBRACE) break;
      if (c !== COMMA) return NO;
    }
    if (!haveId) return NO;
    for (; next < SECTIONS.length; next++) w = this.empty(next, w);
    this.length = w;
    return i;
  }

  /** A section the record does not have. */
  private empty(section: number, w: number): number {
    const v = this.value;
    v[w++] = 0; // no attributes, holdings or affinities; consent: no channel present …
    if (section === 1) v[w++] = 0; // … and no values
    return w;
  }

  private attributes(i: number, w: number): number {
    const b = this.b;
    const v = this.value;
    if (b[i] !== LBRACE) return NO;
    const countAt = w++;
    let count = 0;
    this.otherKeys.length = 0;
    i = this.ws(i + 1);
    if (b[i] === RBRACE) i++;
    else {
      for (;;) {
        i = this.scanString(this.ws(i));
        if (i === NO || !this.isAttributeName() || ++count > MAX_ATTRIBUTES) return NO;
        const code = this.find(this.strHash, this.strStart, this.strEnd, b);
        if (code >= 0) {
          // JSON.parse keeps the last of two equal keys, in the place of the first: the general path knows.
          if (this.keySeen[code] === this.record) return NO;
          this.keySeen[code] = this.record;
          w = putVarint(v, w, code * 2 + 1);
        } else {
          const others = this.otherKeys;
          for (let k = 0; k < others.length; k += 2) {
            if (this.sameBytes(others[k]!, others[k + 1]!, this.strStart, this.strEnd)) return NO;
          }
          others.push(this.strStart, this.strEnd);
          w = this.inline(this.strStart, this.strEnd, w);
        }
        i = this.ws(i);
        if (b[i] !== COLON) return NO;
        i = this.ws(i + 1);
        const c = b[i]!;
        if (c <= LBRACKET) {
          // A list, a string or a number: each starts with a byte up to `[` (scanNumber refuses the others).
          i = c === LBRACKET ? this.list(i, w) : this.scalar(i, w);
          if (i === NO) return NO;
          w = this.length;
        } else if (c === 116 /* t */) {
          if (!this.literal(i, TRUE_TEXT)) return NO;
          i += 4;
          v[w++] = TAGS.TRUE;
        } else if (c === 102 /* f */) {
          if (!this.literal(i, FALSE_TEXT)) return NO;
          i += 5;
          v[w++] = TAGS.FALSE;
        } else if (c === 110 /* n */) {
          if (!this.literal(i, NULL_TEXT)) return NO;
          i += 4;
          v[w++] = TAGS.NULL;
        } else return NO;
        i = this.ws(i);
        const d = b[i++];
        if (d === RBRACE) break;
        if (d !== COMMA) return NO;
      }
    }
    v[countAt] = count; // at most 64: a one-byte varint
    this.length = w;
    return i;
  }

  /** A list of strings and numbers, from its `[`. */
  private list(i: number, w: number): number {
    const b = this.b;
    const v = this.value;
    v[w++] = TAGS.LIST;
    const lengthAt = w++;
    let length = 0;
    i = this.ws(i + 1);
    if (b[i] === RBRACKET) i++;
    else {
      for (;;) {
        i = this.ws(i);
        if (++length > MAX_LIST) return NO;
        i = this.scalar(i, w);
        if (i === NO) return NO;
        w = this.length;
        i = this.ws(i);
        const c = b[i++];
        if (c === RBRACKET) break;
        if (c !== COMMA) return NO;
      }
    }
    v[lengthAt] = length; // at most 64: a one-byte varint
    this.length = w;
    return i;
  }

  /** A string or a number, from its first byte: written at w, this.length after it. */
  private scalar(i: number, w: number): number {
    const v = this.value;
    if (this.b[i] === QUOTE) {
      i = this.scanString(i);
      if (i === NO) return NO;
      v[w++] = TAGS.STRING;
      w = this.symbol(w);
    } else {
      i = this.scanNumber(i);
      if (i === NO) return NO;
      w = putNumber(v, w, this.number);
    }
    this.length = w;
    return i;
  }

  private consent(i: number, w: number): number {
    const b = this.b;
    if (b[i] !== LBRACE) return NO;
    let present = 0;
    let values = 0;
    i = this.ws(i + 1);
    if (b[i] === RBRACE) i++;
    else {
      for (;;) {
        i = this.scanString(this.ws(i));
        if (i === NO) return NO;
        let channel = 0;
        while (
          channel < CHANNEL_NAMES.length &&
          !this.equals(this.strStart, this.strEnd, CHANNEL_NAMES[channel]!)
        )
          channel++;
        if (channel === CHANNEL_NAMES.length) return NO;
        i = this.ws(i);
        if (b[i] !== COLON) return NO;
        i = this.ws(i + 1);
        const bit = 1 << channel;
        // A channel given twice keeps its last value, as with JSON.parse.
        if (this.literal(i, TRUE_TEXT)) {
          values |= bit;
          i += 4;
        } else if (this.literal(i, FALSE_TEXT)) {
          values &= ~bit;
          i += 5;
        } else return NO;
        present |= bit;
        i = this.ws(i);
        const c = b[i++];
        if (c === RBRACE) break;
        if (c !== COMMA) return NO;
      }
    }
    this.value[w] = present;
    this.value[w + 1] = values;
    this.length = w + 2;
    return i;
  }

  private holdings(i: number, w: number): number {
    const b = this.b;
    if (b[i] !== LBRACKET) return NO;
    this.items = 0;
    i = this.ws(i + 1);
    if (b[i] === RBRACKET) i++;
    else {
      for (;;) {
        i = this.product(this.ws(i));
        if (i === NO) return NO;
        i = this.ws(i);
        const c = b[i++];
        if (c === RBRACKET) break;
        if (c !== COMMA) return NO;
      }
    }
    const n = this.items;
    w = putVarint(this.value, w, this.dedupe(n));
    for (let k = 0; k < n; k++) if (this.firsts[k] === k) w = this.item(k, w);
    this.length = w;
    return i;
  }

  private affinities(i: number, w: number): number {
    const b = this.b;
    if (b[i] !== LBRACKET) return NO;
    this.items = 0;
    i = this.ws(i + 1);
    if (b[i] === RBRACKET) i++;
    else {
      for (;;) {
        i = this.ws(i);
        // Usually {"product":"…","score":…} exactly; anything else is read key by key.
        const item = this.items;
        let j = this.literal(i, PRODUCT_OPENING) ? this.product(i + PRODUCT_OPENING.length - 1) : NO;
        if (j !== NO && this.literal(j, SCORE_KEY)) j = this.scanNumber(j + SCORE_KEY.length);
        else j = NO;
        if (j !== NO && b[j] === RBRACE && this.number >= 0 && this.number <= 1) {
          this.scores[item] = this.number;
          i = j + 1;
        } else {
          this.items = item;
          i = this.affinity(i);
          if (i === NO) return NO;
        }
        i = this.ws(i);
        const c = b[i++];
        if (c === RBRACKET) break;
        if (c !== COMMA) return NO;
      }
    }
    const n = this.items;
    const { firsts, scores } = this;
    const distinct = this.dedupe(n);
    // A product listed twice keeps its last score, at the position where it was first listed.
    if (distinct < n) for (let k = 0; k < n; k++) if (firsts[k] !== k) scores[firsts[k]!] = scores[k]!;
    const v = this.value;
    w = putVarint(v, w, distinct);
    for (let k = 0; k < n; k++) {
      if (firsts[k] !== k) continue;
      w = this.item(k, w);
      // As ProfileCodec writes a score: clamped, round(score × 65535), u16 LE.
      const score = scores[k]!;
      const q = score > 0 ? Math.min(0xffff, Math.round(score * 0xffff)) : 0;
      v[w++] = q & 0xff;
      v[w++] = q >>> 8;
    }
    this.length = w;
    return i;
  }

  /** An affinity item in any form: keys in any order, spaces. Sets the item's score. */
  private affinity(i: number): number {
    const b = this.b;
    const item = this.items;
    if (b[i] !== LBRACE) return NO;
    let haveProduct = false;
    let score = Number.NaN;
    i = this.ws(i + 1);
    for (;;) {
      i = this.scanString(this.ws(i));
      if (i === NO) return NO;
      const keyStart = this.strStart;
      const keyEnd = this.strEnd;
      i = this.ws(i);
      if (b[i] !== COLON) return NO;
      i = this.ws(i + 1);
      if (this.equals(keyStart, keyEnd, KEY_PRODUCT)) {
        if (haveProduct) return NO;
        haveProduct = true;
        const after = this.product(i);
        if (after === NO) return NO;
        this.items = item; // product() counted it; counted once below
        i = after;
      } else if (this.equals(keyStart, keyEnd, KEY_SCORE)) {
        if (!Number.isNaN(score)) return NO;
        i = this.scanNumber(i);
        if (i === NO || !(this.number >= 0 && this.number <= 1)) return NO;
        score = this.number;
      } else return NO;
      i = this.ws(i);
      const c = b[i++];
      if (c === RBRACE) break;
      if (c !== COMMA) return NO;
    }
    if (!haveProduct || Number.isNaN(score)) return NO;
    this.scores[item] = score;
    this.items = item + 1;
    return i;
  }

  /** A product id (a string of 1 to 64 characters) as the next holding or affinity. */
  private product(i: number): number {
    if (this.items === MAX_ITEMS) return NO;
    i = this.scanString(i);
    const length = this.strEnd - this.strStart;
    if (i === NO || length < 1 || length > MAX_PRODUCT) return NO;
    const k = this.items++;
    this.starts[k] = this.strStart;
    this.ends[k] = this.strEnd;
    this.hashes[k] = this.strHash;
    this.codes[k] = this.find(this.strHash, this.strStart, this.strEnd, this.b);
    return i;
  }

  private item(k: number, w: number): number {
    const code = this.codes[k]!;
    return code >= 0
      ? putVarint(this.value, w, code * 2 + 1)
      : this.inline(this.starts[k]!, this.ends[k]!, w);
  }

  /**
   * Marks where each of the n items first occurred (firsts) and returns how many are distinct.
   * Items in the dictionary are told apart by their index, the others by their bytes.
   */
  private dedupe(n: number): number {
    const { codes, firsts, hashes, starts, ends, seenRound, seenAt } = this;
    const round = ++this.round;
    let distinct = 0;
    let inline = 0; // items not in the dictionary so far
    for (let k = 0; k < n; k++) {
      const code = codes[k]!;
      let first = k;
      if (code >= 0) {
        if (seenRound[code] === round) first = seenAt[code]!;
        else {
          seenRound[code] = round;
          seenAt[code] = k;
        }
      } else {
        for (let j = 0; j < k && inline > 0; j++) {
          if (firsts[j] !== j || codes[j] >= 0 || hashes[j] !== hashes[k]) continue;
          if (this.sameBytes(starts[j]!, ends[j]!, starts[k]!, ends[k]!)) {
            first = j;
            break;
          }
        }
        inline++;
      }
      firsts[k] = first;
      if (first === k) distinct++;
    }
    return distinct;
  }

  /** The string scanString() read last, as a symbol. */
  private symbol(w: number): number {
    const code = this.find(this.strHash, this.strStart, this.strEnd, this.b);
    return code >= 0 ? putVarint(this.value, w, code * 2 + 1) : this.inline(this.strStart, this.strEnd, w);
  }

  /** A symbol that is not in the dictionary: its length (× 2, even) and its bytes. */
  private inline(start: number, end: number, w: number): number {
    const v = this.value;
    const b = this.b;
    w = putVarint(v, w, (end - start) * 2);
    for (let k = start; k < end; k++) v[w++] = b[k]!;
    return w;
  }

  private ws(i: number): number {
    const b = this.b;
    let c = b[i];
    while (c === SPACE || c === TAB) c = b[++i];
    return i;
  }

  /** A string of printable ASCII without escapes, from its opening quote; returns the position after it. */
  private scanString(i: number): number {
    const b = this.b;
    if (b[i] !== QUOTE) return NO;
    const start = ++i;
    let h = FNV_BASIS;
    for (;;) {
      const c = b[i]!;
      const kind = STRING_BYTE[c];
      if (kind !== 0) {
        if (kind === 1) break;
        // Control characters (the line break at the end of the line among them), escapes, non-ASCII.
        return NO;
      }
      h = Math.imul(h ^ c, FNV_PRIME);
      i++;
    }
    this.strStart = start;
    this.strEnd = i;
    this.strHash = h;
    return i + 1;
  }

  /** The number scanNumber() read last. */
  private number = 0;

  /** A JSON number, read to the same double as JSON.parse reads it; returns the position after it. */
  private scanNumber(i: number): number {
    const b = this.b;
    const start = i;
    const negative = b[i] === MINUS;
    if (negative) i++;
    let c = b[i]!;
    let mantissa = 0;
    let digits = 0;
    if (c === ZERO) c = b[++i]!;
    else if (c > ZERO && c <= NINE) {
      do {
        mantissa = mantissa * 10 + (c - ZERO);
        digits++;
        c = b[++i]!;
      } while (c >= ZERO && c <= NINE);
    } else return NO;
    let decimals = 0;
    if (c === DOT) {
      c = b[++i]!;
      if (!(c >= ZERO && c <= NINE)) return NO;
      do {
        mantissa = mantissa * 10 + (c - ZERO);
        decimals++;
        c = b[++i]!;
      } while (c >= ZERO && c <= NINE);
    }
    let value: number;
    if (c === 101 || c === 69) {
      c = b[++i]!;
      if (c === 43 || c === MINUS) c = b[++i]!;
      if (!(c >= ZERO && c <= NINE)) return NO;
      do c = b[++i]!;
      while (c >= ZERO && c <= NINE);
      value = Number(b.toString('latin1', start, i));
      // The schema's numbers are finite (Ajv's strictNumbers): 1e999 is a bad line.
      if (!Number.isFinite(value)) return NO;
    } else if (digits + decimals <= 15) {
      // Both exact doubles, and IEEE division rounds correctly: the double nearest the decimal.
      value = decimals === 0 ? mantissa : mantissa / POW10[decimals]!;
      if (negative) value = -value;
    } else value = Number(b.toString('latin1', start, i));
    this.number = value;
    return i;
  }

  private isAttributeName(): boolean {
    const b = this.b;
    const start = this.strStart;
    const end = this.strEnd;
    if (end - start < 1 || end - start > 64 || NAME_CHAR[b[start]!] !== 1) return false;
    for (let k = start + 1; k < end; k++) if (NAME_CHAR[b[k]!] === 0) return false;
    return true;
  }

  /** Whether `word` is at position i. */
  private literal(i: number, word: Uint8Array): boolean {
    const b = this.b;
    for (let k = 0; k < word.length; k++) if (b[i + k] !== word[k]) return false;
    return true;
  }

  private equals(start: number, end: number, word: Uint8Array): boolean {
    return end - start === word.length && this.literal(start, word);
  }

  private sameBytes(aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
    if (aEnd - aStart !== bEnd - bStart) return false;
    const b = this.b;
    for (let k = 0; k < aEnd - aStart; k++) if (b[aStart + k] !== b[bStart + k]) return false;
    return true;
  }

  /** The dictionary index of bytes[start, end) (FNV-1a hash `hash`), or -1. */
  private find(hash: number, start: number, end: number, bytes: Uint8Array): number {
    const length = end - start;
    const { table, mask, entryBytes, entryStart, entryEnd, entryHash } = this;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const d = table[slot]! - 1;
      if (d < 0) return -1;
      if (entryHash[d] !== hash) continue;
      const from = entryStart[d]!;
      if (entryEnd[d]! - from !== length) continue;
      let k = 0;
      while (k < length && entryBytes[from + k] === bytes[start + k]) k++;
      if (k === length) return d;
    }
  }
}
