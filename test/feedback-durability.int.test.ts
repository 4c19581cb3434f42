import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisConnection, type RedisReply } from '../src/store/redis/redis-connection.js';
import { RedisKeys } from '../src/store/redis/redis-keys.js';
import { FIXTURE_RULES, testLog } from './helpers.js';
import { type RedisProcess, startRedis } from './support/redis.js';

// Zero loss, counted exactly: the compiled server as a child process, a real redis-server with AOF,
// concurrent HTTP senders of feedback batches, and a fault in the middle of the load. Afterwards the
// feedback entries in the log stream must be exactly the events the client was acknowledged
// (accepted or queued; plus those a retried batch found already recorded), each once.
//
// Faults are injected at points in the load (after so many acknowledgements), never asserted on time.

const SERVER_SCRIPT = fileURLToPath(new URL('../dist/src/main.js', import.meta.url));
const API_KEYS = 'agent-key=decide+feedback,admin-key=admin';
const HEADERS = { 'content-type': 'application/json', authorization: 'Bearer agent-key' };

/**
 * Concurrent feedback senders, and the rate (events/s) they share where a fault lasts seconds, so
 * that the pool of events lasts through it. Unpaced (Infinity), every sender always has a request in
 * flight: the way to be sure a stopped or killed server has some.
 */
const SENDERS = 12;
const PACED = 800;
const UNPACED = Number.POSITIVE_INFINITY;
/** Share of requests that carry a single event; the others carry 20–100. */
const SINGLE_SHARE = 0.2;
/** Concurrent decision requests while making the pool. */
const DECIDERS = 16;
/** Generous: a noisy 2-core VM runs the server, Redis and this client. */
const DEADLINE_MS = 60_000;
const SCENARIO_TIMEOUT_MS = 150_000;

// On Linux the kernel SIGKILLs the server when this worker dies, however it dies (as test/support/redis.ts does).
const WITH_DEATH_SIGNAL = process.platform === 'linux' && existsSync('/usr/bin/setpriv');
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

type EventType = 'impression' | 'click' | 'convert' | 'accept';
const TYPES: readonly EventType[] = ['impression', 'click', 'convert', 'accept'];

interface Ev {
  readonly eventId: string;
  readonly decisionId: string;
  readonly offerId: string;
  readonly customerId: string;
  readonly type: EventType;
  readonly value?: number;
}

interface Receipt {
  readonly accepted: number;
  readonly queued: number;
  readonly duplicates: number;
  readonly rejected: number;
  readonly results: readonly { eventId: string; status: string; reason?: string }[];
}

interface Health {
  readonly status?: string;
  readonly feedback?: {
    readonly mode: string;
    readonly spool: { readonly segments: number; readonly bytes: number; readonly openLines: number };
    readonly decisionsLost: number;
  };
}

/** Deterministic numbers, so that a failing run can be read again (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', resolve);
  });
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
async function until<T>(what: string, check: () => Promise<T | undefined>, ms = DEADLINE_MS): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not reached in ${ms} ms${last ? ` (last error: ${String(last)})` : ''}`);
    }
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// The server: `node dist/src/main.js`, as `npm start` runs it.

interface ServerProc {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly url: string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Last lines of output, for failure messages. */
  readonly tail: string[];
  /** pino lines at level error or worse. */
  readonly errors: string[];
}

function spawnServer(env: Record<string, string>, port: number): ChildProcess {
  // Only what we set: an OFFERLOOP_/REDIS_/FEEDBACK_ variable of the shell must not leak in.
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(OFFERLOOP_|REDIS_|FEEDBACK_)/.test(k)),
  );
  const options: SpawnOptions = {
    env: { ...base, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  };
  return WITH_DEATH_SIGNAL
    ? spawn('/usr/bin/setpriv', ['--pdeathsig', 'KILL', process.execPath, SERVER_SCRIPT], options)
    : spawn(process.execPath, [SERVER_SCRIPT], options);
}

