import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import keySlot from 'cluster-key-slot';
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
  /** Each master's address (host:port) and a PING of it; one entry, '', for one node. */
  pings(): { readonly address: string; readonly ping: () => Promise<unknown> }[];
  /** The address of the master that serves `key` now; '' for one node, null if no master serves it. */
  masterOf(key: string): string | null;
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
  /**
   * Masters (host:port, '' for one node) that failed the last health check: calls for the keys they
   * serve fail at once, while the other masters go on serving theirs.
   */
  private readonly down = new Set<string>();
  /** When each master last answered a PING. */
  private readonly lastPong = new Map<string, number>();
  /** The subscriber was replaced and has not subscribed to every channel again yet. */
  private subscriptionsStale = false;
  /** Masters known at the last health check. */
  private masters = 0;
  /** A cluster client being built to replace a hung one; it takes over once connected. */
  private successor: Driver | null = null;
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

  /** Every part of Redis answers (on a cluster: every master). */
  get isUp(): boolean {
    return this.healthy && this.driver.isReady;
  }

  /** The masters (host:port) that failed the last health check (on one Redis: '' while it is down). */
  get mastersDown(): readonly string[] {
    return [...this.down];
  }

  /** `partial`: a cluster some of whose masters answer, so some customers are served from Redis. */
  get state(): 'up' | 'partial' | 'unavailable' {
    if (this.isUp) return 'up';
    return this.isCluster && this.down.size > 0 && this.down.size < this.masters ? 'partial' : 'unavailable';
  }

  /**
   * Whether a call for `key` would be sent: Redis is up or, on a cluster, the master serving the
   * key's slot is. A keyless call goes to any node.
   */
  reaches(key: string | undefined): boolean {
    if (this.healthy) return this.driver.isReady;
    if (!this.isCluster) return false;
    if (key === undefined) return true;
    const master = this.driver.masterOf(key);
    return master !== null && !this.down.has(master);
  }

  /** Sends one command, routed by `key` in a cluster. Rejects with RedisUnavailableError when Redis is down or late. */
  send<T extends RedisReply>(
    key: string | undefined,
    args: RedisArg[],
    options: SendOptions = {},
  ): Promise<T> {
    const observer = this.observer;
    if (!this.reaches(key)) {
      observer?.refused();
      return Promise.reject(new RedisUnavailableError(`Redis is unavailable`));
    }
    const ms = options.timeoutMs ?? this.config.timeoutMs;
    // One clock read serves the deadline and the latency metric.
    const startedAt = observer === null && ms <= 0 ? 0 : performance.now();
    const reply = this.driver.send(key, args, options.buffers ?? false) as Promise<T>;
    if (ms > 0) return withDeadline(reply, ms, args[0], observer, startedAt);
    const settled = reply.catch((err: unknown) => {
      throw unavailableUnlessAnswer(err);
    });
    if (observer !== null) {
      settled.then(
        () => observer.settled(startedAt, null),
        (err: unknown) => observer.settled(startedAt, err instanceof ErrorReply ? 'reply' : 'unavailable'),
      );
    }
    return settled;
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

  /**
   * The keys matching `pattern` on every master (SCAN, a page at a time), each page handed to
   * `visit` with that master's `send` for what to do with them. Off the request path.
   */
  async scan(
    pattern: string,
    visit: (keys: readonly string[], send: (args: RedisArg[]) => Promise<RedisReply>) => Promise<void>,
  ): Promise<void> {
    await this.eachMaster(async (send) => {
      let cursor = '0';
      do {
        const [next, found] = (await send(['SCAN', cursor, 'MATCH', pattern, 'COUNT', '1000'])) as [
          string,
          string[],
        ];
        cursor = next;
        if (found.length > 0) await visit(found, send);
      } while (cursor !== '0');
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.driver.destroy();
    this.subscriber?.destroy();
    this.successor?.destroy();
  }

  /**
   * Pings every master (the one node) separately, so that on a cluster a dead or hung master makes
   * only its own slots fail fast, not every call. The connection is `up` when all of them answer.
   */
  private async check(): Promise<void> {
    const ms = this.options.pingEveryMs;
    const masters = this.driver.pings();
    const answers = await Promise.all(
      masters.map(({ ping }) =>
        withDeadline(ping(), ms, 'PING').then(
          () => null,
          (err: unknown) => (err as Error).message,
        ),
      ),
    );
    if (this.closed) return;
    this.masters = masters.length;
    // A failover or a reshard retires addresses: forget them, so the map holds today's masters only.
    if (this.lastPong.size > masters.length)
      for (const address of this.lastPong.keys())
        if (!masters.some((m) => m.address === address)) this.lastPong.delete(address);
    const now = Date.now();
    let failure: string | null = masters.length === 0 ? 'no master known' : null;
    let hung = false;
    this.down.clear();
    for (let i = 0; i < masters.length; i++) {
      const { address } = masters[i]!;
      const error = answers[i];
      if (error === null) {
        this.lastPong.set(address, now);
        continue;
      }
      failure ??= error;
      this.down.add(address);
      const last = this.lastPong.get(address);
      if (last === undefined) this.lastPong.set(address, now);
      else if (now - last > this.options.hungAfterMs) hung = true;
    }
    if (failure === null) {
      // Subscribe again before saying `up`: listeners resynchronise on `up`, and must not miss
      // messages sent after they did.
      const resubscribed = this.subscriptionsStale && (await this.resubscribe());
      if (!this.healthy) {
        this.healthy = true;
        this.log.info({ redis: describe(this.config) }, 'Redis is back');
        this.emit('up');
      } else if (resubscribed) {
        this.emit('up');
      }
      return;
    }
    if (this.healthy) {
      this.healthy = false;
      const part = this.isCluster ? { mastersDown: [...this.down] } : {};
      this.log.warn({ redis: describe(this.config), ...part, err: failure }, 'Redis is unavailable');
      // A cluster's subscriber sits on one node, which may be the one lost: subscribe anew once all answer.
      if (this.isCluster) this.subscriptionsStale = this.channels.size > 0;
      this.emit('down');
    }
    if (hung) this.rebuild();
  }

  /**
   * A connection whose peer stopped answering (a hung process, a silent network) would wait for TCP
   * to time out, which takes minutes; replace it instead. node-redis reconnects a closed socket by
   * itself, but not one that is open and silent. Guarded by redis-outage.int.test.ts "SIGSTOP".
   */
  private rebuild(): void {
    for (const address of this.down) this.lastPong.set(address, Date.now());
    if (this.isCluster) {
      this.replaceCluster();
      return;
    }
    this.log.warn({ redis: describe(this.config) }, 'Redis connection hung: reconnecting');
    this.replaced++;
    const old = [this.driver, this.subscriber];
    this.driver = makeDriver(this.config, this.log);
    this.subscriber = null;
    for (const d of old) d?.destroy();
    this.driver.connect().catch(() => {});
    // Subscribing now would wait on the same silent Redis; the health check does it once Redis answers.
    this.subscriptionsStale = this.channels.size > 0;
  }

  /**
   * On a cluster the client in use still serves the masters that answer, so it is replaced only
   * once a new one has connected, which also learns the topology anew: node-redis rediscovers slots
   * on a MOVED or a reconnect, but a hung master answers neither, nor does the replica promoted in
   * its place get asked. While the hung master is still in the topology the new client cannot
   * connect; it is given up and tried again at the next check. Calls in flight on the old client
   * settle, or pass their deadline, before it is closed.
   */
  private replaceCluster(): void {
    if (this.successor !== null) return;
    const next = makeDriver(this.config, this.log);
    this.successor = next;
    withDeadline(next.connect(), this.options.hungAfterMs, 'connecting to the cluster').then(
      () => {
        this.successor = null;
        if (this.closed) return next.destroy();
        this.log.warn(
          { redis: describe(this.config) },
          'Redis Cluster: a master hung or died, topology read anew',
        );
        this.replaced++;
        const old = this.driver;
        this.driver = next;
        setTimeout(() => old.destroy(), 2 * this.config.timeoutMs + 1000).unref();
        this.subscriptionsStale ||= this.channels.size > 0;
      },
      (err: unknown) => {
        this.successor = null;
        next.destroy();
        this.log.debug({ err: (err as Error).message }, 'Redis Cluster: a new client could not connect yet');
      },
    );
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
        const failure = unavailableUnlessAnswer(err);
        observer?.settled(startedAt, failure instanceof ErrorReply ? 'reply' : 'unavailable');
        reject(failure);
      },
    );
  });
}

