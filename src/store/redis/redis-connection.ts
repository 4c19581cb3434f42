import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { createClient, createCluster, ErrorReply, RESP_TYPES } from 'redis';
import type { RedisConfig } from '../../config.js';
import { RedisUnavailableError } from '../../errors.js';

/** A reply as Redis sends it (RESP2): bulk strings as Buffer or string, integers, arrays, nil. */
export type RedisReply = string | number | Buffer | null | readonly RedisReply[];
export type RedisArg = string | Buffer;

export interface SendOptions {
  /** Bulk strings come back as Buffers (binary values) instead of strings. */
  readonly buffers?: boolean;
  /** Milliseconds before the call is given up; default: the configured request deadline; 0: none. */
  readonly timeoutMs?: number;
}

/** Redis did not answer in time, or is known to be down: the caller answers from what it has. */

/** Why a call failed: past its deadline, Redis known down or the connection lost, an error reply. */
export type RedisFailure = 'timeout' | 'unavailable' | 'reply';

/** Sees every call of a connection (metrics): one `performance.now()` and a callback per call. */
export interface RedisCallObserver {
  /** A call sent at `startedAt` (performance.now()) settled: failure null, or why it failed. */
  settled(startedAt: number, failure: RedisFailure | null): void;
  /** A call failed at once, not sent: Redis is known to be down. */
  refused(): void;
}

/** The few things Offerloop needs of node-redis, the same for one node and for a cluster. */
interface Driver {
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  send(key: string | undefined, args: RedisArg[], buffers: boolean): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<void>;
  /** One client per master (the client itself for one node), for SCAN and INFO. */
  masters(): Promise<Driver[]>;
  destroy(): void;
}

const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;

export interface RedisConnectionOptions {
  /** How often the health check pings. */
  readonly pingEveryMs?: number;
  /** A Redis that answers no ping for this long is hung (SIGSTOP, dead peer): the connection is rebuilt. */
  readonly hungAfterMs?: number;
}

type ConnectionEvents = { up: []; down: [] };

/**
 * One logical connection to Redis (a node or a cluster) that never makes a caller wait for a Redis
 * that is gone: every call has a deadline, calls fail at once while Redis is known to be down, a
 * health check notices when it comes back, and a hung connection is replaced. It emits `down` and
 * `up`; listeners resynchronise on `up` because pub/sub messages sent meanwhile are lost.
 */
export class RedisConnection extends EventEmitter<ConnectionEvents> {
  private driver: Driver;
  private subscriber: Driver | null = null;
  private readonly channels = new Map<string, (message: string) => void>();
  private healthy = true;
  /** The subscriber was replaced and has not subscribed to every channel again yet. */
  private subscriptionsStale = false;
  private lastPong = Date.now();
  private replaced = 0;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private observer: RedisCallObserver | null = null;

  private constructor(
    private readonly config: RedisConfig,
    private readonly log: Logger,
    private readonly options: Required<RedisConnectionOptions>,
  ) {
    super();
    this.driver = makeDriver(config, log);
    this.timer = setInterval(() => void this.check(), options.pingEveryMs).unref();
  }

  /** Connects, or fails after the connect deadline with a clear message. */
  static async open(
    config: RedisConfig,
    log: Logger,
    options: RedisConnectionOptions = {},
  ): Promise<RedisConnection> {
    const connection = new RedisConnection(config, log, {
      pingEveryMs: options.pingEveryMs ?? 500,
      hungAfterMs: options.hungAfterMs ?? 3000,
    });
    try {
      await withDeadline(connection.driver.connect(), 5000, `connecting to ${describe(config)}`);
    } catch (err) {
      connection.close();
      throw new Error(`cannot connect to Redis at ${describe(config)}: ${(err as Error).message}`);
    }
    return connection;
  }

  /** Connections replaced because Redis stopped answering on them (see rebuild()). */
  get hungConnectionsReplaced(): number {
    return this.replaced;
  }

  /** Reports every call from now on to `observer` (one per connection). */
  instrument(observer: RedisCallObserver): void {
    this.observer = observer;
  }

  /** A Redis Cluster: a command's keys must share a slot, so calls for many customers cannot be batched. */
  get isCluster(): boolean {
    return this.config.url === null;
  }

