import { LRUCache } from 'lru-cache';
import { compareStreamIds, type LivePush, type PushEnvelope, pushKey } from './push-envelope.js';

/** What to do with a push heard live. */
export type LiveVerdict =
  /** The next one after the last seen: deliver it now. */
  | 'deliver'
  /** At or before the last seen: already delivered (or read from the stream, or skipped). */
  | 'seen'
  /** Something was missed before it: read the stream from the last seen id first. */
  | 'gap';

/** Why a push that reached this server was not delivered to its sessions. */
export type PushSkipReason = 'own' | 'duplicate' | 'expired';

/**
 * Where one server is in the push stream, and which pushes it delivered: the last stream id it
 * saw (live or read back), a memory of the push ids delivered, and the age bound. Pure; the relay
 * does the reading. A push reaches this server's sessions at most once, in stream order.
 */
export class PushCursor {
  private last: string | null = null;
  private readonly delivered: LRUCache<string, true>;
  private readonly skipped: Record<PushSkipReason, number> = { own: 0, duplicate: 0, expired: 0 };

  constructor(
    private readonly serverId: string,
    private readonly maxAgeMs: number,
    /** Push ids remembered: more than the stream keeps, so that a stream read twice delivers nothing twice. */
    remember: number,
  ) {
    this.delivered = new LRUCache({ max: remember });
  }

  /** The last stream id seen; null before the first. */
  get lastId(): string | null {
    return this.last;
  }

  /** Starts after `id` (the stream's newest when the server starts: nothing older is replayed). */
  startAfter(id: string): void {
    if (this.last === null || compareStreamIds(id, this.last) > 0) this.last = id;
  }

  /** Where a push heard live stands. 'deliver' and 'seen' move the cursor; 'gap' leaves it. */
  live(push: LivePush): LiveVerdict {
    if (this.last !== null && compareStreamIds(push.id, this.last) <= 0) return 'seen';
    if (this.last !== null && push.prevId !== this.last) return 'gap';
    this.last = push.id;
    return 'deliver';
  }

  /**
   * The stream's newest id is older than the last seen: the stream was lost and began again (a
   * Redis restarted without its data, a failover that lost the last writes). Read it from the start;
   * push ids keep what was delivered already from being delivered again.
   */
  restart(): void {
    this.last = '0-0';
  }

  /** A stream entry read back, in order (delivered or not): moves the cursor. */
  read(id: string): void {
    if (this.last === null || compareStreamIds(id, this.last) > 0) this.last = id;
  }

  /**
   * Whether to hand a push to this server's sessions at `now`: not its own (delivered when it was
   * made), not one delivered before, not one older than the bound. Remembers it when it says yes.
   */
  admit(envelope: PushEnvelope, now: number): boolean {
    let reason: PushSkipReason | null = null;
    const key = pushKey(envelope);
    if (envelope.serverId === this.serverId) reason = 'own';
    else if (this.delivered.has(key)) reason = 'duplicate';
    else if (now - envelope.createdAt > this.maxAgeMs) reason = 'expired';
    if (reason !== null) {
      this.skipped[reason]++;
      return false;
    }
    this.delivered.set(key, true);
    return true;
  }

  /** Pushes not delivered, by why. */
  get skips(): Readonly<Record<PushSkipReason, number>> {
    return this.skipped;
  }
}
