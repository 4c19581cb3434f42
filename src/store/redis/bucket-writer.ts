import type { RedisArg, RedisConnection } from './redis-connection.js';

/** Customers of one bucket written by one HSET, at most. */
const FIELDS_PER_HSET = 64;
/** Customers waiting for more of their bucket, at most; then every bucket is sent. */
const MAX_GATHERED = 200_000;
/**
 * Customers sent and not acknowledged yet before the loader waits for Redis. Checked between
 * chunks, so a chunk may add its full HSETs (of FIELDS_PER_HSET customers) on top; either way the
 * HSETs in flight stay well below node-redis' queue limit (commandsQueueMaxLength, 50,000).
 */
const MAX_UNANSWERED = 32_768;

/**
 * Writes fields into bucketed hashes (the buckets of a population version, or of the phone
 * directory), through RedisConnection.send like every other
 * command (node-redis, which routes them in a cluster). Customers are gathered per bucket so that
 * one HSET writes several of them: a command costs Redis more than a field, and node-redis a
 * promise and a reply more. room() is the back-pressure. Customers of one bucket are written in the
 * order they were added, so the last of two lines with the same id wins.
 */
export class BucketWriter {
  /**
   * Per bucket, the customers waiting, four items each: the buffer they are in, where the id
   * starts, where it ends and the profile starts, and where the profile ends.
   */
  private readonly gathered = new Map<number, (Buffer | number)[]>();
  private gatheredCount = 0;
  private unanswered = 0;
  private failure: unknown = null;
  private wake: (() => void) | null = null;
  private wakeAt = 0;
  private added = 0;
  private readonly started = performance.now();

  constructor(
    private readonly redis: RedisConnection,
    /** The key of bucket n. */
    private readonly keyOf: (bucket: number) => string,
    /** Customers per second at most; 0: no limit. */
    private readonly maxRate: number,
  ) {}

  /**
   * The customer whose id (UTF-8) is `source[start, idEnd)` and whose encoded profile is
   * `source[idEnd, end)`, into bucket `bucket`. The buffer is referenced until the customer is sent.
   */
  add(bucket: number, source: Buffer, start: number, idEnd: number, end: number): void {
    let parts = this.gathered.get(bucket);
    if (parts === undefined) {
      parts = [];
      this.gathered.set(bucket, parts);
    }
    parts.push(source, start, idEnd, end);
    this.gatheredCount++;
    this.added++;
    if (parts.length === 4 * FIELDS_PER_HSET) {
      this.gathered.delete(bucket);
      this.gatheredCount -= FIELDS_PER_HSET;
      this.hset(bucket, parts);
    }
  }

  /** Waits while Redis is behind; throws the error of a failed HSET. */
  async room(): Promise<void> {
    if (this.gatheredCount >= MAX_GATHERED) await this.sendGathered();
    await this.drain(MAX_UNANSWERED);
    if (this.maxRate > 0) {
      const ahead = (this.added / this.maxRate) * 1000 - (performance.now() - this.started);
      if (ahead > 1) {
        // Hand what is gathered to Redis now, so the writes spread over time instead of bunching.
        await this.sendGathered();
        await new Promise((resolve) => setTimeout(resolve, ahead));
      }
    }
  }

  /** Sends what is gathered and waits until Redis has acknowledged everything; throws the error of a failed HSET. */
  async finish(): Promise<void> {
    await this.sendGathered();
    await this.drain(0);
  }

  /** Waits until Redis has answered everything sent (after an error: before deleting the version). */
  async settle(): Promise<void> {
    this.gathered.clear();
    this.gatheredCount = 0;
    await this.answeredDownTo(0, false);
  }

  private hset(bucket: number, parts: readonly (Buffer | number)[]): void {
    const key = this.keyOf(bucket);
    const args: RedisArg[] = ['HSET', key];
    for (let k = 0; k < parts.length; k += 4) {
      const source = parts[k] as Buffer;
      const idEnd = parts[k + 2] as number;
      // The id as a string: node-redis joins string arguments into one write, a Buffer is a write of its own.
      args.push(
        source.toString('utf8', parts[k + 1] as number, idEnd),
        source.subarray(idEnd, parts[k + 3] as number),
      );
    }
    const n = parts.length / 4;
    this.unanswered += n;
    this.redis.send(key, args, { timeoutMs: 0 }).then(
      () => this.answered(n),
      (err: unknown) => {
        this.failure ??= err;
        this.answered(n);
      },
    );
  }

  private answered(n: number): void {
    this.unanswered -= n;
    if (this.wake !== null && (this.unanswered <= this.wakeAt || this.failure !== null)) {
      const wake = this.wake;
      this.wake = null;
      wake();
    }
  }

  /** Waits while more than `most` customers are unacknowledged; throws the first error. */
  private async drain(most: number): Promise<void> {
    await this.answeredDownTo(most, true);
    if (this.failure !== null) throw this.failure;
  }

  /** Waits until at most `most` customers are unacknowledged, or, if `orFailure`, an HSET failed. */
  private async answeredDownTo(most: number, orFailure: boolean): Promise<void> {
    // Wakes at half the limit, so that the loader does not wake for every reply.
    while (this.unanswered > most && !(orFailure && this.failure !== null)) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.wakeAt = Math.floor(most / 2);
      });
    }
  }

  private async sendGathered(): Promise<void> {
    const all = [...this.gathered];
    this.gathered.clear();
    this.gatheredCount = 0;
    // Half the limit at a time, on top of at most the other half: these HSETs may be of one customer each.
    let sent = MAX_UNANSWERED / 2;
    for (const [bucket, parts] of all) {
      if (sent >= MAX_UNANSWERED / 2) {
        sent = 0;
        await this.drain(MAX_UNANSWERED / 2);
      }
      this.hset(bucket, parts);
      sent += parts.length / 4;
    }
  }
}