  get isUp(): boolean {
    return this.healthy && this.driver.isReady;
  }

  /** Sends one command, routed by `key` in a cluster. Rejects with RedisUnavailableError when Redis is down or late. */
  send<T extends RedisReply>(
    key: string | undefined,
    args: RedisArg[],
    options: SendOptions = {},
  ): Promise<T> {
    const observer = this.observer;
    if (!this.isUp) {
      observer?.refused();
      return Promise.reject(new RedisUnavailableError(`Redis is unavailable`));
    }
    const ms = options.timeoutMs ?? this.config.timeoutMs;
    // One clock read serves the deadline and the latency metric.
    const startedAt = observer === null && ms <= 0 ? 0 : performance.now();
    const reply = this.driver.send(key, args, options.buffers ?? false) as Promise<T>;
    if (ms > 0) return withDeadline(reply, ms, args[0], observer, startedAt);
    if (observer !== null) {
      reply.then(
        () => observer.settled(startedAt, null),
        (err: unknown) => observer.settled(startedAt, err instanceof ErrorReply ? 'reply' : 'unavailable'),
      );
    }
    return reply;
  }

  publish(channel: string, message: string): Promise<number> {
    return this.send<number>(channel, ['PUBLISH', channel, message]);
  }

  /** Listens on a channel for the life of the connection, across reconnects and rebuilds. */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    this.channels.set(channel, listener);
    this.subscriber ??= makeDriver(this.config, this.log);
    if (!this.subscriber.isReady) await withDeadline(this.subscriber.connect(), 5000, 'subscribing');
    await this.subscriber.subscribe(channel, listener);
  }

  /** Clients of every master, for commands that must visit all of them (SCAN, INFO). */
  async eachMaster<T>(fn: (send: (args: RedisArg[]) => Promise<RedisReply>) => Promise<T>): Promise<T[]> {
    const masters = await this.driver.masters();
    return Promise.all(
      masters.map((m) => fn((args) => m.send(undefined, args, false) as Promise<RedisReply>)),
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.driver.destroy();
    this.subscriber?.destroy();
  }

  private async check(): Promise<void> {
    try {
      await withDeadline(this.driver.send(undefined, ['PING'], false), this.options.pingEveryMs, 'PING');
      this.lastPong = Date.now();
      // Subscribe again before saying `up`: listeners resynchronise on `up`, and must not miss
      // messages sent after they did.
      if (this.subscriptionsStale && (await this.resubscribe())) this.emit('up');
      if (!this.healthy) {
        this.healthy = true;
        this.log.info({ redis: describe(this.config) }, 'Redis is back');
        this.emit('up');
      }
    } catch (err) {
      if (this.closed) return;
      if (this.healthy) {
        this.healthy = false;
        this.log.warn({ redis: describe(this.config), err: (err as Error).message }, 'Redis is unavailable');
        this.emit('down');
      }
      if (Date.now() - this.lastPong > this.options.hungAfterMs) this.rebuild();
    }
  }

  /**
   * A connection whose peer stopped answering (a hung process, a silent network) would wait for TCP
   * to time out, which takes minutes; replace it instead. node-redis reconnects a closed socket by
   * itself, but not one that is open and silent. Guarded by redis-outage.int.test.ts "SIGSTOP".
   */
  private rebuild(): void {
    this.log.warn({ redis: describe(this.config) }, 'Redis connection hung: reconnecting');
    this.replaced++;
    this.lastPong = Date.now();
    const old = [this.driver, this.subscriber];
    this.driver = makeDriver(this.config, this.log);
    this.subscriber = null;
    for (const d of old) d?.destroy();
    this.driver.connect().catch(() => {});
    // Subscribing now would wait on the same silent Redis; the health check does it once Redis answers.
    this.subscriptionsStale = this.channels.size > 0;
  }

  /** A new subscriber for every channel; false (and stale still) if Redis did not take it. */
  private async resubscribe(): Promise<boolean> {
    this.subscriber?.destroy();
    this.subscriber = null;
    try {
      for (const [channel, listener] of this.channels) await this.subscribe(channel, listener);
      this.subscriptionsStale = false;
      return true;
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'resubscribing failed; trying again');
      return false;
    }
  }
}

