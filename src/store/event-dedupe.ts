/**
 * Event ids seen, so that an event id triggers at most once (a retried POST, a replay): claim()
 * answers true the first time an id is claimed within `ttlMs`, false after.
 */
export interface EventDedupe {
  claim(eventId: string, ttlMs: number): Promise<boolean>;
  /** Gives an id back when its event could not be processed, so that a retry processes it. */
  release(eventId: string): Promise<void>;
}

/** This server's memory: ids expire `ttlMs` after their claim, swept as new ones come in. */
export class MemoryEventDedupe implements EventDedupe {
  /** Insertion order is claim order, so expired ids are at the front. */
  private readonly seen = new Map<string, number>();

  constructor(private readonly clock: () => number) {}

  claim(eventId: string, ttlMs: number): Promise<boolean> {
    const now = this.clock();
    for (const [id, expiresAt] of this.seen) {
      if (expiresAt > now) break;
      this.seen.delete(id);
    }
    const expiresAt = this.seen.get(eventId);
    if (expiresAt !== undefined && expiresAt > now) return Promise.resolve(false);
    this.seen.delete(eventId);
    this.seen.set(eventId, now + ttlMs);
    return Promise.resolve(true);
  }

  release(eventId: string): Promise<void> {
    this.seen.delete(eventId);
    return Promise.resolve();
  }
}
