// Channels benchmark (issue 5): the call center's push path, WebSocket connections and website banners.
// Run: npm run bench:channels (about 3 minutes)
//  1. Connections: opens BENCH_WS_CONNECTIONS (10,000) WebSocket sessions to /v1/ws in four steps, each
//     subscribed to its own agent (`agent-<n>`), and reads the server's memory (VmRSS of the child,
//     from /proc) before the first and after each step, 2 s after the step (settle). Bytes per
//     connection is the slope of RSS over connections (least squares, and per step: roughly equal
//     steps mean memory per connection is flat). Then every session must answer a `ping`.
//  2. Push latency: with BENCH_PUSH_SESSIONS (1,000) of those sessions left open, sends BENCH_PUSH_EVENTS
//     (2,000) `call.started` events for random agents and distinct known customers to
//     POST /v1/interactions/calls at BENCH_PUSH_RATE (200/s, open loop) and measures, per event, the
//     time from just before the request is sent to the moment the agent's client reads the pushed
//     `{"type":"call",…}` message; and the HTTP round trip of the same request. For information the
//     same at 10,000 sessions, before the other 9,000 are closed, for one heartbeat interval and 2 s
//     (6,400 events), so that the run sees the server ping every session once.
//  3. Banners: GET /v1/banners/home-hero?customerId=…&key=… with autocannon against the bare Fastify
//     hello server's GET route (bench/hello-server.ts) at the same URLs, side by side in rounds.
// Targets: push p99 < 10 ms (1,000 sessions); 10,000 connections held, memory per connection flat,
// all answering; banner req/s ≥ 0.60 × hello's.
// Our server runs as a child process (embedded store, the example rules in rules/, a generated demo
// population of BENCH_CUSTOMERS); the WebSocket clients and autocannon run in this process.
// Prints tables and one JSON line ({"bench":"channels",…}); also writes bench/results/channels.json.
// Exits 1 when a request or connection failed, a push was lost or the server logged an error.
// Knobs (env): BENCH_CUSTOMERS (100000), BENCH_WS_CONNECTIONS (10000), BENCH_WS_OPEN_CONCURRENCY (100),
// BENCH_PING_SAMPLE (sessions pinged at the end, all), BENCH_PUSH_SESSIONS (1000), BENCH_PUSH_EVENTS
// (2000), BENCH_PUSH_WARMUP (events not counted, 200), BENCH_PUSH_RATE (events/s, 200),
// BENCH_PUSH_EVENTS_AT_MAX (see 2.; 0 skips that run), BENCH_WS_HEARTBEAT_MS (30000, the server's
// default), BENCH_DURATION (s per banner run, 6), BENCH_ROUNDS (5), BENCH_CONNECTIONS (autocannon, 50),
// BENCH_WARMUP (s, 3), BENCH_CPU_PROF=DIR (profile our server with node --cpu-prof).

import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import type { RawData, WebSocket } from 'ws';
import { Rng } from '../src/sim/random.js';
import {
  API_KEY,
  CPU_PROF_DIR,
  closeSocket,
  cpuMeter,
  envNumber,
  HELLO_SCRIPT,
  type HttpAnswer,
  httpCall,
  httpKnobs,
  latencySummary,
  machine,
  median,
  openSocket,
  publishResult,
  REPO_ROOT,
  round,
  runBench,
  SERVER_SCRIPT,
  type Server,
  startServer,
  stopServer,
  superviseChildren,
  tableRow,
} from './support.js';

