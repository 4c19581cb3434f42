/**
 * One shared string object, and a small integer, per product id. A million profiles naming the
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

export function internId(id: string): string {
  return intern(id).id;
}

/** The small integer of an id, stable for the life of the process. */
export function idIndex(id: string): number {
  return intern(id).index;
}
