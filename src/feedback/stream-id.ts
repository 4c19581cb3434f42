/** A Redis stream entry id, `<ms>-<seq>` (a bare `<ms>` means seq 0). */
export type StreamId = string;

function parts(id: StreamId): [bigint, bigint] {
  const dash = id.indexOf('-');
  // BigInt: both halves are unsigned 64-bit in Redis, past what a double holds exactly.
  return dash < 0 ? [BigInt(id), 0n] : [BigInt(id.slice(0, dash)), BigInt(id.slice(dash + 1))];
}

/** Negative, zero or positive as `a` comes before, equals or follows `b` in a stream. */
export function compareStreamIds(a: StreamId, b: StreamId): number {
  const [am, as] = parts(a);
  const [bm, bs] = parts(b);
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

/** Where one consumer group stands on a stream (from XINFO GROUPS and XPENDING). */
export interface GroupPosition {
  readonly pending: number;
  /** The oldest entry delivered to and not acknowledged by the group; null when none is pending. */
  readonly oldestPending: StreamId | null;
  readonly lastDelivered: StreamId;
}

/**
 * The MINID for XTRIM: entries older than the retention may go, but never one that a group has not
 * processed yet, i.e. nothing from its oldest pending entry on, or past its last delivered entry
 * when none is pending. MINID keeps the id itself, so each group's boundary entry stays.
 */
export function trimPoint(retentionCut: StreamId, groups: readonly GroupPosition[]): StreamId {
  let point = retentionCut;
  for (const g of groups) {
    const kept = g.pending > 0 && g.oldestPending !== null ? g.oldestPending : g.lastDelivered;
    if (compareStreamIds(kept, point) < 0) point = kept;
  }
  return point;
}
