import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { RedisConnection, RedisReply } from '../store/redis/redis-connection.js';
import type { RedisKeys } from '../store/redis/redis-keys.js';
import { RedisScript } from '../store/redis/redis-script.js';
import { PushCursor } from './push-cursor.js';
import {
  aboutAnyOf,
  compareStreamIds,
  decodeEnvelope,
  decodeLive,
  encodeEnvelope,
  type LivePush,
  type PushEnvelope,
} from './push-envelope.js';
import type { PushHub } from './push-hub.js';
import { PushOutbox } from './push-outbox.js';

/**
 * The age past which a push is given up: a screen-pop for a call (or a trigger) older than this is
 * stale. A push is relayed, retried and delivered only while it is younger than this, by the clock
 * of the server that judges (its maker's while relaying, the receiver's while delivering).
 */
export const PUSH_MAX_AGE_MS = 30_000;
/** Pushes a server keeps for Redis while it is away; beyond that the oldest are given up. */
export const PUSH_OUTBOX_MAX = 10_000;
/** Pushes the stream keeps at most (about: trimmed by whole nodes); it also forgets what is older than the bound. */
export const PUSH_STREAM_MAX = 10_000;
/** How often a server reads the stream for pushes it did not hear live (a subscription that was down). */
export const PUSH_TAIL_CHECK_MS = 1_000;
/** After a relay failed, the next try: sooner when the connection says `up`. */
export const PUSH_RETRY_MS = 250;
/** Pushes sent to Redis at once, in order on the connection (one script call each). */
const RELAY_BATCH = 64;
/** Stream entries read per call while catching up. */
const READ_COUNT = 500;
/** A stream read may take longer than a decision's deadline: it is off the request path. */
const READ_TIMEOUT_MS = 2_000;
/** Live messages held while the stream is read; more are dropped (the stream has them). */
const LIVE_BUFFER_MAX = 10_000;

/**
 * Appends a push to the stream and publishes it live with the stream id before it, in one round trip
 * on one slot. The stream keeps at most about ARGV[2] entries and none older than ARGV[4] ms by
 * Redis' clock, and expires when no push comes for twice that. PUBLISH goes to every node of a
 * cluster. KEYS[1] stream; ARGV[1] channel, ARGV[2] max entries, ARGV[3] envelope, ARGV[4] max age.
 */
const RELAY = new RedisScript(`
local prev = '0-0'
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if newest[1] then prev = newest[1][1] end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[3])
local t = redis.call('TIME')
local oldest = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[4])
redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%.0f', oldest))
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[4]))
redis.call('PUBLISH', ARGV[1], id .. '\\n' .. prev .. '\\n' .. ARGV[3])
return id
`);

/**
 * The stream's newest id ('0-0' when empty) and the entries after ARGV[1] (an exclusive start,
 * `(<id>`), at most ARGV[2]. KEYS[1] stream.
 */
const READ = new RedisScript(`
local top = '0-0'
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if newest[1] then top = newest[1][1] end
return {top, redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])}
`);

/** What the relay counted since start (metrics). */
export interface PushRelayStats {
  /** Pushes of this server that Redis took. */
  readonly relayed: number;
  /** Tries to relay that failed; the push was kept for another. */
  readonly failedTries: number;
  /** Pushes given up unrelayed: older than the bound, or the outbox full. */
  readonly droppedExpired: number;
  readonly droppedOverflow: number;
  /** Pushes waiting for Redis now. */
  readonly pending: number;
  /** Other servers' pushes delivered here from the stream: missed live. */
  readonly replayed: number;
  /** Other servers' pushes not delivered here: already delivered, or older than the bound. */
  readonly skippedDuplicate: number;
  readonly skippedExpired: number;
}

export interface PushRelayOptions {
  /** The time pushes are made and judged by (ms); tests move it. */
  readonly clock?: () => number;
  readonly maxAgeMs?: number;
  readonly tailCheckMs?: number;
  readonly retryMs?: number;
}

/**
 * Pushes between servers: a call event handled by one server reaches the agent's sessions on every
 * server, also across a blip of Redis (docs/channels.md, Pushes across servers).
 *
 * - Relaying: each push goes into an outbox; a script appends it to a short stream and publishes
 *   it live. What Redis does not take stays, in order, and is tried again until Redis takes it or
 *   it is older than the bound.
 * - Receiving: each live message names the stream id before it. A server that sees one it did not
 *   hear (its subscription was down, or rebuilt) reads the stream from the last id it saw; it also
 *   reads it when the connection comes back and every second, for a push missed with nothing after
 *   it. Pushes are delivered in stream order, at most once (push ids), while younger than the bound.
 */