/**
 * Error replies that say the part of a cluster holding the key cannot serve it just now: a master
 * lost and not yet replaced (with cluster-require-full-coverage, every node says CLUSTERDOWN then),
 * a slot half migrated, a replica still loading.
 */
const NOT_SERVING_NOW = /^(CLUSTERDOWN|TRYAGAIN|MASTERDOWN|LOADING) /;

/**
 * An error reply is Redis answering (e.g. NOSCRIPT), kept as it is, unless it says Redis cannot
 * serve the key just now; that, and anything else, means Redis is not reachable: callers answer
 * degraded or spool, as for a timeout.
 */
function unavailableUnlessAnswer(err: unknown): Error {
  if (err instanceof ErrorReply && !NOT_SERVING_NOW.test(err.message)) return err;
  return err instanceof RedisUnavailableError ? err : new RedisUnavailableError((err as Error).message);
}

/**
 * A multi-key command (our scripts) whose slot is migrating while some of its keys have moved and
 * others not is answered TRYAGAIN; the migration moves a slot's keys in a few ms, so it is sent
 * again, within the caller's deadline (node-redis follows MOVED and ASK by itself).
 */
const MIGRATION_RETRIES = 5;
const MIGRATION_RETRY_MS = 10;

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
    send: function send(key, args, buffers, retries = MIGRATION_RETRIES): Promise<unknown> {
      const reply = cluster.sendCommand(key, false, args, buffers ? { typeMapping: BUFFERS } : undefined);
      return reply.catch((err: unknown) => {
        if (retries === 0 || !(err instanceof ErrorReply) || !err.message.startsWith('TRYAGAIN')) throw err;
        return sleep(MIGRATION_RETRY_MS).then(() => send(key, args, buffers, retries - 1));
      });
    },
    subscribe: (channel, listener) => cluster.subscribe(channel, listener),
    masters: () => Promise.all(cluster.masters.map(async (m) => clientDriver(await cluster.nodeClient(m)))),
    pings: () =>
      cluster.masters.map((m) => ({
        address: m.address,
        ping: () => cluster.nodeClient(m).then((client) => client.sendCommand(['PING'])),
      })),
    masterOf: (key) => cluster.slots[keySlot(key)]?.master.address ?? null,
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
    pings: () => [{ address: '', ping: () => client.sendCommand(['PING']) }],
    masterOf: () => '',
    destroy: () => client.destroy(),
  };
  return self;
}