/** A whole number ≥ 0 from the environment (0 skips what it counts), or the default. */
function envCount(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number ≥ 0, got '${raw}'`);
  return n;
}

const { DURATION, ROUNDS, CONNECTIONS, WARMUP } = httpKnobs({ rounds: 5, warmup: 3 });
const CUSTOMERS = Math.floor(envNumber('BENCH_CUSTOMERS', 100_000));
const WS_CONNECTIONS = Math.floor(envNumber('BENCH_WS_CONNECTIONS', 10_000));
const WS_STEPS = 4;
const OPEN_CONCURRENCY = Math.floor(envNumber('BENCH_WS_OPEN_CONCURRENCY', 100));
const PING_SAMPLE = Math.min(WS_CONNECTIONS, Math.floor(envNumber('BENCH_PING_SAMPLE', WS_CONNECTIONS)));
const PUSH_SESSIONS = Math.min(WS_CONNECTIONS, Math.floor(envNumber('BENCH_PUSH_SESSIONS', 1_000)));
const PUSH_EVENTS = Math.floor(envNumber('BENCH_PUSH_EVENTS', 2_000));
const PUSH_WARMUP = envCount('BENCH_PUSH_WARMUP', 200);
const PUSH_RATE = envNumber('BENCH_PUSH_RATE', 200);
/** The server's heartbeat (OFFERLOOP_WS_HEARTBEAT_MS; the server's default unless set). */
const HEARTBEAT_MS = envNumber('BENCH_WS_HEARTBEAT_MS', 30_000);
/** By default the run with every session open lasts one heartbeat and 2 s, so that it sees a heartbeat. */
const PUSH_EVENTS_AT_MAX = envCount(
  'BENCH_PUSH_EVENTS_AT_MAX',
  Math.ceil((HEARTBEAT_MS / 1000 + 2) * PUSH_RATE),
);
const RULES = path.join(REPO_ROOT, 'rules');
const PLACEMENT = 'home-hero';
/** The public key a website embeds (banner scope only); the WebSocket clients and CTI use API_KEY. */
const BANNER_KEY = 'bench-pk';
/** Wait after each step before reading the server's memory. */
const SETTLE_MS = 2_000;
/** A push not read by then counts as lost. */
const PUSH_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** Banner URLs per autocannon connection (each connection cycles through its own slice). */
const PATHS_PER_SLICE = 500;

const TARGET_PUSH_P99_MS = 10;
const TARGET_RATIO = 0.6;
/** "Flat": no step of the connections costs more than this many times another step, per connection. */
const FLAT_STEP_SPREAD = 2;

superviseChildren('channels bench');

const say = (text: string) => process.stderr.write(`channels bench: ${text}\n`);

// ---------------------------------------------------------------------------------------------
// Customers: one seeded permutation of cust-1…cust-N. Call events take distinct customers from the
// front (the example rules pitch a customer by phone at most once a week), banners take the rest.

function shuffledCustomers(n: number): Int32Array {
  const rng = new Rng('42', 'channels-customers');
  const xs = Int32Array.from({ length: n }, (_, i) => i + 1);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    const t = xs[i]!;
    xs[i] = xs[j]!;
    xs[j] = t;
  }
  return xs;
}

// ---------------------------------------------------------------------------------------------
// The server's memory and sockets, from /proc.

interface ServerMemory {
  readonly connections: number;
  readonly rssKb: number;
  readonly rssAnonKb: number;
  readonly hwmKb: number;
  /** Open file descriptors of the server: its sockets, to see that the connections are really held. */
  readonly fds: number;
  /** This process (the clients), for context. */
  readonly clientRssKb: number;
  readonly clientHeapUsedKb: number;
}

function serverMemory(pid: number, connections: number): ServerMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const own = process.memoryUsage();
  return {
    connections,
    rssKb: kb('VmRSS'),
    rssAnonKb: kb('RssAnon'),
    hwmKb: kb('VmHWM'),
    fds: readdirSync(`/proc/${pid}/fd`).length,
    clientRssKb: Math.round(own.rss / 1024),
    clientHeapUsedKb: Math.round(own.heapUsed / 1024),
  };
}

/** Soft limit of open files of this process (the clients hold one socket each). */
function openFileLimit(): number {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
  return soft === undefined || soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
}

/** Least-squares slope of y over x. */
function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return num / den;
}

/** User and system CPU time of a process so far in ms, from /proc (USER_HZ 100); null if unreadable. */
function userSysMs(pid: number): { user: number; sys: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) * 10, sys: Number(fields[12]) * 10 };
  } catch {
    return null;
  }
}

/** Server CPU split into user (JS, GC, parsing) and system (the kernel: sockets) time, per unit of work. */
function userSysMeter(pid: number): { stop(units: number): { userUs: number; sysUs: number } | null } {
  const start = userSysMs(pid);
  return {
    stop(units) {
      const end = userSysMs(pid);
      if (start === null || end === null || units <= 0) return null;
      return {
        userUs: round(((end.user - start.user) * 1000) / units, 1),
        sysUs: round(((end.sys - start.sys) * 1000) / units, 1),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// WebSocket clients: an agent desktop each, subscribed to its agent.

interface ServerMessage {
  readonly type?: string;
  readonly id?: string | null;
  readonly result?: unknown;
  readonly error?: { readonly code: string; readonly message: string };
  readonly event?: string;
  readonly callId?: string;
  readonly agentId?: string;
  readonly customerKnown?: boolean;
  readonly decision?: { readonly offers?: readonly unknown[] };
}

interface Answer {
  readonly message: ServerMessage;
  /** Send to answer, ms. */
  readonly ms: number;
}

interface Waiter {
  readonly sentAt: number;
  readonly resolve: (answer: Answer) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

type PushHandler = (client: AgentClient, message: ServerMessage, at: number, bytes: number) => void;

/** Closes the server did not announce to us (we closed nothing) and socket errors after the open. */
const socketTrouble = { unexpectedCloses: 0, closeCodes: new Map<number, number>(), errors: 0 };

class AgentClient {
  private readonly waiters = new Map<string, Waiter>();
  private seq = 0;
  private closing = false;

  private constructor(
    readonly ws: WebSocket,
    readonly agentId: string,
    onPush: PushHandler,
  ) {
    ws.on('message', (data: RawData) => {
      // The moment the client reads the message: before anything else is done with it.
      const at = performance.now();
      const text = data.toString();
      const message = JSON.parse(text) as ServerMessage;
      if (message.type === 'call') {
        onPush(this, message, at, text.length);
        return;
      }
      const waiter = typeof message.id === 'string' ? this.waiters.get(message.id) : undefined;
      if (waiter === undefined) return;
      this.waiters.delete(message.id!);
      clearTimeout(waiter.timer);
      waiter.resolve({ message, ms: at - waiter.sentAt });
    });
    ws.on('error', () => {
      socketTrouble.errors++;
    });
    ws.on('close', (code: number) => {
      if (!this.closing) {
        socketTrouble.unexpectedCloses++;
        socketTrouble.closeCodes.set(code, (socketTrouble.closeCodes.get(code) ?? 0) + 1);
      }
      for (const [, w] of this.waiters) {
        clearTimeout(w.timer);
        w.reject(new Error(`socket closed (${code})`));
      }
      this.waiters.clear();
    });
  }

  /** Connects with the key in the Authorization header, as server-side clients do (docs/channels.md). */
  static async open(url: string, agentId: string, onPush: PushHandler): Promise<AgentClient> {
    return new AgentClient(await openSocket(url, REQUEST_TIMEOUT_MS), agentId, onPush);
  }

  /** Sends a request (its `id` is chosen here unless given) and resolves with the answer. */
  request(message: { readonly type: string; readonly id?: string; readonly [field: string]: unknown }) {
    const id = message.id ?? `r${++this.seq}`;
    return new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`no answer to ${message.type} in ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.waiters.set(id, { sentAt: performance.now(), resolve, reject, timer });
      this.ws.send(JSON.stringify({ ...message, id }));
    });
  }

  /** Subscribes to this client's agent: {"type":"subscribe","id":"s","agentId":…} (docs/channels.md). */
  async subscribe(): Promise<void> {
    const { message } = await this.request({ type: 'subscribe', id: 's', agentId: this.agentId });
    const topic = (message.result as { topic?: unknown } | undefined)?.topic;
    if (message.type !== 'result' || topic !== `agent:${this.agentId}`) {
      throw new Error(`subscribe answered ${JSON.stringify(message)}`);
    }
  }

  close(): Promise<void> {
    this.closing = true;
    return closeSocket(this.ws);
  }
}

