import type { PushEnvelope } from './push-envelope.js';

/** Why a push was given up without reaching Redis. */
export type PushDropReason = 'expired' | 'overflow';

/**
 * The pushes a server has not relayed yet, oldest first: at most `maxPushes`, none older than
 * `maxAgeMs` (a screen-pop for a call older than that is stale). Pure: the relay takes pushes from
 * here, tries them, and says which Redis took; what failed stays, in order, for the next try.
 */
export class PushOutbox {
  private pending: PushEnvelope[] = [];
  private readonly dropped: Record<PushDropReason, number> = { expired: 0, overflow: 0 };

  constructor(
    private readonly maxPushes: number,
    private readonly maxAgeMs: number,
  ) {}

  /** Queues a push; the oldest is given up when the outbox is full. */
  add(push: PushEnvelope): void {
    this.pending.push(push);
    if (this.pending.length > this.maxPushes) {
      this.pending.shift();
      this.dropped.overflow++;
    }
  }

  /**
   * The oldest `max` pushes to try now, after giving up those older than the bound at `now`. They
   * stay queued until settled().
   */
  due(now: number, max: number): readonly PushEnvelope[] {
    const fresh = this.pending.filter((p) => now - p.createdAt <= this.maxAgeMs);
    this.dropped.expired += this.pending.length - fresh.length;
    this.pending = fresh;
    return fresh.slice(0, max);
  }

  /** The outcome of trying `tried` (what due() gave): those Redis took leave the outbox. */
  settled(tried: readonly PushEnvelope[], taken: readonly boolean[]): void {
    const gone = new Set(tried.filter((_, i) => taken[i] === true));
    if (gone.size > 0) this.pending = this.pending.filter((p) => !gone.has(p));
  }

  /** Drops the pushes `which` picks (an erasure: not counted as given up); answers how many. */
  forget(which: (push: PushEnvelope) => boolean): number {
    const kept = this.pending.filter((p) => !which(p));
    const n = this.pending.length - kept.length;
    this.pending = kept;
    return n;
  }

  /** Gives up everything still queued (the server is closing); answers how many. */
  clear(): number {
    const n = this.pending.length;
    this.pending = [];
    return n;
  }

  get size(): number {
    return this.pending.length;
  }

  get droppedExpired(): number {
    return this.dropped.expired;
  }

  get droppedOverflow(): number {
    return this.dropped.overflow;
  }
}