async function startServer(env: Record<string, string>): Promise<ServerProc> {
  if (!existsSync(SERVER_SCRIPT)) {
    throw new Error(`${SERVER_SCRIPT} is missing: run \`npm run build\` before this test`);
  }
  const port = await freePort();
  const proc = spawnServer(env, port);
  children.add(proc);
  const tail: string[] = [];
  const errors: string[] = [];
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const gone = (code: number | null, signal: NodeJS.Signals | null) => {
      children.delete(proc);
      resolve({ code, signal });
    };
    proc.once('exit', gone);
    proc.once('error', () => gone(null, null));
  });
  const remember = (line: string) => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
  };
  createInterface({ input: proc.stderr! }).on('line', remember);
  // Read stdout to the end: a full pipe would block the server's logger.
  const ready = new Promise<void>((resolve) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      remember(line);
      let log: { level?: number; msg?: string };
      try {
        log = JSON.parse(line) as typeof log;
      } catch {
        return;
      }
      if ((log.level ?? 0) >= 50) errors.push(line.slice(0, 500));
      if (log.msg === 'offerloop ready') resolve();
    });
  });
  const outcome = await Promise.race([
    ready.then(() => 'ready' as const),
    exit.then(() => 'exited' as const),
    sleep(30_000, 'timeout' as const, { ref: false }),
  ]);
  if (outcome !== 'ready') {
    proc.kill('SIGKILL');
    await exit;
    throw new Error(
      `the server ${outcome === 'exited' ? 'exited' : 'was not ready in 30 s'}:\n${tail.join('\n')}`,
    );
  }
  return { proc, pid: proc.pid!, url: `http://127.0.0.1:${port}`, exit, tail, errors };
}

async function killServer(server: ServerProc): Promise<void> {
  if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill('SIGKILL');
  await server.exit;
}

async function health(server: ServerProc): Promise<Health> {
  const res = await fetch(`${server.url}/health/ready`);
  return (await res.json()) as Health;
}

// ---------------------------------------------------------------------------------------------
// One scenario's world: its own Redis (AOF on), prefix and spool dir, and the servers it started.

class World {
  readonly servers: ServerProc[] = [];
  readonly prefix = `dur-${randomUUID().slice(0, 8)}`;
  readonly keys = new RedisKeys(this.prefix);
  readonly log = this.keys.feedbackLog(0);

  private constructor(
    readonly redis: RedisProcess,
    readonly spoolDir: string,
    private readonly consumers: number,
  ) {}

  static async create(consumers: number): Promise<World> {
    const spoolDir = await mkdtemp(path.join(tmpdir(), 'offerloop-durability-spool-'));
    let redis: RedisProcess;
    try {
      // docker/redis.conf's setting, everysec: Redis writes the AOF before it replies, so what it
      // acknowledged survives the SIGKILL of its process (only a machine crash would need `always`).
      redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'everysec'] });
    } catch (err) {
      await rm(spoolDir, { recursive: true, force: true });
      throw err;
    }
    return new World(redis, spoolDir, consumers);
  }

  async startServer(): Promise<ServerProc> {
    const server = await startServer({
      REDIS_URL: this.redis.url,
      REDIS_PREFIX: this.prefix,
      OFFERLOOP_API_KEYS: API_KEYS,
      OFFERLOOP_RULES: FIXTURE_RULES,
      OFFERLOOP_WATCH_RULES: 'false',
      OFFERLOOP_LOG_LEVEL: 'info',
      FEEDBACK_SPOOL_DIR: this.spoolDir,
      FEEDBACK_CONSUMERS: String(this.consumers),
      // Durability, not overload: a 503 for a busy machine would only make the count unreadable.
      OFFERLOOP_MAX_EVENT_LOOP_DELAY_MS: '0',
    });
    this.servers.push(server);
    return server;
  }

  /** A connection of our own, for reading what the server wrote (not on its request path). */
  async withRedis<T>(fn: (redis: RedisConnection) => Promise<T>): Promise<T> {
    const redis = await RedisConnection.open(
      { url: this.redis.url, clusterNodes: [], prefix: this.prefix, timeoutMs: 10_000 },
      testLog,
    );
    try {
      return await fn(redis);
    } finally {
      redis.close();
    }
  }

  async dispose(): Promise<void> {
    for (const server of this.servers) await killServer(server);
    await this.redis.stop();
    await rm(this.spoolDir, { recursive: true, force: true });
  }
}