function describe(config: RedisConfig): string {
  const where = config.url ?? config.clusterNodes.join(',');
  return where.replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * `observer` (if any) hears of the call once: when it settles or, if first, when its deadline passes.
 * The deadline is about Redis, not about this process: when its timer runs late because the process
 * itself was busy (a major GC, a long turn of the loop), the command may not even be written yet
 * (the driver writes in a setImmediate) or its answer may be waiting unread, so Redis gets its `ms`
 * once more. A soak saw such stalls turn answers in time into degraded decisions.
 */
function withDeadline<T>(
  promise: Promise<T>,
  ms: number,
  /** What was asked: a command name, or what a connection was doing. */
  what: RedisArg | undefined,
  observer: RedisCallObserver | null = null,
  startedAt = performance.now(),
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let due = startedAt + ms;
    let extended = false;
    const onDeadline = (): void => {
      if (!extended && performance.now() - due > ms / 2) {
        extended = true;
        due = performance.now() + ms;
        timer = setTimeout(onDeadline, ms);
        return;
      }
      settled = true;
      observer?.settled(startedAt, 'timeout');
      // A late answer is not observed again.
      observer = null;
      // The message is built only for a call that failed.
      reject(new RedisUnavailableError(`Redis ${String(what)}: no answer in ${ms} ms`));
    };
    let timer = setTimeout(onDeadline, ms);
    promise.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        observer?.settled(startedAt, null);
        resolve(value);
      },
      (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // An error reply is Redis answering (e.g. NOSCRIPT); anything else means it is not reachable.
        const reply = err instanceof ErrorReply;
        observer?.settled(startedAt, reply ? 'reply' : 'unavailable');
        reject(reply ? err : new RedisUnavailableError((err as Error).message));
      },
    );
  });
}

const reconnectStrategy = (retries: number): number => Math.min(50 * 2 ** retries, 2000);

function makeDriver(config: RedisConfig, log: Logger): Driver {
  const clientOptions = {
    RESP: 2 as const,
    // Fail at once while disconnected instead of queueing: a request must not wait for a reconnect.
    disableOfflineQueue: true,
    // Bounds what piles up while a hung Redis answers nothing.
    commandsQueueMaxLength: 50_000,
    // Our own deadline (withDeadline) covers the whole round trip; node-redis' default timeout
    // would only add an AbortSignal per command (~10% of the loader's CPU).
    commandOptions: { timeout: 0 },
    socket: { connectTimeout: 2000, reconnectStrategy },
  };
  // node-redis emits an error for every failed reconnect; the health check logs the state changes.
  const onError = (err: Error) => log.debug({ err: err.message }, 'redis client error');
  if (config.url !== null) {
    return clientDriver(createClient({ ...clientOptions, url: config.url }).on('error', onError));
  }
  const cluster = createCluster({
    rootNodes: config.clusterNodes.map((url) => ({ url })),
    defaults: clientOptions,
    RESP: 2,
  }).on('error', onError);
  return {
    get isReady() {
      return cluster.isReady;
    },
    connect: () => cluster.connect(),
    send: (key, args, buffers) =>
      cluster.sendCommand(key, false, args, buffers ? { typeMapping: BUFFERS } : undefined),
    subscribe: (channel, listener) => cluster.subscribe(channel, listener),
    masters: () => Promise.all(cluster.masters.map(async (m) => clientDriver(await cluster.nodeClient(m)))),
    destroy: () => cluster.destroy(),
  };
}

/** The part of a node-redis client (standalone, or one node of a cluster) that clientDriver uses. */
interface NodeClient {
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  sendCommand(args: RedisArg[], options?: { typeMapping: typeof BUFFERS }): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<void>;
  destroy(): void;
}

function clientDriver(client: NodeClient): Driver {
  const self: Driver = {
    get isReady() {
      return client.isReady;
    },
    connect: () => client.connect(),
    send: (_key, args, buffers) => client.sendCommand(args, buffers ? { typeMapping: BUFFERS } : undefined),
    subscribe: (channel, listener) => client.subscribe(channel, listener),
    masters: () => Promise.resolve([self]),
    destroy: () => client.destroy(),
  };
  return self;
}
