/**
 * Interns byte strings (slices of a read buffer) into dense integers 0, 1, 2 … in the order they
 * are first seen, without making a JavaScript string per occurrence: a transactions file of
 * millions of rows names the same thousand products over and over, and a string per field would
 * cost more than all the mining. Keys live back to back in one growing byte arena; an
 * open-addressing table of ids (linear probing, load ≤ 1/2) finds them by an FNV-1a hash.
 */
export class ByteInterner {
  private arena = new Uint8Array(1 << 12);
  private arenaUsed = 0;
  private starts = new Int32Array(256);
  private lengths = new Int32Array(256);
  private hashes = new Int32Array(256);
  /** id + 1 per slot, 0 when empty. */
  private table = new Int32Array(512);
  private mask = 511;
  private n = 0;
  private readonly decoder = new TextDecoder('utf-8');

  /** Number of distinct keys. */
  get size(): number {
    return this.n;
  }

  /** The id of `bytes[start, end)`, adding it when new. */
  intern(bytes: Uint8Array, start: number, end: number): number {
    const hash = hashBytes(bytes, start, end);
    const len = end - start;
    const { table, mask, arena, starts, lengths, hashes } = this;
    let slot = hash & mask;
    for (;;) {
      const entry = table[slot]!;
      if (entry === 0) break;
      const id = entry - 1;
      if (hashes[id] === hash && lengths[id] === len && equalBytes(arena, starts[id]!, bytes, start, len)) {
        return id;
      }
      slot = (slot + 1) & mask;
    }
    const id = this.n++;
    if (id === this.starts.length) this.growKeys();
    if (this.arenaUsed + len > this.arena.length) this.growArena(len);
    this.arena.set(bytes.subarray(start, end), this.arenaUsed);
    this.starts[id] = this.arenaUsed;
    this.lengths[id] = len;
    this.hashes[id] = hash;
    this.arenaUsed += len;
    this.table[slot] = id + 1;
    if (this.n * 2 > this.table.length) this.rehash();
    return id;
  }

  /** The id of `bytes[start, end)`, or -1 when it was never interned. */
  find(bytes: Uint8Array, start = 0, end = bytes.length): number {
    const hash = hashBytes(bytes, start, end);
    const len = end - start;
    let slot = hash & this.mask;
    for (;;) {
      const entry = this.table[slot]!;
      if (entry === 0) return -1;
      const id = entry - 1;
      if (
        this.hashes[id] === hash &&
        this.lengths[id] === len &&
        equalBytes(this.arena, this.starts[id]!, bytes, start, len)
      ) {
        return id;
      }
      slot = (slot + 1) & this.mask;
    }
  }

  /** The key of `id` as a string (decoded as UTF-8). */
  text(id: number): string {
    const start = this.starts[id]!;
    return this.decoder.decode(this.arena.subarray(start, start + this.lengths[id]!));
  }

  /** All keys as strings, by id. */
  texts(): string[] {
    const out = new Array<string>(this.n);
    for (let i = 0; i < this.n; i++) out[i] = this.text(i);
    return out;
  }

  /** Bytes held, for memory reports. */
  get bytes(): number {
    return this.arena.byteLength + this.table.byteLength + 3 * this.starts.byteLength;
  }

  private growKeys(): void {
    const cap = this.starts.length * 2;
    this.starts = grow(this.starts, cap);
    this.lengths = grow(this.lengths, cap);
    this.hashes = grow(this.hashes, cap);
  }

  private growArena(need: number): void {
    let cap = this.arena.length * 2;
    while (cap < this.arenaUsed + need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.arena.subarray(0, this.arenaUsed));
    this.arena = next;
  }

  private rehash(): void {
    const size = this.table.length * 2;
    const table = new Int32Array(size);
    const mask = size - 1;
    for (let id = 0; id < this.n; id++) {
      let slot = this.hashes[id]! & mask;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
      table[slot] = id + 1;
    }
    this.table = table;
    this.mask = mask;
  }
}

function grow(a: Int32Array, cap: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(cap);
  next.set(a);
  return next;
}

/** FNV-1a over the bytes, 32 bits. */
export function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  // A final mix, so that the low bits used for the slot depend on every byte.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h & 0x7fffffff;
}

function equalBytes(a: Uint8Array, aStart: number, b: Uint8Array, bStart: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  return true;
}