/** Runs one scenario in its own world and disposes of it, whatever happens. */
async function inWorld(consumers: number, body: (world: World) => Promise<void>): Promise<void> {
  const world = await World.create(consumers);
  try {
    await body(world);
  } finally {
    await world.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Decisions first: every shown offer of every decision gives four valid events
// (impression, click, convert, accept: no two alike, no conflict).

async function makeDecisions(
  world: World,
  server: ServerProc,
  count: number,
  seed: number,
): Promise<readonly Ev[]> {
  const pool: Ev[] = [];
  let next = 0;
  let eventSeq = 0;
  await Promise.all(
    Array.from({ length: DECIDERS }, async () => {
      while (next < count) {
        const n = next++;
        const customerId = `visitor-${n}`;
        const res = await fetch(`${server.url}/v1/decisions`, {
          method: 'POST',
          headers: HEADERS,
          body: JSON.stringify({ customerId, channel: 'web' }),
        });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`decision for ${customerId}: ${res.status} ${text}`);
        const decision = JSON.parse(text) as { decisionId: string; offers: { offerId: string }[] };
        for (const { offerId } of decision.offers) {
          for (const type of TYPES) {
            const seq = ++eventSeq;
            pool.push({
              eventId: `ev-${seq}`,
              decisionId: decision.decisionId,
              offerId,
              customerId,
              type,
              ...(type === 'convert' ? { value: 10 + (seq % 90) } : {}),
            });
          }
        }
      }
    }),
  );
  // Shuffled: the four events of an offer land in different batches, in any order.
  const random = rng(seed);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  // Every decision is in the stream (one `t=d` entry each) before any fault: the events need them.
  await world.withRedis((redis) =>
    until(`${count} decision entries in ${world.log}`, async () =>
      (await redis.send<number>(world.log, ['XLEN', world.log])) === count ? true : undefined,
    ),
  );
  return pool;
}

// ---------------------------------------------------------------------------------------------
// The load: SENDERS concurrent senders sharing one pacer, over fetch's keep-alive connections.

type PostOutcome =
  | { readonly ok: true; readonly receipt: Receipt }
  | { readonly ok: false; readonly error: string };

async function post(url: string, events: readonly Ev[]): Promise<PostOutcome> {
  try {
    const res = await fetch(`${url}/v1/feedback`, {
      method: 'POST',
      headers: HEADERS,
      body: JSON.stringify({ events }),
    });
    const text = await res.text();
    if (res.status !== 202) return { ok: false, error: `${res.status} ${text.slice(0, 300)}` };
    return { ok: true, receipt: JSON.parse(text) as Receipt };
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    return { ok: false, error: String(cause ?? err) };
  }
}

class Load {
  /** The last answer for each event that got one: accepted, queued or duplicate. */
  readonly status = new Map<string, string>();
  readonly counts = { requests: 0, answered: 0, failed: 0, sent: 0, accepted: 0, queued: 0, duplicates: 0 };
  /** Every event id sent at least once. */
  readonly sent = new Set<string>();
  /** Batches whose request got no 202 (connection error, or another status). */
  readonly unanswered: Ev[][] = [];
  /** Batches of several events that got a 202. */
  readonly answered: Ev[][] = [];
  /** Anything a valid event should never get: rejections, a duplicate on first send, a mismatch. */
  readonly unexpected: string[] = [];
  readonly failures: string[] = [];
  private readonly retried = new Set<string>();
  private readonly random: () => number;
  private next = 0;
  private nextAt = 0;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();

  private readonly url: string;
  private readonly rate: number;
  private readonly stopOnError: boolean;

  constructor(
    private readonly pool: readonly Ev[],
    options: {
      readonly url: string;
      /** Events per second over all senders. */
      readonly rate: number;
      /** Stop a sender at its first failed request (the server is going away). */
      readonly stopOnError: boolean;
      readonly seed: number;
    },
  ) {
    this.url = options.url;
    this.rate = options.rate;
    this.stopOnError = options.stopOnError;
    this.random = rng(options.seed);
  }

  start(): void {
    this.nextAt = performance.now();
    this.running = Promise.all(Array.from({ length: SENDERS }, () => this.sender())).then(() => undefined);
  }

  /** Asks the senders to stop after their current request; resolves when all have. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  /** Resolves when every sender has stopped (by stop(), errors, or an empty pool). */
  finished(): Promise<void> {
    return this.running;
  }

  get acked(): number {
    let n = 0;
    for (const s of this.status.values()) if (s === 'accepted' || s === 'queued') n++;
    return n;
  }

  /** Sends every unanswered batch again, each until it gets a 202 (a new server may still be starting). */
  async retryUnanswered(url: string): Promise<number> {
    const batches = this.unanswered.splice(0);
    let events = 0;
    for (const batch of batches) {
      for (const e of batch) this.retried.add(e.eventId);
      events += batch.length;
      const outcome = await until(`an answer to a retried batch of ${batch.length}`, async () => {
        const o = await post(url, batch);
        return o.ok ? o : undefined;
      });
      this.record(batch, outcome.receipt);
    }
    return events;
  }

  /** The event ids the stream must hold: acknowledged ones, and those a retry found recorded. */
  expectedInStream(): Set<string> {
    return new Set(this.status.keys());
  }

  private async sender(): Promise<void> {
    while (!this.stopped) {
      const size = this.random() < SINGLE_SHARE ? 1 : 20 + Math.floor(this.random() * 81);
      const batch = this.pool.slice(this.next, this.next + size);
      if (batch.length === 0) return;
      this.next += batch.length;
      await this.pace(batch.length);
      this.counts.requests++;
      this.counts.sent += batch.length;
      for (const e of batch) this.sent.add(e.eventId);
      const outcome = await post(this.url, batch);
      if (outcome.ok) {
        this.record(batch, outcome.receipt);
        continue;
      }
      this.counts.failed++;
      if (this.failures.length < 5) this.failures.push(outcome.error);
      this.unanswered.push(batch);
      if (this.stopOnError) return;
    }
  }

  private async pace(events: number): Promise<void> {
    if (this.rate === UNPACED) return;
    const now = performance.now();
    // After a stall (a hung Redis holds every sender) catch up only a little, not in one burst.
    this.nextAt = Math.max(this.nextAt, now - 250);
    const at = this.nextAt;
    this.nextAt += (events / this.rate) * 1000;
    if (at > now) await sleep(at - now);
  }

  private record(batch: readonly Ev[], receipt: Receipt): void {
    this.counts.answered++;
    if (batch.length > 1) this.answered.push([...batch]);
    if (receipt.results.length !== batch.length) {
      this.unexpected.push(`a receipt of ${receipt.results.length} results for ${batch.length} events`);
      return;
    }
    batch.forEach((e, i) => {
      const r = receipt.results[i]!;
      if (r.eventId !== e.eventId) {
        this.unexpected.push(`result ${i} is for ${r.eventId}, not ${e.eventId}`);
        return;
      }
      switch (r.status) {
        case 'accepted':
          this.counts.accepted++;
          break;
        case 'queued':
          this.counts.queued++;
          break;
        case 'duplicate':
          this.counts.duplicates++;
          // Only a retried event can have been recorded before: every event id and triple is new.
          if (!this.retried.has(e.eventId)) this.unexpected.push(`${e.eventId}: duplicate on its first send`);
          break;
        default:
          this.unexpected.push(`${e.eventId}: ${r.status} (${r.reason ?? ''})`);
          return;
      }
      this.status.set(e.eventId, r.status);
    });
  }
}

/** Waits until `reached` holds for the load's counts; fails at once when the load ends before. */
async function loadReaches(load: Load, what: string, reached: (c: Load['counts']) => boolean): Promise<void> {
  let ended = false;
  void load.finished().then(() => {
    ended = true;
  });
  const deadline = Date.now() + DEADLINE_MS;
  while (!reached(load.counts)) {
    if (ended)
      throw new Error(`${what}: the load ended first: ${JSON.stringify(load.counts)} ${load.failures}`);
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${DEADLINE_MS} ms`);
    await sleep(20);
  }
}

/** Waits until the load has had `n` acknowledgements (accepted or queued). */
function acksReach(load: Load, n: number, what: string): Promise<void> {
  return loadReaches(load, `${what}: ${n} acknowledgements`, (c) => c.accepted + c.queued >= n);
}

// ---------------------------------------------------------------------------------------------
// After recovery: the spool is empty and the log holds exactly what was acknowledged.

/** Until the server writes to Redis directly with nothing left in its spool (nor on disk). */
async function drained(world: World, server: ServerProc): Promise<Health> {
  let last: Health | null = null;
  try {
    return await until('spool replayed', async () => {
      last = await health(server);
      const fb = last.feedback;
      if (fb?.mode !== 'direct' || fb.spool.segments !== 0) return undefined;
      const files = (await readdir(world.spoolDir)).filter((n) => n.startsWith('seg-'));
      return files.length === 0 ? last : undefined;
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}; last health: ${JSON.stringify(last)}`);
  }
}

