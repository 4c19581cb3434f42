import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LRUCache } from 'lru-cache';

/**
 * What an erasure leaves of an id: a tombstone (so that loads, feedback and decisions recognise
 * the person) and a pseudonym (what the feedback log keeps in place of the id where its aggregates
 * still need the entry). Both are keyed hashes (HMAC-SHA256 with a secret pepper): customer ids are
 * few and guessable (`cust-4321`), so a plain hash could be reversed by trying them all; without the
 * pepper it cannot. Tombstone and pseudonym use different inputs, so that the one does not lead to
 * the other without the pepper. See docs/decisions/0009-erasure.md.
 */
export class ErasureHasher {
  private readonly pepper: Buffer;

  constructor(pepper: string | Buffer) {
    this.pepper = typeof pepper === 'string' ? Buffer.from(pepper, 'utf8') : pepper;
    if (this.pepper.length < 16) throw new RangeError('the erasure pepper must be at least 16 bytes');
  }

  /** A fresh random pepper (the embedded store's, when none is configured). */
  static random(): ErasureHasher {
    return new ErasureHasher(randomBytes(32));
  }

  tombstone(id: string): string {
    return this.mac('t', id);
  }

  /** `erased-` and 22 characters of base64url: the same id always gets the same pseudonym. */
  pseudonym(id: string): string {
    return `${PSEUDONYM_PREFIX}${this.mac('p', id).slice(0, 22)}`;
  }

  private mac(kind: string, id: string): string {
    return createHmac('sha256', this.pepper).update(`${kind}\u0000${id}`).digest('base64url');
  }
}

export const PSEUDONYM_PREFIX = 'erased-';

/** True for what erasure writes in place of an id: nothing learned about it, nothing to resolve. */
export const isPseudonym = (id: string): boolean => id.startsWith(PSEUDONYM_PREFIX);

/**
 * Hashes memoised per id, the most recently asked kept: customers who decide, react and convert
 * within minutes pay one HMAC, and a full memo drops its oldest id, not all of them at once.
 */
const MEMO_MAX = 10_000;

/**
 * The tombstones this server knows (keyed hashes of erased ids, never the ids), in memory: every
 * decision, feedback event and contact append asks has(). Free while nobody was ever erased; an
 * HMAC per id otherwise (a few µs, measured once by hand; no bench keeps it), memoised.
 */
export class ErasedIds {
  private readonly tombstones = new Set<string>();
  private readonly memo = new LRUCache<string, string>({ max: MEMO_MAX });

  constructor(readonly hasher: ErasureHasher) {}

  get size(): number {
    return this.tombstones.size;
  }

  /** True when the id was erased (and not taken up again by a PUT). */
  has(id: string): boolean {
    if (this.tombstones.size === 0) return false;
    return this.tombstones.has(this.tombstoneOf(id));
  }

  /** True for an erased id or a pseudonym: nothing may be recorded under either. */
  covers(id: string): boolean {
    return isPseudonym(id) || this.has(id);
  }

  /** The id to record an erased person's entries under: their pseudonym; any other id as it is. */
  recordedAs(id: string): string {
    return this.has(id) ? this.hasher.pseudonym(id) : id;
  }

  tombstoneOf(id: string): string {
    let hash = this.memo.get(id);
    if (hash === undefined) {
      hash = this.hasher.tombstone(id);
      this.memo.set(id, hash);
    }
    return hash;
  }

  addTombstones(tombstones: Iterable<string>): void {
    for (const t of tombstones) this.tombstones.add(t);
  }

  removeTombstone(tombstone: string): void {
    this.tombstones.delete(tombstone);
  }
}

/** What servers tell each other (Redis pub/sub, never stored): ids erased, a tombstone lifted. */
export type ErasureMessage =
  | { readonly kind: 'erase'; readonly ids: readonly string[] }
  | { readonly kind: 'lift'; readonly tombstone: string };

/** A tombstone as stored: its hash and when the id was erased (the server's clock, epoch ms). */
export interface Tombstone {
  readonly tombstone: string;
  readonly at: number;
}

/**
 * Where tombstones are kept for their retention: Redis (every server, every load) or, for the
 * embedded store, memory and optionally a file that outlives the process.
 */
export interface TombstoneStore {
  /** Tombstones erased at or after `since` (all with 0), for a server to know them. */
  since(since: number): Promise<readonly Tombstone[]>;
  add(tombstones: readonly Tombstone[]): Promise<void>;
  /** The id is a customer again (an explicit PUT after the erasure). */
  remove(tombstone: string): Promise<void>;
  /** Forgets tombstones older than `before` (their retention is over); answers how many. */
  expire(before: number): Promise<number>;
}

/** Another server's clock may be behind ours: a refresh looks back this much further (adding twice is harmless). */
const REFRESH_OVERLAP_MS = 5 * 60_000;

/**
 * Teaches `erased` the tombstones set since its last call (all of them at the first): at start,
 * after an outage (erasures announced meanwhile were not heard), before a spool replay, now and then.
 */
export function tombstoneRefresher(
  store: TombstoneStore,
  erased: ErasedIds,
  clock: () => number,
): () => Promise<void> {
  let last: number | null = null;
  return async () => {
    const started = clock();
    const found = await store.since(last === null ? 0 : last - REFRESH_OVERLAP_MS);
    erased.addTombstones(found.map((t) => t.tombstone));
    last = started;
  };
}

/**
 * The embedded store's tombstones: in memory, and in `file` (one `<hash> <at>` a line, rewritten
 * whole: a few thousand lines at most) when one is configured, so that a restart on the old
 * profiles file does not bring an erased customer back.
 */
export class MemoryTombstoneStore implements TombstoneStore {
  private readonly byHash = new Map<string, number>();

  private constructor(private readonly file: string | null) {}

  static async open(file: string | null): Promise<MemoryTombstoneStore> {
    const store = new MemoryTombstoneStore(file);
    if (file === null) return store;
    let text = '';
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const line of text.split('\n')) {
      const [hash, at] = line.split(' ');
      if (hash && at) store.byHash.set(hash, Number(at));
    }
    return store;
  }

  since(since: number): Promise<readonly Tombstone[]> {
    const out: Tombstone[] = [];
    for (const [tombstone, at] of this.byHash) if (at >= since) out.push({ tombstone, at });
    return Promise.resolve(out);
  }

  async add(tombstones: readonly Tombstone[]): Promise<void> {
    for (const t of tombstones) this.byHash.set(t.tombstone, t.at);
    await this.save();
  }

  async remove(tombstone: string): Promise<void> {
    if (this.byHash.delete(tombstone)) await this.save();
  }

  async expire(before: number): Promise<number> {
    let n = 0;
    for (const [hash, at] of this.byHash) {
      if (at < before) {
        this.byHash.delete(hash);
        n++;
      }
    }
    if (n > 0) await this.save();
    return n;
  }

  /** Written aside and renamed: a crash leaves the old list or the new one, never half of one. */
  private async save(): Promise<void> {
    if (this.file === null) return;
    await mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    const lines = [...this.byHash].map(([hash, at]) => `${hash} ${at}\n`).join('');
    await writeFile(tmp, lines, { mode: 0o600 });
    await rename(tmp, this.file);
  }
}