/** Runs `task` for each index in [from, to) with at most `concurrency` at a time. */
async function forEachConcurrently(
  from: number,
  to: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = from;
  const worker = async () => {
    while (next < to) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(0, to - from)) }, worker));
}

// ---------------------------------------------------------------------------------------------
// Pushes: which call each client waits for, and when it was read.

interface Expected {
  readonly agentId: string;
  readonly resolve: (at: number) => void;
}

const expected = new Map<string, Expected>();
const pushTrouble = { unexpected: 0, wrongAgent: 0, notCallStarted: 0 };
let pushBytes = 0;

const onPush: PushHandler = (client, message, at, bytes) => {
  const wanted = message.callId === undefined ? undefined : expected.get(message.callId);
  if (wanted === undefined) {
    pushTrouble.unexpected++;
    return;
  }
  if (wanted.agentId !== client.agentId || message.agentId !== client.agentId) {
    pushTrouble.wrongAgent++;
    return;
  }
  if (message.event !== 'call.started') pushTrouble.notCallStarted++;
  expected.delete(message.callId!);
  pushBytes = bytes;
  wanted.resolve(at);
};

interface CallAnswer {
  readonly sessions?: number;
  readonly customerKnown?: boolean;
  readonly offers?: readonly string[];
}

interface EventFigures {
  readonly httpMs: number | null;
  readonly pushMs: number | null;
  readonly status: number;
  readonly sessions: number;
  readonly known: boolean;
  readonly offers: number;
  readonly pushBeforeAnswer: boolean;
  /** When it was sent, ms after the run started. */
  readonly sentMs: number;
}

interface PushRunFigures {
  readonly label: string;
  readonly sessionsOpen: number;
  readonly events: number;
  /**
   * About how long the server had been up when the run started (its ready line's readyInMs, then
   * our clock): its heartbeat ticks every HEARTBEAT_MS from its start, so slow clusters can be matched.
   */
  readonly serverUpAtStartS: number;
  readonly rateAsked: number;
  readonly rateGot: number;
  readonly maxInFlight: number;
  readonly push: ReturnType<typeof latencySummary>;
  readonly http: ReturnType<typeof latencySummary>;
  readonly pushesLost: number;
  /** Pushes read later than the target (TARGET_PUSH_P99_MS) after the request was sent. */
  readonly pushesOverTarget: number;
  /** When those were sent (s into the run), as clusters: events less than 1 s apart are one cluster. */
  readonly slowClusters: readonly { readonly fromS: number; readonly toS: number; readonly events: number }[];
  readonly failed: number;
  readonly sessionsNotOne: number;
  readonly unknownCustomers: number;
  readonly emptyOfferShare: number;
  readonly offersPerEvent: number;
  readonly pushBeforeAnswerShare: number;
  readonly pushBytes: number;
  readonly serverCpuPct: number | null;
  readonly serverCpuUsPerEvent: number | null;
  readonly serverUserSysUsPerEvent: { userUs: number; sysUs: number } | null;
  readonly loadgenCpuPct: number;
}

/** Groups ascending times (ms) into clusters whose members are less than a second apart. */
function clusters(times: readonly number[]): PushRunFigures['slowClusters'] {
  const out: { fromS: number; toS: number; events: number }[] = [];
  let last = Number.NEGATIVE_INFINITY;
  for (const ms of times) {
    const current = out[out.length - 1];
    if (current !== undefined && ms - last < 1000) {
      current.toS = round(ms / 1000, 2);
      current.events++;
    } else out.push({ fromS: round(ms / 1000, 2), toS: round(ms / 1000, 2), events: 1 });
    last = ms;
  }
  return out;
}

class CallSender {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly rng = new Rng('42', 'channels-agents');
  private nextCustomer = 0;
  private inFlight = 0;
  maxInFlight = 0;

  constructor(
    private readonly base: URL,
    private readonly customers: Int32Array,
  ) {}

