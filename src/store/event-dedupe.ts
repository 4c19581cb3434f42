/**
 * Event ids seen, so that an event id triggers at most once (a retried POST, a replay): claim()
 * answers true the first time an id is claimed within `ttlMs`, false after.
 */
export interface EventDedupe {
  claim(eventId: string, ttlMs: number): Promise<boolean>;
  /** Gives an id back when its event could not be processed, so that a retry processes it. */
  release(eventId: string): Promise<void>;
}

/** Ids the embedded store remembers at most (~100 bytes each); past it the oldest is forgotten first. */
export const MAX_REMEMBERED_IDS = 500_000;

/**
 * This server's memory: ids expire `ttlMs` after their claim, swept as new ones come in, and at
 * most `maxIds` are kept, so a flood of events cannot grow the heap without bound (an id older
 * than the last `maxIds` may then trigger again; Redis keeps every id for its TTL).
 */
export class MemoryEventDedupe implements EventDedupe {
  /** Insertion order is claim order, so expired ids are at the front. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly clock: () => number,
    private readonly maxIds = MAX_REMEMBERED_IDS,
  ) {}

  claim(eventId: string, ttlMs: number): Promise<boolean> {
    const now = this.clock();
    for (const [id, expiresAt] of this.seen) {
      if (expiresAt > now) break;
      this.seen.delete(id);
    }
    const expiresAt = this.seen.get(eventId);
    if (expiresAt !== undefined && expiresAt > now) return Promise.resolve(false);
    this.seen.delete(eventId);
    if (this.seen.size >= this.maxIds) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(eventId, now + ttlMs);
    return Promise.resolve(true);
  }

  release(eventId: string): Promise<void> {
    this.seen.delete(eventId);
    return Promise.resolve();
  }
}
