/**
 * One shared string object, and a small integer, per product id of the catalog and of loaded data
 * (the ruleset, associations, profile files and bulk loads: what an operator loads bounds the pool).
 * Ids a client sends through the API are looked up, never added (knownId). A million profiles naming the
 * same few hundred products hold references to a few hundred strings instead of tens of millions
 * of copies; the engine finds a product's offers by its number (an array read) instead of hashing
 * its name; and the shared copy is a flat one-byte string even when the text it was read from
 * (a YAML file with an em dash in a creative, say) made V8 store it as two-byte, which keeps
 * every string built from ids one-byte, and cheap to concatenate and write to a socket.
 */
const pool = new Map<string, InternedId>();
const NON_ASCII = /[\u0080-\uffff]/;

interface InternedId {
  readonly id: string;
  readonly index: number;
}

/**
 * An ASCII string as a flat one-byte copy; anything else unchanged. perf showed V8 flattening
 * two-byte strings (String::WriteToFlat<uint16_t>) in the decision response path before this.
 */
export function oneByte(text: string): string {
  return NON_ASCII.test(text) ? text : Buffer.from(text, 'latin1').toString('latin1');
}

function intern(id: string): InternedId {
  let entry = pool.get(id);
  if (entry === undefined) {
    const flat = oneByte(id);
    entry = { id: flat, index: pool.size };
    pool.set(flat, entry);
  }
  return entry;
}

/** The shared copy of an id, added to the pool: for ids of the catalog and of loaded data. */
export function internId(id: string): string {
  return intern(id).id;
}

/**
 * The shared copy of an id the pool already holds, else the id itself, without adding it. For ids a
 * client sends (a PATCH's or PUT's holdings): the pool lives as long as the process, so it must not
 * grow with what clients make up. The engine compares holdings by value, so an unshared copy only
 * costs its own bytes. Guarded by intern.test.ts.
 */
export function knownId(id: string): string {
  return pool.get(id)?.id ?? id;
}

/** The small integer of an id the pool holds; -1 for one it does not (no offer can name it yet). */
export function knownIndex(id: string): number {
  return pool.get(id)?.index ?? -1;
}

/** How many ids the pool holds (for tests and metrics). */
export function internedIds(): number {
  return pool.size;
}

/** The small integer of an id, stable for the life of the process. */
export function idIndex(id: string): number {
  return intern(id).index;
}