  /** One call.started for a random agent among the first `agents` and the next unused customer. */
  async one(label: string, i: number, agents: number, runStart: number): Promise<EventFigures> {
    const agentId = `agent-${this.rng.int(1, agents)}`;
    const customer = this.customers[this.nextCustomer++ % this.customers.length]!;
    const callId = `c-${label}-${i}`;
    const body = JSON.stringify({ type: 'call.started', callId, agentId, customerId: `cust-${customer}` });
    let pushedAt: number | null = null;
    const pushed = new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), PUSH_TIMEOUT_MS);
      expected.set(callId, {
        agentId,
        resolve: (at) => {
          clearTimeout(timer);
          pushedAt = at;
          resolve(at);
        },
      });
    });
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    const t0 = performance.now();
    let answer: HttpAnswer | null = null;
    try {
      answer = await httpCall(this.base, 'POST', '/v1/interactions/calls', {
        agent: this.agent,
        timeoutMs: REQUEST_TIMEOUT_MS,
        body,
      });
    } catch (err) {
      say(`${callId}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const pushBeforeAnswer = pushedAt !== null;
    const at = await pushed;
    this.inFlight--;
    expected.delete(callId);
    let json: CallAnswer = {};
    if (answer?.status === 200) json = JSON.parse(answer.text) as CallAnswer;
    else if (answer !== null) say(`${callId}: ${answer.status} ${answer.text.slice(0, 300)}`);
    return {
      httpMs: answer === null ? null : answer.at - t0,
      pushMs: at === null ? null : at - t0,
      status: answer?.status ?? 0,
      sessions: json.sessions ?? -1,
      known: json.customerKnown === true,
      offers: json.offers?.length ?? 0,
      pushBeforeAnswer,
      sentMs: t0 - runStart,
    };
  }

  /** `events` events at `rate` per second, open loop: each is sent at its time, whatever is in flight. */
  async run(
    server: Server,
    readyAt: number,
    label: string,
    events: number,
    agents: number,
  ): Promise<PushRunFigures> {
    if (PUSH_WARMUP > 0) {
      for (let i = 0; i < PUSH_WARMUP; i++) await this.one(`${label}-warm`, i, agents, 0);
    }
    this.maxInFlight = 0;
    const meter = cpuMeter(server.pid);
    const split = userSysMeter(server.pid);
    const started = performance.now();
    const all: Promise<EventFigures>[] = [];
    for (let i = 0; i < events; i++) {
      const due = started + (i * 1000) / PUSH_RATE;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      all.push(this.one(label, i, agents, started));
    }
    const figures = await Promise.all(all);
    const elapsed = performance.now() - started;
    const cpu = meter.stop();
    const userSys = split.stop(events);
    const ok = figures.filter((f) => f.status === 200);
    const pushTimes = figures.flatMap((f) => (f.pushMs === null ? [] : [f.pushMs]));
    const httpTimes = ok.flatMap((f) => (f.httpMs === null ? [] : [f.httpMs]));
    return {
      label,
      sessionsOpen: agents,
      events,
      serverUpAtStartS: round(((server.readyInMs ?? 0) + started - readyAt) / 1000, 1),
      rateAsked: PUSH_RATE,
      rateGot: round(events / (elapsed / 1000), 1),
      maxInFlight: this.maxInFlight,
      push: latencySummary(pushTimes),
      http: latencySummary(httpTimes),
      pushesLost: figures.filter((f) => f.pushMs === null).length,
      pushesOverTarget: pushTimes.filter((ms) => ms >= TARGET_PUSH_P99_MS).length,
      slowClusters: clusters(
        figures.filter((f) => f.pushMs !== null && f.pushMs >= TARGET_PUSH_P99_MS).map((f) => f.sentMs),
      ),
      failed: figures.length - ok.length,
      sessionsNotOne: ok.filter((f) => f.sessions !== 1).length,
      unknownCustomers: ok.filter((f) => !f.known).length,
      emptyOfferShare: round(ok.filter((f) => f.offers === 0).length / Math.max(1, ok.length), 3),
      offersPerEvent: round(ok.reduce((a, f) => a + f.offers, 0) / Math.max(1, ok.length), 2),
      pushBeforeAnswerShare: round(figures.filter((f) => f.pushBeforeAnswer).length / figures.length, 3),
      pushBytes,
      serverCpuPct: cpu.serverPct,
      serverCpuUsPerEvent: cpu.serverMs === null ? null : round((cpu.serverMs * 1000) / events, 1),
      serverUserSysUsPerEvent: userSys,
      loadgenCpuPct: cpu.loadgenPct,
    };
  }

  close(): void {
    this.agent.destroy();
  }
}

/** `21.3–21.6 (68), 51.3 (1)`: the first few clusters, with how many events each. */
function describeClusters(list: PushRunFigures['slowClusters']): string {
  if (list.length === 0) return 'none';
  const shown = list
    .slice(0, 4)
    .map((c) => `${c.fromS === c.toS ? c.fromS : `${c.fromS}–${c.toS}`} (${c.events})`);
  return list.length > 4 ? `${shown.join(', ')}, … ${list.length} clusters` : shown.join(', ');
}

// ---------------------------------------------------------------------------------------------
// Banners: autocannon GETs, each connection cycling through its own slice of URLs.

interface BannerRun {
  round: number | 'warm-up';
  target: 'hello' | 'banner';
  reqPerSec: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  mismatches: number;
  /** Banners with an offer (`"default":false`); the rest got the placement's default. */
  personalizedShare: number | null;
  serverCpuUsPerReq: number | null;
  /** The same, split into user and system (kernel) time. */
  serverUserSysUsPerReq: { userUs: number; sysUs: number } | null;
  serverCpuPct: number | null;
  loadgenCpuPct: number;
  bytesPerResponse: number;
}

function bannerSlices(customers: Int32Array): string[][] {
  const slices: string[][] = [];
  for (let i = 0; i < customers.length; i += PATHS_PER_SLICE) {
    slices.push(
      Array.from(
        customers.subarray(i, i + PATHS_PER_SLICE),
        (n) => `/v1/banners/${PLACEMENT}?customerId=cust-${n}&key=${BANNER_KEY}`,
      ),
    );
  }
  return slices;
}

async function bannerRun(
  server: Server,
  target: BannerRun['target'],
  roundNo: BannerRun['round'],
  slices: readonly (readonly string[])[],
  firstSlice: number,
  duration: number,
): Promise<BannerRun> {
  let personalized = 0;
  let defaults = 0;
  const verifyBody = (body: string | Buffer | undefined): boolean => {
    const text = typeof body === 'string' ? body : (body?.toString() ?? '');
    if (target === 'hello') return text.includes('"ok":true');
    if (text.includes('"default":false')) personalized++;
    else if (text.includes('"default":true')) defaults++;
    else return false;
    return true;
  };
  let meter: ReturnType<typeof cpuMeter> | null = null;
  let split: ReturnType<typeof userSysMeter> | null = null;
  let next = firstSlice;
  const r = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${server.url}${slices[firstSlice % slices.length]![0]!}`,
        method: 'GET',
        connections: CONNECTIONS,
        pipelining: 1,
        duration,
        timeout: 10,
        setupClient: (client) => {
          const paths = slices[next++ % slices.length]!;
          client.setRequests(paths.map((p) => ({ method: 'GET', path: p })));
        },
        verifyBody,
      },
      (err: unknown, result) =>
        err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(result),
    );
    // CPU is measured from the start of the run, not from the set-up of the clients before it.
    instance.once('start', () => {
      meter = cpuMeter(server.pid);
      split = userSysMeter(server.pid);
    });
  });
  const cpu = (meter as ReturnType<typeof cpuMeter> | null)?.stop() ?? null;
  const userSys = (split as ReturnType<typeof userSysMeter> | null)?.stop(r.requests.total) ?? null;
  if (r.non2xx > 0 || r.errors > 0 || r.mismatches > 0) {
    say(
      `${target} round ${roundNo}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.mismatches} unexpected bodies ` +
        `${JSON.stringify(r.statusCodeStats)}`,
    );
  }
  return {
    round: roundNo,
    target,
    reqPerSec: Math.round(r.requests.average),
    requests: r.requests.total,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    mismatches: r.mismatches,
    personalizedShare:
      target === 'banner' ? round(personalized / Math.max(1, personalized + defaults), 3) : null,
    serverCpuUsPerReq:
      cpu?.serverMs != null && r.requests.total > 0
        ? round((cpu.serverMs * 1000) / r.requests.total, 1)
        : null,
    serverUserSysUsPerReq: userSys,
    serverCpuPct: cpu?.serverPct ?? null,
    loadgenCpuPct: cpu?.loadgenPct ?? Number.NaN,
    bytesPerResponse: r.requests.total > 0 ? Math.round(r.throughput.total / r.requests.total) : 0,
  };
}