export class RedisPushRelay {
  private readonly serverId = randomUUID();
  private seq = 0;
  private readonly clock: () => number;
  private readonly maxAgeMs: number;
  private readonly retryMs: number;
  private readonly outbox: PushOutbox;
  private readonly cursor: PushCursor;
  private draining = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly tailTimer: NodeJS.Timeout;
  /** Relaying has failed since it last went through (one warning per outage). */
  private failing = false;
  private reading: Promise<void> | null = null;
  private readAgain = false;
  /** A gap was seen and the stream not read since: live messages wait in `held`. */
  private behind = false;
  private held: LivePush[] = [];
  private relayed = 0;
  private failedTries = 0;
  private replayed = 0;
  private closed = false;

  private constructor(
    private readonly redis: RedisConnection,
    private readonly channel: string,
    private readonly stream: string,
    private readonly hub: PushHub,
    private readonly log: Logger,
    options: PushRelayOptions,
  ) {
    this.clock = options.clock ?? Date.now;
    this.maxAgeMs = options.maxAgeMs ?? PUSH_MAX_AGE_MS;
    this.retryMs = options.retryMs ?? PUSH_RETRY_MS;
    this.outbox = new PushOutbox(PUSH_OUTBOX_MAX, this.maxAgeMs);
    this.cursor = new PushCursor(this.serverId, this.maxAgeMs, 2 * PUSH_STREAM_MAX);
    this.tailTimer = setInterval(
      () => void this.catchUp(),
      options.tailCheckMs ?? PUSH_TAIL_CHECK_MS,
    ).unref();
  }

  static async start(
    redis: RedisConnection,
    keys: RedisKeys,
    hub: PushHub,
    log: Logger,
    options: PushRelayOptions = {},
  ): Promise<RedisPushRelay> {
    const relay = new RedisPushRelay(redis, keys.push(), keys.pushStream(), hub, log, options);
    try {
      // Nothing made before this server started is replayed to it. A stream that cannot be read now
      // (its master away) does not keep the server from starting: the first live push or read sets it.
      await relay.readNewest().catch(() => {});
      await redis.subscribe(relay.channel, (message) => relay.hear(message));
    } catch (err) {
      relay.close();
      throw err;
    }
    hub.forwardTo((topics, message) => relay.forward(topics, message));
    redis.on('up', relay.onUp);
    return relay;
  }

  get stats(): PushRelayStats {
    const skips = this.cursor.skips;
    return {
      relayed: this.relayed,
      failedTries: this.failedTries,
      droppedExpired: this.outbox.droppedExpired,
      droppedOverflow: this.outbox.droppedOverflow,
      pending: this.outbox.size,
      replayed: this.replayed,
      skippedDuplicate: skips.duplicate,
      skippedExpired: skips.expired,
    };
  }