interface LogContents {
  /** Event ids of the `t=f` entries, in stream order (a repeated id appears twice). */
  readonly eventIds: readonly string[];
  readonly decisions: number;
  /** Entries of the stream of rejected replays, by status (`s` field), e.g. `{ conflict: 2 }`. */
  readonly rejected: Readonly<Record<string, number>>;
}

async function readLog(world: World): Promise<LogContents> {
  return world.withRedis(async (redis) => {
    const eventIds: string[] = [];
    let decisions = 0;
    let start = '-';
    const PAGE = 5000;
    for (;;) {
      const page = (await redis.send<RedisReply>(world.log, [
        'XRANGE',
        world.log,
        start,
        '+',
        'COUNT',
        String(PAGE),
      ])) as unknown as readonly (readonly [string, readonly string[]])[];
      for (const [, flat] of page) {
        const fields: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
        if (fields.t === 'd') decisions++;
        else if (fields.t === 'f')
          eventIds.push((JSON.parse(fields.e ?? '{}') as { eventId: string }).eventId);
        else throw new Error(`a log entry of unknown type: ${JSON.stringify(fields)}`);
      }
      if (page.length < PAGE) break;
      start = `(${page.at(-1)![0]}`;
    }
    const rejectedKey = world.keys.feedbackRejected(0);
    const rejected: Record<string, number> = {};
    const entries = (await redis.send<RedisReply>(rejectedKey, [
      'XRANGE',
      rejectedKey,
      '-',
      '+',
    ])) as unknown as readonly (readonly [string, readonly string[]])[];
    for (const [, flat] of entries) {
      const status = flat[flat.indexOf('s') + 1] ?? '?';
      rejected[status] = (rejected[status] ?? 0) + 1;
    }
    return { eventIds, decisions, rejected };
  });
}

