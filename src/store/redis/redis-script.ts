import { createHash } from 'node:crypto';
import { ErrorReply } from 'redis';
import type { RedisArg, RedisConnection, RedisReply, SendOptions } from './redis-connection.js';

/**
 * A Lua script run by its SHA1 (EVALSHA), loaded with EVAL the first time a node does not know it.
 * Every key it touches is passed in KEYS, so that a cluster routes it by the first one and refuses
 * keys of different slots.
 */
export class RedisScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  run<T extends RedisReply>(
    redis: RedisConnection,
    keys: readonly string[],
    args: readonly RedisArg[],
    options?: SendOptions,
  ): Promise<T> {
    const command = callOf(keys.length);
    for (const key of keys) command.push(key);
    for (const arg of args) command.push(arg);
    return this.send<T>(redis, keys[0], command, options);
  }

  /**
   * Runs the script with `command` as callOf() began it, the keys and arguments pushed after: one
   * array built once, for calls with many arguments (batches). `routeKey` routes it in a cluster.
   */
  async send<T extends RedisReply>(
    redis: RedisConnection,
    routeKey: string | undefined,
    command: RedisArg[],
    options?: SendOptions,
  ): Promise<T> {
    command[0] = 'EVALSHA';
    command[1] = this.sha;
    try {
      return await redis.send<T>(routeKey, command, options);
    } catch (err) {
      if (!(err instanceof ErrorReply) || !err.message.startsWith('NOSCRIPT')) throw err;
      // The command was written already: its first two places can be changed.
      command[0] = 'EVAL';
      command[1] = this.source;
      return redis.send<T>(routeKey, command, options);
    }
  }
}

/** The beginning of a script call with `keys` keys: the script's send() fills in the first two places. */
export const callOf = (keys: number): RedisArg[] => ['', '', String(keys)];

/** Most items one batch call carries: a script blocks Redis while it runs, so batches stay short. */
export const MAX_BATCH = 64;

interface Waiter<R> {
  readonly resolve: (value: R) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Calls of one kind made within one turn of the event loop, sent to Redis together, as one script
 * call: concurrent decisions read and append for different customers at once, and each command costs
 * the client (encoding, a promise, a deadline timer, the reply's parsing) and Redis (a dispatch, a
 * reply) more than an item of a batch does. `send` answers each item, in order: its reply, or an
 * Error for that item alone; a failed call (Redis down, late) rejects every item of the batch.
 * `when` says when the items gathered so far go out: 'tick' after the promise jobs of the current
 * callback (what one Redis reply set off, e.g. the appends of the decisions whose profiles it
 * brought), 'immediate' after this turn's I/O callbacks (e.g. the reads of requests that arrived
 * together; node-redis writes in setImmediate as well).
 */
export class RedisBatch<I, R> {
  private items: I[] = [];
  private waiters: Waiter<R>[] = [];
  private scheduled = false;

  constructor(
    private readonly send: (items: readonly I[]) => Promise<readonly (R | Error)[]>,
    private readonly when: 'tick' | 'immediate',
  ) {}

  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.items.push(item);
      this.waiters.push({ resolve, reject });
      if (this.items.length >= MAX_BATCH) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        if (this.when === 'tick') process.nextTick(this.flush);
        else setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.items.length === 0) return;
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    let sent: Promise<readonly (R | Error)[]>;
    try {
      sent = this.send(items);
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      (replies) => {
        for (let i = 0; i < waiters.length; i++) {
          const reply = replies[i];
          if (reply instanceof Error) waiters[i]!.reject(reply);
          else if (reply === undefined) waiters[i]!.reject(new Error('no reply for a batched call'));
          else waiters[i]!.resolve(reply);
        }
      },
      (err: unknown) => {
        for (const w of waiters) w.reject(err);
      },
    );
  };
}