  /**
   * Drops every push about `ids` (an erasure): those waiting here for Redis, and those in the stream,
   * which would otherwise keep them until trimmed (30 s, a minute at most). Every server runs it when
   * it hears of the erasure, and the erasing one in each sweep. Answers how many; 0 from the stream
   * when Redis cannot be read (it forgets them by itself within the minute).
   */
  async forget(ids: readonly string[]): Promise<number> {
    const about = aboutAnyOf(ids);
    let dropped = this.outbox.forget(about);
    try {
      const doomed: string[] = [];
      for (let from = '-'; ; ) {
        const entries = await this.redis.send<[string, string[]][]>(
          this.stream,
          ['XRANGE', this.stream, from, '+', 'COUNT', String(READ_COUNT)],
          { timeoutMs: READ_TIMEOUT_MS },
        );
        for (const [id, fields] of entries) {
          const envelope = fields[1] === undefined ? null : decodeEnvelope(fields[1]);
          if (envelope !== null && about(envelope)) doomed.push(id);
        }
        if (entries.length < READ_COUNT) break;
        from = `(${entries[entries.length - 1]![0]}`;
      }
      for (let i = 0; i < doomed.length; i += READ_COUNT) {
        const chunk = doomed.slice(i, i + READ_COUNT);
        dropped += await this.redis.send<number>(this.stream, ['XDEL', this.stream, ...chunk], {
          timeoutMs: READ_TIMEOUT_MS,
        });
      }
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message },
        'push stream not erased now: it forgets within a minute',
      );
    }
    return dropped;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.tailTimer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.redis.off('up', this.onUp);
    const unsent = this.outbox.clear();
    if (unsent > 0) this.log.warn({ pushes: unsent }, 'pushes not relayed to other servers: closing');
  }

  /** The connection is back (subscriptions renewed): relay what waits, read what was missed. */
  private readonly onUp = (): void => {
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    void this.drain();
    void this.catchUp();
  };

  private forward(topics: readonly string[], push: string): void {
    if (this.closed) return;
    this.outbox.add({ serverId: this.serverId, seq: ++this.seq, createdAt: this.clock(), topics, push });
    // After a failure, the retry timer (or `up`) sends what waits, this push with it.
    if (this.retryTimer === null) void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.draining || this.closed) return;
    this.draining = true;
    try {
      for (;;) {
        const batch = this.outbox.due(this.clock(), RELAY_BATCH);
        if (batch.length === 0) break;
        let error: unknown = null;
        const taken = await Promise.all(
          batch.map((push) =>
            this.relayOne(push).then(
              () => true,
              (err: unknown) => {
                error = err;
                return false;
              },
            ),
          ),
        );
        this.outbox.settled(batch, taken);
        const failed = taken.filter((t) => !t).length;
        this.relayed += batch.length - failed;
        this.failedTries += failed;
        if (failed > 0) {
          if (!this.failing) {
            this.failing = true;
            this.log.warn(
              { err: error, pending: this.outbox.size },
              'pushes kept for other servers: Redis unavailable; retrying',
            );
          }
          if (!this.closed) {
            this.retryTimer = setTimeout(() => {
              this.retryTimer = null;
              void this.drain();
            }, this.retryMs).unref();
          }
          return;
        }
      }
      if (this.failing) {
        this.failing = false;
        this.log.info(
          { droppedExpired: this.outbox.droppedExpired, droppedOverflow: this.outbox.droppedOverflow },
          'pushes relayed again',
        );
      }
    } finally {
      this.draining = false;
    }
  }

  private relayOne(push: PushEnvelope): Promise<RedisReply> {
    return RELAY.run(
      this.redis,
      [this.stream],
      [this.channel, String(PUSH_STREAM_MAX), encodeEnvelope(push), String(this.maxAgeMs)],
    );
  }

  private hear(message: string): void {
    const live = decodeLive(message);
    if (live === null) return;
    if (this.behind) this.hold(live);
    else this.take(live);
  }

  /** `justRead`: held while the stream was read, which is now read up to its newest entry. */
  private take(live: LivePush, justRead = false): void {
    switch (this.cursor.live(live)) {
      case 'seen':
        return;
      case 'deliver':
        if (this.cursor.admit(live.envelope, this.clock())) this.deliver(live.envelope);
        return;
      case 'gap':
        if (justRead) {
          // Still a gap right after a read: a push published but not in the stream (its master
          // failed over before the stream reached the replica), or one whose predecessor is yet to
          // be read. Delivered as it is, the cursor left where the stream says; reading again at
          // once would find the same and loop. The next read brings any predecessor.
          if (this.cursor.admit(live.envelope, this.clock())) this.deliver(live.envelope);
          return;
        }
        this.behind = true;
        this.hold(live);
        void this.catchUp();
        return;
    }
  }

  private hold(live: LivePush): void {
    this.held.push(live);
    if (this.held.length > LIVE_BUFFER_MAX) this.held.shift();
  }

  private deliver(envelope: PushEnvelope): void {
    this.hub.deliverLocally(envelope.topics, Buffer.from(envelope.push));
  }

  /** Reads the stream past the last id seen and delivers what this server missed. */
  private catchUp(): Promise<void> {
    // Tried even while Redis is said down: on a cluster the master of the stream may be up.
    if (this.closed) return Promise.resolve();
    if (this.reading !== null) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = (async () => {
      try {
        do {
          this.readAgain = false;
          await this.readMissed();
        } while (this.readAgain && !this.closed);
        this.behind = false;
        const held = this.held;
        this.held = [];
        for (const live of held) this.take(live, true);
      } catch (err) {
        // Tried again on `up` and by the tail check; live messages stay held meanwhile.
        this.log.debug({ err: (err as Error).message }, 'push stream not read');
      } finally {
        this.reading = null;
      }
    })();
    return this.reading;
  }

  private async readMissed(): Promise<void> {
    const after = this.cursor.lastId;
    if (after === null) {
      await this.readNewest();
      return;
    }
    let restarted = false;
    for (let from = after; ; ) {
      const [top, entries] = await READ.run<[string, [string, string[]][]]>(
        this.redis,
        [this.stream],
        [`(${from}`, String(READ_COUNT)],
        { timeoutMs: READ_TIMEOUT_MS },
      );
      if (!restarted && compareStreamIds(top, from) < 0) {
        // The stream began again (lost with a Redis, or a failover): read it all, push ids dedupe.
        restarted = true;
        this.cursor.restart();
        from = '0-0';
        continue;
      }
      const now = this.clock();
      for (const [id, fields] of entries) {
        this.cursor.read(id);
        const envelope = fields[1] === undefined ? null : decodeEnvelope(fields[1]);
        if (envelope !== null && this.cursor.admit(envelope, now)) {
          this.replayed++;
          this.deliver(envelope);
        }
      }
      if (entries.length < READ_COUNT) return;
      from = entries[entries.length - 1]![0];
    }
  }

  private async readNewest(): Promise<void> {
    const newest = await this.redis.send<[string, string[]][]>(
      this.stream,
      ['XREVRANGE', this.stream, '+', '-', 'COUNT', '1'],
      { timeoutMs: READ_TIMEOUT_MS },
    );
    this.cursor.startAfter(newest[0]?.[0] ?? '0-0');
  }
}