/**
 * The exact checks every scenario ends with, after its figures are printed (also when they fail).
 * `decisions`: the `t=d` entries the log must hold, one per decision made.
 */
async function expectExactlyAcknowledged(
  world: World,
  load: Load,
  decisions: number,
  line: { readonly name: string; readonly started: number; readonly extra?: string },
): Promise<void> {
  const log = await readLog(world);
  report(line.name, load, log, line.started, line.extra ?? '');
  const expected = load.expectedInStream();
  const seen = new Set<string>();
  const twice: string[] = [];
  for (const id of log.eventIds) {
    if (seen.has(id)) twice.push(id);
    seen.add(id);
  }
  const missing = [...expected].filter((id) => !seen.has(id));
  const extra = [...seen].filter((id) => !expected.has(id));
  const unknownToClient = extra.filter((id) => !load.sent.has(id));
  expect({
    unexpectedAnswers: load.unexpected.slice(0, 10),
    missingFromStream: missing.length,
    firstMissing: missing.slice(0, 10),
    notAcknowledgedButInStream: extra.length,
    firstNotAcknowledged: extra.slice(0, 10),
    unknownToClient: unknownToClient.length,
    inStreamTwice: twice.length,
    firstTwice: twice.slice(0, 10),
    decisionEntries: log.decisions,
  }).toEqual({
    unexpectedAnswers: [],
    missingFromStream: 0,
    firstMissing: [],
    notAcknowledgedButInStream: 0,
    firstNotAcknowledged: [],
    unknownToClient: 0,
    inStreamTwice: 0,
    firstTwice: [],
    decisionEntries: decisions,
  });
  expect(log.eventIds.length).toBe(expected.size);
  // Every replayed event is valid (or already recorded: a duplicate, which is the replay being
  // idempotent, not an invalid event), so nothing belongs in the stream of rejected replays. Soft:
  // the scenario's other checks still run and report.
  expect.soft(log.rejected, 'entries of the rejected-replays stream, by status').toEqual({});
}

