/**
 * One shared string object per product id. A million profiles naming the same few hundred
 * products then hold references to a few hundred strings instead of tens of millions of copies,
 * and Map lookups between profiles and the compiled ruleset compare identical objects.
 */
const pool = new Map<string, string>();

export function internId(id: string): string {
  const existing = pool.get(id);
  if (existing !== undefined) return existing;
  pool.set(id, id);
  return id;
}