// ---------------------------------------------------------------------------------------------

/** Set when the bench stops the servers itself. */
let stopping = false;

async function main(): Promise<void> {
  const fileLimit = openFileLimit();
  if (fileLimit < WS_CONNECTIONS + 256) {
    throw new Error(
      `this process may open ${fileLimit} files, too few for ${WS_CONNECTIONS} WebSocket clients: ` +
        `raise ulimit -n or lower BENCH_WS_CONNECTIONS`,
    );
  }
  if (PUSH_EVENTS + PUSH_EVENTS_AT_MAX + 2 * PUSH_WARMUP >= CUSTOMERS / 2) {
    throw new Error('BENCH_CUSTOMERS must be more than twice the call events (each call a new customer)');
  }
  const customers = shuffledCustomers(CUSTOMERS);
  const callCustomers = customers.subarray(0, PUSH_EVENTS + PUSH_EVENTS_AT_MAX + 2 * PUSH_WARMUP);
  const slices = bannerSlices(customers.subarray(callCustomers.length));

  say(`starting offerloop (${CUSTOMERS} demo customers, ${path.relative(process.cwd(), RULES) || '.'})…`);
  const ours = await startServer(
    'offerloop',
    SERVER_SCRIPT,
    {
      OFFERLOOP_RULES: RULES,
      OFFERLOOP_DEMO_CUSTOMERS: String(CUSTOMERS),
      OFFERLOOP_API_KEYS: `${API_KEY}=decide+feedback;rate=10000000,${BANNER_KEY}=banner;rate=10000000;ipRate=10000000`,
      OFFERLOOP_WATCH_RULES: 'false',
      OFFERLOOP_LOG_LEVEL: 'info',
      OFFERLOOP_WS_HEARTBEAT_MS: String(HEARTBEAT_MS),
    },
    'offerloop ready',
    { nodeArgs: CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : [] },
  );
  const readyAt = performance.now();
  say(`offerloop ready in ${ours.spawnToReadyMs} ms`);
  // A server that dies mid-bench would only show as connection errors: say so, with its last words.
  const oursStderr: string[] = [];
  ours.proc.stderr?.on('data', (chunk: Buffer) => {
    oursStderr.push(chunk.toString());
    if (oursStderr.length > 50) oursStderr.shift();
  });
  let oursExit: string | null = null;
  ours.proc.once('exit', (code, signal) => {
    oursExit = `offerloop exited (${code ?? signal}) before the bench stopped it`;
    if (!stopping) say(`${oursExit}\n${oursStderr.join('').slice(-4000)}`);
  });
  const wsUrl = `${ours.url.replace(/^http/, 'ws')}/v1/ws`;

  // -------------------------------------------------------------------------------------------
  // 1. Connections and memory.
  await sleep(SETTLE_MS);
  const memory: ServerMemory[] = [serverMemory(ours.pid, 0)];
  const clients: (AgentClient | null)[] = new Array<AgentClient | null>(WS_CONNECTIONS).fill(null);
  let openFailures = 0;
  let firstOpenFailure = '';
  const openSteps: { to: number; ms: number; perSec: number }[] = [];
  for (let step = 1; step <= WS_STEPS; step++) {
    const from = Math.round(((step - 1) * WS_CONNECTIONS) / WS_STEPS);
    const to = Math.round((step * WS_CONNECTIONS) / WS_STEPS);
    say(`opening sessions ${from + 1}…${to} and subscribing each to its agent…`);
    const started = performance.now();
    await forEachConcurrently(from, to, OPEN_CONCURRENCY, async (i) => {
      try {
        const client = await AgentClient.open(wsUrl, `agent-${i + 1}`, onPush);
        clients[i] = client;
        await client.subscribe();
      } catch (err) {
        openFailures++;
        firstOpenFailure ||= `agent-${i + 1}: ${err instanceof Error ? err.message : String(err)}`;
      }
    });
    const ms = performance.now() - started;
    openSteps.push({ to, ms: Math.round(ms), perSec: Math.round((to - from) / (ms / 1000)) });
    await sleep(SETTLE_MS);
    memory.push(serverMemory(ours.pid, to));
  }
  const held = clients.filter((c): c is AgentClient => c !== null && c.ws.readyState === c.ws.OPEN);

  say(`pinging ${PING_SAMPLE} sessions…`);
  const pingTimes: number[] = [];
  let pingFailures = 0;
  // Every n-th session, so that a sample covers all the steps.
  const pingStride = WS_CONNECTIONS / PING_SAMPLE;
  await forEachConcurrently(0, PING_SAMPLE, 200, async (k) => {
    const client = clients[Math.floor(k * pingStride)];
    if (client == null) {
      pingFailures++;
      return;
    }
    try {
      const { message, ms } = await client.request({ type: 'ping' });
      if (message.type === 'result') pingTimes.push(ms);
      else pingFailures++;
    } catch {
      pingFailures++;
    }
  });
  const ping = {
    asked: PING_SAMPLE,
    answered: pingTimes.length,
    failed: pingFailures,
    ...latencySummary(pingTimes),
  };

  // -------------------------------------------------------------------------------------------
  // 2. Push latency: for information with every session open, then the target with PUSH_SESSIONS.
  const sender = new CallSender(new URL(ours.url), callCustomers);
  let pushAtMax: PushRunFigures | null = null;
  if (PUSH_EVENTS_AT_MAX > 0 && WS_CONNECTIONS > PUSH_SESSIONS) {
    say(`push: ${PUSH_EVENTS_AT_MAX} call.started at ${PUSH_RATE}/s with ${held.length} sessions…`);
    pushAtMax = await sender.run(ours, readyAt, 'max', PUSH_EVENTS_AT_MAX, WS_CONNECTIONS);
  }
  say(`closing sessions ${PUSH_SESSIONS + 1}…${WS_CONNECTIONS}…`);
  await Promise.all(clients.slice(PUSH_SESSIONS).map((c) => c?.close()));
  await sleep(SETTLE_MS);
  const memoryAfterClose = serverMemory(ours.pid, PUSH_SESSIONS);
  say(`push: ${PUSH_EVENTS} call.started at ${PUSH_RATE}/s with ${PUSH_SESSIONS} sessions…`);
  const push = await sender.run(ours, readyAt, 'target', PUSH_EVENTS, PUSH_SESSIONS);
  sender.close();
  await Promise.all(clients.slice(0, PUSH_SESSIONS).map((c) => c?.close()));
  const unexpectedCloses = socketTrouble.unexpectedCloses;

  // -------------------------------------------------------------------------------------------
  // 3. Banners against hello, side by side.
  const hello = await startServer('hello', HELLO_SCRIPT, {}, 'hello ready');
  say(`hello ready in ${hello.spawnToReadyMs} ms; banners: warm-up ${WARMUP} s each…`);
  let slice = 0;
  const takeSlices = () => {
    const first = slice;
    slice += CONNECTIONS;
    return first;
  };
  const bannerWarmups: BannerRun[] = [];
  for (const target of ['hello', 'banner'] as const) {
    bannerWarmups.push(
      await bannerRun(target === 'hello' ? hello : ours, target, 'warm-up', slices, takeSlices(), WARMUP),
    );
  }
  const bannerRuns: BannerRun[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const first = takeSlices();
    for (const target of ['hello', 'banner'] as const) {
      say(`round ${r}/${ROUNDS} ${target} (${DURATION} s)…`);
      bannerRuns.push(await bannerRun(target === 'hello' ? hello : ours, target, r, slices, first, DURATION));
    }
  }
  const exitedEarly: string | null = oursExit;
  stopping = true;
  await Promise.all([stopServer(hello), stopServer(ours)]);

  // -------------------------------------------------------------------------------------------
  const base = memory[0]!;
  const points = memory.map((m) => [m.connections, m.rssKb * 1024] as const);
  const bytesPerConnection = slope(points);
  const stepBytes = memory
    .slice(1)
    .map((m, i) => ((m.rssKb - memory[i]!.rssKb) * 1024) / (m.connections - memory[i]!.connections));
  const stepSpread = Math.max(...stepBytes) / Math.min(...stepBytes);
  const flat = stepBytes.every((b) => b > 0) && stepSpread <= FLAT_STEP_SPREAD;
  const top = memory[memory.length - 1]!;
  const allHeld = held.length === WS_CONNECTIONS && openFailures === 0;
  const allAnswer = ping.answered === ping.asked;

  const medianOf = (target: BannerRun['target'], f: (x: BannerRun) => number | null): number => {
    const xs = bannerRuns.filter((x) => x.target === target).map(f);
    return xs.every((x) => x !== null) ? median(xs as number[]) : Number.NaN;
  };
  const helloRps = medianOf('hello', (x) => x.reqPerSec);
  const bannerRps = medianOf('banner', (x) => x.reqPerSec);
  const ratio = bannerRps / helloRps;
  const helloCpu = medianOf('hello', (x) => x.serverCpuUsPerReq);
  const bannerCpu = medianOf('banner', (x) => x.serverCpuUsPerReq);

  console.table(
    memory.map((m, i) => ({
      connections: m.connections,
      'server RSS MB': round(m.rssKb / 1024, 1),
      'RSS anon MB': round(m.rssAnonKb / 1024, 1),
      'Δ RSS MB': round((m.rssKb - base.rssKb) / 1024, 1),
      'bytes/conn (step)': i === 0 ? '' : Math.round(stepBytes[i - 1]!),
      'server fds': m.fds,
      'open s (step)': i === 0 ? '' : round(openSteps[i - 1]!.ms / 1000, 1),
      'opened/s': i === 0 ? '' : openSteps[i - 1]!.perSec,
      'client RSS MB': round(m.clientRssKb / 1024, 1),
    })),
  );
  const pushRows = [pushAtMax, push].filter((p): p is PushRunFigures => p !== null);
  console.table(
    pushRows.map((p) => ({
      sessions: p.sessionsOpen,
      events: p.events,
      'rate asked/got': `${p.rateAsked}/${p.rateGot}`,
      'push p50/p90/p99/max ms': `${p.push.p50Ms} / ${p.push.p90Ms} / ${p.push.p99Ms} / ${p.push.maxMs}`,
      'http p50/p90/p99/max ms': `${p.http.p50Ms} / ${p.http.p90Ms} / ${p.http.p99Ms} / ${p.http.maxMs}`,
      [`≥ ${TARGET_PUSH_P99_MS} ms`]: p.pushesOverTarget,
      lost: p.pushesLost,
      failed: p.failed,
      'push before answer': p.pushBeforeAnswerShare,
      'empty offers': p.emptyOfferShare,
      'push bytes': p.pushBytes,
      'srv µs/event': p.serverCpuUsPerEvent,
      'usr/sys µs': p.serverUserSysUsPerEvent
        ? `${p.serverUserSysUsPerEvent.userUs}/${p.serverUserSysUsPerEvent.sysUs}`
        : '',
      'srv/gen %': `${p.serverCpuPct}/${p.loadgenCpuPct}`,
    })),
  );
  console.table(
    [...bannerWarmups, ...bannerRuns].map((x) => ({
      round: x.round,
      target: x.target,
      'req/s': x.reqPerSec,
      'p50/p99 ms': `${x.p50Ms} / ${x.p99Ms}`,
      'srv µs/req': x.serverCpuUsPerReq,
      'usr/sys µs': x.serverUserSysUsPerReq
        ? `${x.serverUserSysUsPerReq.userUs}/${x.serverUserSysUsPerReq.sysUs}`
        : '',
      'srv/gen %': `${x.serverCpuPct}/${x.loadgenCpuPct}`,
      'bytes/resp': x.bytesPerResponse,
      personalized: x.personalizedShare ?? '',
      'non2xx/err': `${x.non2xx}/${x.errors + x.timeouts + x.mismatches}`,
    })),
  );
  console.table({
    [`push p50 / p90 ms (${push.sessionsOpen} sessions, ${push.rateGot}/s)`]: tableRow(
      `${push.push.p50Ms} / ${push.push.p90Ms}`,
    ),
    [`push p99 ms (${push.sessionsOpen} sessions)`]: tableRow(
      push.push.p99Ms,
      `< ${TARGET_PUSH_P99_MS}`,
      push.push.p99Ms < TARGET_PUSH_P99_MS,
    ),
    'push max ms': tableRow(push.push.maxMs),
    'HTTP round trip p50 / p99 ms (same requests)': tableRow(`${push.http.p50Ms} / ${push.http.p99Ms}`),
    'pushes lost / failed requests': tableRow(
      `${push.pushesLost} / ${push.failed}`,
      '0 / 0',
      push.pushesLost + push.failed === 0,
    ),
    [`push p50 / p99 / max ms with ${pushAtMax?.sessionsOpen ?? '–'} sessions`]: tableRow(
      pushAtMax === null
        ? '–'
        : `${pushAtMax.push.p50Ms} / ${pushAtMax.push.p99Ms} / ${pushAtMax.push.maxMs}`,
      'info',
    ),
    [`pushes ≥ ${TARGET_PUSH_P99_MS} ms with ${pushAtMax?.sessionsOpen ?? '–'} sessions`]: tableRow(
      pushAtMax === null ? '–' : `${pushAtMax.pushesOverTarget} of ${pushAtMax.events}`,
      'info',
    ),
    '… sent at s into the run (server up s at its start)': tableRow(
      pushAtMax === null
        ? '–'
        : `${describeClusters(pushAtMax.slowClusters)} (up ${pushAtMax.serverUpAtStartS})`,
      `heartbeat every ${HEARTBEAT_MS / 1000} s`,
    ),
    [`pushes ≥ ${TARGET_PUSH_P99_MS} ms with ${push.sessionsOpen} sessions, sent at s (up s)`]: tableRow(
      `${push.pushesOverTarget}${push.pushesOverTarget > 0 ? `: ${describeClusters(push.slowClusters)}` : ''} (up ${push.serverUpAtStartS})`,
      'info',
    ),
    'calls with no offer (contact caps, consent)': tableRow(push.emptyOfferShare, 'info'),
    'WebSocket sessions held': tableRow(`${held.length} / ${WS_CONNECTIONS}`, `${WS_CONNECTIONS}`, allHeld),
    'sessions answering ping': tableRow(`${ping.answered} / ${ping.asked}`, `${ping.asked}`, allAnswer),
    'ping round trip p50 / p99 ms (all at once, 200 in flight)': tableRow(`${ping.p50Ms} / ${ping.p99Ms}`),
    'server RSS before → at max MB': tableRow(
      `${round(base.rssKb / 1024, 1)} → ${round(top.rssKb / 1024, 1)}`,
    ),
    'bytes per connection (RSS slope, least squares)': tableRow(Math.round(bytesPerConnection), 'info'),
    'bytes per connection, steps min–max': tableRow(
      `${Math.round(Math.min(...stepBytes))}–${Math.round(Math.max(...stepBytes))}`,
      `flat (max/min ≤ ${FLAT_STEP_SPREAD})`,
      flat,
    ),
    [`server RSS MB / fds after closing to ${PUSH_SESSIONS} sessions`]: tableRow(
      `${round(memoryAfterClose.rssKb / 1024, 1)} / ${memoryAfterClose.fds}`,
      'info',
    ),
    'hello GET req/s (median)': tableRow(Math.round(helloRps)),
    'banner req/s (median)': tableRow(Math.round(bannerRps)),
    'ratio banner / hello': tableRow(round(ratio, 3), `≥ ${TARGET_RATIO}`, ratio >= TARGET_RATIO),
    'banner p50 / p99 ms under full load (median)': tableRow(
      `${medianOf('banner', (x) => x.p50Ms)} / ${medianOf('banner', (x) => x.p99Ms)}`,
    ),
    'hello p50 / p99 ms under full load (median)': tableRow(
      `${medianOf('hello', (x) => x.p50Ms)} / ${medianOf('hello', (x) => x.p99Ms)}`,
    ),
    'server CPU µs/req hello / banner (median)': tableRow(`${helloCpu} / ${bannerCpu}`),
    'CPU ratio hello µs / banner µs': tableRow(round(helloCpu / bannerCpu, 3), 'info'),
    'banners with an offer (median share)': tableRow(
      medianOf('banner', (x) => x.personalizedShare),
      'info',
    ),
    'server log lines at warn / error': tableRow(`${ours.warnLogs} / ${ours.errorLogs}`, 'info'),
  });

  const problems: string[] = [];
  if (openFailures > 0) problems.push(`${openFailures} sessions failed to open (first: ${firstOpenFailure})`);
  if (!allAnswer)
    problems.push(`${ping.asked - ping.answered} of ${ping.asked} sessions did not answer ping`);
  if (unexpectedCloses > 0)
    problems.push(
      `${unexpectedCloses} sessions closed by the server (codes ${JSON.stringify([...socketTrouble.closeCodes])})`,
    );
  for (const p of pushRows) {
    if (p.pushesLost > 0)
      problems.push(`${p.label} push run: ${p.pushesLost} pushes not read in ${PUSH_TIMEOUT_MS} ms`);
    if (p.failed > 0) problems.push(`${p.label} push run: ${p.failed} requests failed`);
    if (p.sessionsNotOne > 0)
      problems.push(`${p.label} push run: ${p.sessionsNotOne} answers with sessions ≠ 1`);
    if (p.unknownCustomers > 0) problems.push(`${p.label} push run: ${p.unknownCustomers} customers unknown`);
  }
  if (pushTrouble.unexpected + pushTrouble.wrongAgent + pushTrouble.notCallStarted > 0)
    problems.push(`pushes not expected: ${JSON.stringify(pushTrouble)}`);
  for (const x of [...bannerWarmups, ...bannerRuns]) {
    if (x.non2xx + x.errors + x.timeouts + x.mismatches > 0)
      problems.push(
        `${x.target} round ${x.round}: ${x.non2xx} non-2xx, ${x.errors} errors, ${x.timeouts} timeouts, ${x.mismatches} unexpected bodies`,
      );
  }
  if (ours.errorLogs > 0) problems.push(`offerloop logged ${ours.errorLogs} error lines`);
  if (exitedEarly !== null) problems.push(exitedEarly);

  const summary = {
    bench: 'channels',
    ...machine(),
    config: {
      customers: CUSTOMERS,
      rules: path.relative(REPO_ROOT, RULES),
      wsConnections: WS_CONNECTIONS,
      openConcurrency: OPEN_CONCURRENCY,
      settleMs: SETTLE_MS,
      pushSessions: PUSH_SESSIONS,
      pushEvents: PUSH_EVENTS,
      pushWarmup: PUSH_WARMUP,
      pushRate: PUSH_RATE,
      pushEventsAtMax: PUSH_EVENTS_AT_MAX,
      heartbeatMs: HEARTBEAT_MS,
      placement: PLACEMENT,
      bannerDurationS: DURATION,
      bannerRounds: ROUNDS,
      bannerConnections: CONNECTIONS,
      bannerWarmupS: WARMUP,
      bannerDistinctUrls: slices.reduce((a, s) => a + s.length, 0),
      openFileLimit: fileLimit,
    },
    startup: { spawnToReadyMs: ours.spawnToReadyMs, readyInMs: ours.readyInMs },
    connections: {
      memory,
      openSteps,
      bytesPerConnection: Math.round(bytesPerConnection),
      stepBytesPerConnection: stepBytes.map((b) => Math.round(b)),
      flat: { pass: flat, maxOverMin: round(stepSpread, 2), limit: FLAT_STEP_SPREAD },
      held: held.length,
      openFailures,
      ping,
      memoryAfterClose,
      unexpectedCloses,
      socketErrors: socketTrouble.errors,
    },
    push: {
      target: { ...push, targetP99Ms: TARGET_PUSH_P99_MS, pass: push.push.p99Ms < TARGET_PUSH_P99_MS },
      atMax: pushAtMax,
      unexpected: pushTrouble,
    },
    banners: {
      warmups: bannerWarmups,
      runs: bannerRuns,
      medians: { helloReqPerSec: Math.round(helloRps), bannerReqPerSec: Math.round(bannerRps) },
      ratio: { value: round(ratio, 3), target: TARGET_RATIO, pass: ratio >= TARGET_RATIO },
      serverCpuUsPerReq: { hello: helloCpu, banner: bannerCpu, ratio: round(helloCpu / bannerCpu, 3) },
    },
    serverWarnLogs: ours.warnLogs,
    serverErrorLogs: ours.errorLogs,
    ok: problems.length === 0,
    problems,
  };
  await publishResult('channels', summary, problems);
}

runBench('channels bench', main);