function report(name: string, load: Load, log: LogContents, started: number, extra: string): void {
  const c = load.counts;
  const rejected =
    Object.keys(log.rejected).length > 0 ? `; rejected replays ${JSON.stringify(log.rejected)}` : '';
  console.log(
    `[feedback-durability] ${name}: ${c.sent} events sent in ${c.requests} requests ` +
      `(${c.failed} unanswered); acked ${load.acked} (accepted ${c.accepted}, queued ${c.queued}), ` +
      `duplicates on retry ${c.duplicates}; in stream ${log.eventIds.length}${rejected}${extra}; ` +
      `${load.failures.length > 0 ? `first failures: ${load.failures.slice(0, 2).join(' | ')}; ` : ''}` +
      `${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

// ---------------------------------------------------------------------------------------------
// Counters: the consumer group has applied every entry, and what the accepts add up to.

async function consumerCaughtUp(world: World): Promise<void> {
  await world.withRedis((redis) =>
    until('the consumer group caught up', async () => {
      const last = (await redis.send<RedisReply>(world.log, [
        'XREVRANGE',
        world.log,
        '+',
        '-',
        'COUNT',
        '1',
      ])) as unknown as readonly (readonly [string, unknown])[];
      const groups = (await redis.send<RedisReply>(world.log, [
        'XINFO',
        'GROUPS',
        world.log,
      ])) as unknown as readonly (readonly RedisReply[])[];
      for (const g of groups) {
        const info = new Map<string, RedisReply>();
        for (let i = 0; i + 1 < g.length; i += 2) info.set(String(g[i]), g[i + 1]!);
        if (info.get('name') !== 'offerloop') continue;
        return info.get('pending') === 0 && info.get('last-delivered-id') === last[0]?.[0] ? true : undefined;
      }
      return undefined;
    }),
  );
}

/** Every counter of the shard: `key field` → value. */
async function counters(world: World): Promise<Map<string, string>> {
  return world.withRedis(async (redis) => {
    const out = new Map<string, string>();
    const pattern = `${world.prefix}:fb:{0}:stats:*`;
    const keys = (await redis.send<RedisReply>(undefined, ['KEYS', pattern])) as unknown as string[];
    for (const key of keys.sort()) {
      const flat = (await redis.send<RedisReply>(key, ['HGETALL', key])) as unknown as string[];
      for (let i = 0; i + 1 < flat.length; i += 2) out.set(`${key} ${flat[i]}`, flat[i + 1]!);
    }
    return out;
  });
}

function sumOf(snapshot: Map<string, string>, metric: string): number {
  let sum = 0;
  for (const [field, value] of snapshot) if (field.endsWith(`|${metric}`)) sum += Number(value);
  return sum;
}

// ---------------------------------------------------------------------------------------------

beforeAll(() => {
  // Fail, not skip: this test is about the program `npm start` runs.
  if (!existsSync(SERVER_SCRIPT)) {
    throw new Error(`${SERVER_SCRIPT} is missing: run \`npm run build\` before this test`);
  }
});

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

