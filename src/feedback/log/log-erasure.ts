/**
 * Erasure in the feedback log's own formats: which entries and spool lines are a person's, and the
 * same entry with the person's id replaced by its pseudonym. No I/O: the Redis sweep
 * (redis-log-eraser.ts), the spool (feedback-spool.ts) and the memory log use these.
 */

/** The pseudonym for an id that is to be forgotten, or null for an id to keep. */
export type PseudonymOf = (customerId: string) => string | null;

/** The pseudonyms of `ids`: the matcher of an erasure that knows its ids. */
export function pseudonymsOf(ids: readonly string[], pseudonym: (id: string) => string): PseudonymOf {
  const map = new Map(ids.map((id) => [id, pseudonym(id)]));
  return (customerId) => map.get(customerId) ?? null;
}

/**
 * An entry's JSON (a decision, a reaction, an outcome: each has `customerId`) with the customer id
 * replaced by its pseudonym; null when the entry is not one of the person's (or not JSON at all).
 */
export function pseudonymiseJson(json: string, pseudonymOf: PseudonymOf): string | null {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const customerId = (value as { customerId?: unknown }).customerId;
  if (typeof customerId !== 'string') return null;
  const pseudonym = pseudonymOf(customerId);
  if (pseudonym === null) return null;
  return JSON.stringify({ ...value, customerId: pseudonym });
}

/** The customer id of an entry's JSON, or null. */
export function customerOfJson(json: string): string | null {
  try {
    const value = JSON.parse(json) as { customerId?: unknown } | null;
    return typeof value?.customerId === 'string' ? value.customerId : null;
  } catch {
    return null;
  }
}

/**
 * A spool line (`d <json>`, `f <receivedAt> <json>`, `o <receivedAt> <json>`, see
 * redis-feedback-log.ts) with the person's id pseudonymised; the line itself when it is not theirs.
 * Pseudonymised rather than dropped: replayed, the entry still counts in the aggregates, and a
 * reaction still finds its decision, whose line got the same pseudonym.
 */
export function pseudonymiseSpoolLine(line: string, pseudonymOf: PseudonymOf): string {
  const jsonAt = line.startsWith('d ') ? 2 : line.indexOf(' ', 2) + 1;
  if (jsonAt <= 0) return line;
  const json = pseudonymiseJson(line.slice(jsonAt), pseudonymOf);
  return json === null ? line : `${line.slice(0, jsonAt)}${json}`;
}

/** The customer id of a spool line, or null. */
export function customerOfSpoolLine(line: string): string | null {
  const jsonAt = line.startsWith('d ') ? 2 : line.indexOf(' ', 2) + 1;
  return jsonAt <= 0 ? null : customerOfJson(line.slice(jsonAt));
}

/** True when any of `texts` contains any of `ids` (a cheap test before JSON is parsed). */
export function mentions(texts: readonly string[], ids: readonly string[]): boolean {
  for (const text of texts) for (const id of ids) if (text.includes(id)) return true;
  return false;
}
