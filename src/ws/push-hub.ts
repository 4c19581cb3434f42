/** Something that can receive pushes: a WebSocket session. */
export interface PushTarget {
  /** Sends a push; false when the target could not take it (closed, or terminated as too slow). */
  deliver(frame: Buffer): boolean;
}

/** Passes pushes on to the other servers (Redis pub/sub); absent on a single embedded server. */
export type PushForwarder = (topics: readonly string[], message: string) => void;

/**
 * Who listens to what on this server: topics (`agent:<id>`, `customer:<id>`) to sessions. A push is
 * encoded once and the same bytes go to every session; a session subscribed to two topics of one
 * push gets it once.
 */
export class PushHub {
  private readonly topics = new Map<string, Set<PushTarget>>();
  private forwarder: PushForwarder | null = null;
  /** Scratch set for one push's recipients; pushes are delivered synchronously, one at a time. */
  private readonly reached = new Set<PushTarget>();

  /** Sends this server's pushes on to the other servers too. */
  forwardTo(forwarder: PushForwarder): void {
    this.forwarder = forwarder;
  }

  subscribe(topic: string, target: PushTarget): void {
    let targets = this.topics.get(topic);
    if (targets === undefined) {
      targets = new Set();
      this.topics.set(topic, targets);
    }
    targets.add(target);
  }

  unsubscribe(topic: string, target: PushTarget): void {
    const targets = this.topics.get(topic);
    if (targets === undefined) return;
    targets.delete(target);
    if (targets.size === 0) this.topics.delete(topic);
  }

  /** Pushes to every listener here and on the other servers; answers how many sessions here got it. */
  publish(topics: readonly string[], message: string): number {
    this.forwarder?.(topics, message);
    return this.deliverLocally(topics, Buffer.from(message));
  }

  /** Delivers a push to the listeners on this server only (also: pushes from other servers). */
  deliverLocally(topics: readonly string[], frame: Buffer): number {
    let delivered = 0;
    try {
      for (const topic of topics) {
        for (const target of this.topics.get(topic) ?? []) {
          if (this.reached.has(target)) continue;
          this.reached.add(target);
          if (target.deliver(frame)) delivered++;
        }
      }
    } finally {
      this.reached.clear();
    }
    return delivered;
  }

  /** Topics with at least one listener (for health). */
  get size(): number {
    return this.topics.size;
  }
}