describe('feedback durability: every acknowledged event is in the log exactly once', () => {
  /**
   * Paced load on one server while Redis fails and comes back: the spool takes what Redis cannot,
   * and the replay adds it. `fault` injects the failure and returns once Redis is back.
   */
  async function underRedisFault(
    name: string,
    scenario: { decisions: number; seed: number; fault: (world: World) => Promise<void> },
  ): Promise<void> {
    const started = performance.now();
    await inWorld(0, async (world) => {
      const server = await world.startServer();
      const pool = await makeDecisions(world, server, scenario.decisions, scenario.seed - 10);
      const load = new Load(pool, { url: server.url, rate: PACED, stopOnError: false, seed: scenario.seed });
      load.start();
      try {
        await acksReach(load, 1000, 'before the fault');
        await scenario.fault(world);
        // Load goes on through the replay and a little after it.
        await drained(world, server);
        await sleep(1500);
      } finally {
        await load.stop();
      }
      const final = await drained(world, server);
      await expectExactlyAcknowledged(world, load, scenario.decisions, { name, started });
      expect(load.failures).toEqual([]);
      expect(load.counts.queued).toBeGreaterThan(0);
      expect(final.feedback?.decisionsLost).toBe(0);
    });
  }

  it(
    '(a) Redis SIGKILLed under load and restarted 10 s later: the spool takes over, the replay adds the rest',
    () =>
      underRedisFault('(a) Redis SIGKILL, back after 10 s', {
        decisions: 3500,
        seed: 11,
        fault: async (world) => {
          await world.redis.kill();
          await sleep(10_000);
          await world.redis.start();
        },
      }),
    SCENARIO_TIMEOUT_MS,
  );

  it(
    '(b) Redis hung (SIGSTOP) for 5 s: late writes go to the spool, and the replay does not count twice what reached Redis',
    () =>
      underRedisFault('(b) Redis SIGSTOP for 5 s', {
        decisions: 2500,
        seed: 12,
        fault: async (world) => {
          world.redis.pause();
          try {
            await sleep(5000);
          } finally {
            world.redis.resume();
          }
        },
      }),
    SCENARIO_TIMEOUT_MS,
  );

  it(
    '(c) the server gets SIGTERM under load: exits 0 with every answered event durable; counters count each accept once',
    async () => {
      const started = performance.now();
      await inWorld(1, async (world) => {
        const first = await world.startServer();
        const decisions = 2000;
        const pool = await makeDecisions(world, first, decisions, 3);
        const load = new Load(pool, { url: first.url, rate: UNPACED, stopOnError: true, seed: 13 });
        let exitedWith: number | string | null = null;
        load.start();
        try {
          await acksReach(load, 1500, 'before SIGTERM');
          first.proc.kill('SIGTERM');
          const exited = await first.exit;
          // Soft: should the stop fail, what it acknowledged must still all be there (checked below).
          expect
            .soft(exited, `exit of the SIGTERMed server; its last output:\n${first.tail.join('\n')}`)
            .toEqual({ code: 0, signal: null });
          exitedWith = exited.code ?? exited.signal;
          // Senders stop at their first connection error (or 503 while closing).
          await load.finished();
        } finally {
          await load.stop();
        }
        const unansweredEvents = load.unanswered.reduce((n, b) => n + b.length, 0);

        // A new server on the same spool dir replays whatever the first one left there.
        const second = await world.startServer();
        const final = await drained(world, second);
        // Strict here: a graceful stop answers what it recorded, so no retry and nothing extra.
        await expectExactlyAcknowledged(world, load, decisions, {
          name: '(c) server SIGTERM, new server on the same spool',
          started,
          extra: `; unanswered events ${unansweredEvents} (not retried); first server exited with ${exitedWith}`,
        });
        expect(final.feedback?.decisionsLost).toBe(0);

        await consumerCaughtUp(world);
        const before = await counters(world);
        const typeOf = new Map(pool.map((e) => [e.eventId, e.type]));
        const acceptsAcked = [...load.status.entries()].filter(
          ([id, s]) => (s === 'accepted' || s === 'queued') && typeOf.get(id) === 'accept',
        ).length;
        expect(sumOf(before, 'accepts')).toBe(acceptsAcked);

        // The same batch again: every event a duplicate, nothing appended, no counter moves.
        const batch = load.answered.find((b) => b.length >= 20)!;
        expect(batch).toBeDefined();
        const lengthBefore = (await readLog(world)).eventIds.length;
        const again = await post(second.url, batch);
        expect(again.ok && again.receipt.duplicates).toBe(batch.length);
        expect((await readLog(world)).eventIds.length).toBe(lengthBefore);
        await consumerCaughtUp(world);
        expect(await counters(world)).toEqual(before);
        console.log(
          `[feedback-durability] (c) counters: accepts ${sumOf(before, 'accepts')} = acked accepts ` +
            `${acceptsAcked}; a batch of ${batch.length} sent again: all duplicates, no counter changed`,
        );
      });
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    '(d) the server is SIGKILLed while Redis is down: a new server replays its orphaned spool',
    async () => {
      const started = performance.now();
      await inWorld(0, async (world) => {
        const first = await world.startServer();
        const decisions = 2000;
        const pool = await makeDecisions(world, first, decisions, 4);
        const load = new Load(pool, { url: first.url, rate: UNPACED, stopOnError: true, seed: 14 });
        load.start();
        let queuedAtKill = 0;
        try {
          await acksReach(load, 1000, 'before Redis goes');
          await world.redis.kill();
          await loadReaches(load, '1000 events queued in the spool', (c) => c.queued >= 1000);
          queuedAtKill = load.counts.queued;
          await killServer(first);
          await load.finished();
        } finally {
          await load.stop();
        }
        expect(queuedAtKill).toBeGreaterThan(0);
        // Whatever the first server left on disk is an orphaned segment of a dead process.
        const orphans = (await readdir(world.spoolDir)).filter((n) => n.startsWith('seg-'));
        expect(orphans.length).toBeGreaterThan(0);

        await world.redis.start();
        const second = await world.startServer();
        // Batches whose answer never came are sent again; some were recorded (a duplicate now).
        const retriedEvents = await load.retryUnanswered(second.url);
        const final = await drained(world, second);
        await expectExactlyAcknowledged(world, load, decisions, {
          name: '(d) server SIGKILL while Redis down, replay by a new server',
          started,
          extra: `; queued when killed ${queuedAtKill}; orphaned segments ${orphans.length}; retried events ${retriedEvents}`,
        });
        expect(final.feedback?.decisionsLost).toBe(0);
      });
    },
    SCENARIO_TIMEOUT_MS,
  );
});
