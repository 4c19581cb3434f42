// The one harness of the benchmarks in bench/ and bench/ops/: knobs, results, child processes
// (servers, Redis, the CLI), CPU meters, autocannon runs and the side-by-side comparison with the
// bare Fastify route of hello-server.ts. Nothing here is measured.

import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { WebSocket } from 'ws';
import { CHANNELS } from '../src/domain/channel.js';
import { Rng, round } from '../src/domain/random.js';
import type { RedisProcess } from '../test/support/redis.js';

export { round };

/** The repository root: the nearest directory above this file with a package.json (src or dist). */
export const REPO_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));
/** Git-ignored; each bench writes `<name>.json` here, and its generated data under data/. */
export const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');

export const API_KEY = 'bench-key';
const ROUTE = '/v1/decisions';
export const HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` };
/** The bare Fastify server every HTTP bench compares with, our server, and the CLI (all compiled). */
const HELLO_SCRIPT = path.join(REPO_ROOT, 'dist', 'bench', 'hello-server.js');
export const SERVER_SCRIPT = path.join(REPO_ROOT, 'dist', 'src', 'main.js');
/**
 * The Node flags `npm start` (and the image) run the server with (a 64 MB young generation), read
 * from package.json, so that the benches measure the server as users run it.
 */
export const SERVER_NODE_ARGS: readonly string[] = (
  JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }
).scripts.start
  .split(/\s+/)
  .filter((word) => word.startsWith('--'));
export const CLI_SCRIPT = path.join(REPO_ROOT, 'bin', 'offerloop');

/** As docker/redis.conf: compact hashes, the AOF with fsync every second, no eviction. */
// biome-ignore format: one option and its value per line
export const REDIS_CONF_ARGS: readonly string[] = [
  '--hash-max-listpack-entries', '256',
  '--hash-max-listpack-value', '512',
  '--appendonly', 'yes',
  '--appendfsync', 'everysec',
  '--maxmemory-policy', 'noeviction',
];

function findRoot(dir: string): string {
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) throw new Error(`no package.json above ${dir}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Knobs and results.

/** The only knobs: how long, how many rounds, how many connections, how big. */
export type Knob =
  | 'DURATION'
  | 'ROUNDS'
  | 'CONNECTIONS'
  | 'CUSTOMERS'
  | 'TRANSACTIONS'
  | 'SESSIONS'
  // The faults bench's own.
  | 'DECISION_RATE'
  | 'FEEDBACK_RATE'
  | 'RECOVERY_S'
  | 'NODE_TIMEOUT_MS';

/** BENCH_<name> as a positive number, or the bench's default. */
export function knob(name: Knob, fallback: number): number {
  const raw = process.env[`BENCH_${name}`]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`BENCH_${name} must be a positive number, got '${raw}'`);
  return n;
}

/** What a reader needs to compare two result files: when, which node, how many cores. */
export function machine(): { date: string; node: string; cpus: number; cpuModel: string } {
  const list = cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
  };
}

/**
 * How every bench ends: the summary as one JSON line on stdout, the same in bench/results/<name>.json,
 * and, when something went wrong, the problems on stderr and exit code 1. `pinned` says whether
 * BENCH_PIN put the load generator and the servers on different cores.
 */
export async function publishResult(name: string, summary: object, problems: readonly string[] = []) {
  const result = { bench: name, ...machine(), pinned: pinned(), ...summary };
  console.log(JSON.stringify(result));
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.json`);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stderr.write(`${name} bench: wrote ${file}\n`);
  if (problems.length > 0) {
    process.stderr.write(`\n${name} bench: FAILED:\n  ${problems.join('\n  ')}\n`);
    process.exitCode = 1;
  }
}

/** The q-quantile (0..1) of an ascending array, by linear interpolation. */
function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}

export function median(xs: readonly number[]): number {
  return quantileSorted(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
}

export const verdict = (ok: boolean): 'PASS' | 'FAIL' => (ok ? 'PASS' : 'FAIL');

/** A row of a summary table: the figure, its target, and PASS or FAIL when `ok` is given. */
export const tableRow = (value: number | string, target = '', ok?: boolean) => ({
  value,
  target,
  verdict: ok === undefined ? '' : verdict(ok),
});

/** p50 … max in ms (2 decimals) of response times in ms. */
export function latencySummary(times: ArrayLike<number>) {
  const sorted = Float64Array.from(times).sort();
  const q = (p: number) => round(quantileSorted(sorted, p), 2);
  return {
    p50Ms: q(0.5),
    p90Ms: q(0.9),
    p99Ms: q(0.99),
    p999Ms: q(0.999),
    maxMs: round(sorted[sorted.length - 1] ?? Number.NaN, 2),
  };
}

export const say = (label: string, text: string) => process.stderr.write(`${label} bench: ${text}\n`);

// ---------------------------------------------------------------------------------------------
// Child processes. They run outside the bench process, so that the load generator does not share
// an event loop with them; whatever happens, they die with it.

const children = new Set<ChildProcess>();
let supervising = false;

function killChildren(): void {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
}

/** Runs a bench's `main`: children killed on exit, SIGINT, SIGTERM or failure (then exit 1). */
export function runBench(label: string, main: () => Promise<void>): void {
  pinLoadGenerator(label);
  if (!supervising) {
    supervising = true;
    process.on('exit', killChildren);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => {
        process.stderr.write(`\n${label} bench: ${signal}, stopping the child processes\n`);
        killChildren();
        process.exit(signal === 'SIGINT' ? 130 : 143);
      });
    }
  }
  main().catch((err: unknown) => {
    process.stderr.write(
      `${label} bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    killChildren();
    process.exit(1);
  });
}

// On Linux, `setpriv --pdeathsig KILL` makes the kernel kill a child when the bench dies, however it
// dies (even by SIGKILL). setpriv execs the command, so the pid we measure is still the child's own.
const WITH_DEATH_SIGNAL = process.platform === 'linux' && existsSync('/usr/bin/setpriv');

function spawnChild(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  // taskset, like setpriv, execs the command: the pid is still the child's own.
  const argv = pinning ? [TASKSET, '-c', String(SERVER_CPU), command, ...args] : [command, ...args];
  const proc = WITH_DEATH_SIGNAL
    ? spawn('/usr/bin/setpriv', ['--pdeathsig', 'KILL', ...argv], options)
    : spawn(argv[0]!, argv.slice(1), options);
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  proc.once('error', () => children.delete(proc));
  return proc;
}

// ---------------------------------------------------------------------------------------------
// Pinning (BENCH_PIN=1): the load generator (this process, autocannon in it) on CPU 0, the servers,
// workers, the CLI and Redis on CPU 1, so that neither takes the other's core or caches.

const TASKSET = '/usr/bin/taskset';
const LOADGEN_CPU = 0;
const SERVER_CPU = 1;
let pinning = false;
const pinnedPids = new Set<number>();

/** Whether this bench runs pinned (BENCH_PIN=1 and pinning worked). */
export const pinned = (): boolean => pinning;

/** BENCH_PIN=1: pins this process (all its threads) to CPU 0; says why not when it cannot. */
function pinLoadGenerator(label: string): void {
  const raw = process.env.BENCH_PIN?.trim() ?? '';
  if (raw === '' || raw === '0' || pinning) return;
  if (raw !== '1') throw new Error(`BENCH_PIN must be 0 or 1, got '${raw}'`);
  const why =
    process.platform !== 'linux' || !existsSync(TASKSET)
      ? 'no taskset'
      : cpus().length < 2
        ? `${cpus().length} CPU`
        : null;
  if (why === null) {
    try {
      execFileSync(TASKSET, ['-a', '-pc', String(LOADGEN_CPU), String(process.pid)], { stdio: 'ignore' });
      pinning = true;
      say(label, `pinned: load generator on CPU ${LOADGEN_CPU}, servers and Redis on CPU ${SERVER_CPU}`);
      return;
    } catch (err) {
      say(label, `BENCH_PIN=1: taskset failed (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  say(label, `BENCH_PIN=1 but ${why ?? 'taskset failed'}: running unpinned`);
}

/**
 * Pins a process that the bench did not spawn itself (Redis, from test/support/redis.ts), all its
 * threads, to the servers' CPU; once per pid, and only when pinned. measure() does it for a
 * target's helpers; a bench may call it right after starting such a process.
 */
export function pinToServerCpu(pid: number): void {
  if (!pinning || pinnedPids.has(pid)) return;
  pinnedPids.add(pid);
  try {
    execFileSync(TASKSET, ['-a', '-pc', String(SERVER_CPU), String(pid)], { stdio: 'ignore' });
  } catch {
    say('pin', `could not pin pid ${pid} to CPU ${SERVER_CPU}`);
  }
}

/** A port the OS considers free right now. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  probe.close();
  await once(probe, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port from the probe');
  return address.port;
}

/** A pino line of a server (or the ready line of the hello server). */
export interface LogLine {
  readonly level?: number;
  readonly msg?: string;
  readonly readyInMs?: number;
  readonly [field: string]: unknown;
}

export interface Server {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly url: string;
  /** Spawn to ready line, measured here; and what the child says (process.uptime() at ready). */
  readonly spawnToReadyMs: number;
  readonly readyInMs: number | null;
  /** pino lines at level warn, and error or worse, since start. */
  readonly logs: { warn: number; error: number };
}

/** Adds the problem of a server that logged errors (pino level error or worse) since it started. */
export function noteLoggedErrors(problems: string[], server: Server, who = 'offerloop'): void {
  if (server.logs.error > 0) problems.push(`${who} logged ${server.logs.error} error lines`);
}

/** Spawns `node script` on a free port of 127.0.0.1; resolves when it logs `readyMsg`. */
export async function startServer(
  name: string,
  script: string,
  env: Readonly<Record<string, string>>,
  options: {
    readonly nodeArgs?: readonly string[];
    readonly onLog?: (log: LogLine, at: number) => void;
  } = {},
): Promise<Server> {
  const readyMsg = script === HELLO_SCRIPT ? 'hello ready' : 'offerloop ready';
  const port = await freePort();
  const started = performance.now();
  const proc = spawnChild(process.execPath, [...(options.nodeArgs ?? []), script], {
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const remember = (line: string) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
  };
  const logs = { warn: 0, error: 0 };
  let ready = false;
  return new Promise<Server>((resolve, reject) => {
    const fail = (err: Error) => {
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(new Error(`${err.message}\n--- last output of ${name} ---\n${tail.join('\n')}`));
    };
    const timer = setTimeout(() => fail(new Error(`${name} not ready after 120 s`)), 120_000);
    proc.once('exit', (code, signal) => {
      if (!ready) fail(new Error(`${name} exited before it was ready (${code ?? signal})`));
    });
    proc.once('error', fail);
    createInterface({ input: proc.stderr! }).on('line', remember);
    // Read stdout to the end: a full pipe would block the server's logger.
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      remember(line);
      let log: LogLine;
      try {
        log = JSON.parse(line) as LogLine;
      } catch {
        return;
      }
      if ((log.level ?? 0) >= 50) logs.error++;
      else if ((log.level ?? 0) >= 40) logs.warn++;
      options.onLog?.(log, performance.now());
      if (log.msg !== readyMsg || ready) return;
      ready = true;
      clearTimeout(timer);
      resolve({
        name,
        proc,
        pid: proc.pid!,
        url: `http://127.0.0.1:${port}`,
        spawnToReadyMs: Math.round(performance.now() - started),
        readyInMs: typeof log.readyInMs === 'number' ? log.readyInMs : null,
        logs,
      });
    });
  });
}

/** Our server with the bench key and no rules watcher; `env` adds to (or overrides) that. */
export function startOfferloop(
  env: Readonly<Record<string, string>>,
  options: Parameters<typeof startServer>[3] = {},
) {
  // 'offerloop ready' is an info line; no request is logged at info.
  const base = {
    OFFERLOOP_API_KEYS: `${API_KEY}=decide`,
    OFFERLOOP_WATCH_RULES: 'false',
    OFFERLOOP_LOG_LEVEL: 'info',
  };
  const nodeArgs = [...SERVER_NODE_ARGS, ...(options.nodeArgs ?? [])];
  return startServer('decisions', SERVER_SCRIPT, { ...base, ...env }, { ...options, nodeArgs });
}

export const startHello = (options: Parameters<typeof startServer>[3] = {}) =>
  startServer('hello', HELLO_SCRIPT, {}, options);

/**
 * `offerloop worker` (the feedback consumer as a process of its own) on the servers' environment;
 * resolves once it consumes. Stopped like a server (stopServer).
 */
export async function startOfferloopWorker(
  env: Readonly<Record<string, string>>,
): Promise<{ readonly proc: ChildProcess; readonly pid: number }> {
  const proc = spawnChild(process.execPath, [CLI_SCRIPT, 'worker'], {
    env: { ...process.env, OFFERLOOP_LOG_LEVEL: 'info', OFFERLOOP_WATCH_RULES: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = createInterface({ input: proc.stdout! });
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const ready = new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.includes('consuming the feedback log')) resolve();
    });
    proc.once('exit', (code) =>
      reject(new Error(`offerloop worker exited (${code}) before it consumed: ${stderr.trim()}`)),
    );
  });
  await ready;
  return { proc, pid: proc.pid! };
}

/** SIGTERM, then SIGKILL after 5 s. */
export async function stopServer(server: { readonly proc: ChildProcess }): Promise<void> {
  const { proc } = server;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  const timeout = sleep(5_000, undefined, { ref: false }).then(() => 'timeout' as const);
  if ((await Promise.race([exited, timeout])) === 'timeout') proc.kill('SIGKILL');
}

// ---------------------------------------------------------------------------------------------
// CPU from /proc, to tell a saturated server from a saturated load generator or a busy machine.

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** CPU time (user + system) of a process so far in ms; null when it cannot be read. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the state field.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** The pids of `pid` and all its descendants (cluster workers), from /proc. */
export function processTree(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

const treeCpuMs = (pid: number) => processTree(pid).reduce((t, p) => t + (processCpuMs(p) ?? 0), 0);

/** Busy ticks of all cores together (user, nice, system, irq, softirq), from /proc/stat. */
function machineBusyMs(): number | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    return (((f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0)) * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

export interface CpuReading {
  /** CPU ms of each watched process (its whole tree), in the order given. */
  readonly ms: readonly number[];
  /** The same in % of one core. */
  readonly pct: readonly number[];
  /** This process: the load generator. */
  readonly loadgenPct: number;
  /** Everything else on the machine (other jobs, kernel time charged to nobody), % of one core. */
  readonly otherPct: number | null;
}

/** Starts CPU meters on `pids` (and their descendants), this process and the machine. */
export function cpuMeters(pids: readonly number[]): { stop(): CpuReading } {
  const wall = performance.now();
  const start = pids.map(treeCpuMs);
  const own = process.cpuUsage();
  const busy = machineBusyMs();
  return {
    stop() {
      const elapsed = performance.now() - wall;
      const ms = pids.map((p, i) => treeCpuMs(p) - start[i]!);
      const pct = ms.map((m) => round((m / elapsed) * 100));
      const o = process.cpuUsage(own);
      const loadgenPct = round(((o.user + o.system) / 1000 / elapsed) * 100);
      const busyNow = machineBusyMs();
      const known = pct.reduce((a, b) => a + b, loadgenPct);
      const otherPct =
        busy === null || busyNow === null
          ? null
          : Math.max(0, Math.round(((busyNow - busy) / elapsed) * 100 - known));
      return { ms, pct, loadgenPct, otherPct };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Load with autocannon: request bodies dealt out in slices, one slice per connection, so that
// connections do not send in lockstep.

export interface RequestSet {
  readonly route: string;
  readonly method?: 'GET' | 'POST';
  readonly headers: Readonly<Record<string, string>>;
  /** POST: bodies; GET: paths (with their query strings). */
  readonly slices: readonly (readonly string[])[];
}

export interface FireOptions {
  readonly duration: number;
  readonly connections: number;
  readonly overallRate?: number;
  /** The slice the first connection gets (the next ones get the following slices). */
  readonly firstSlice?: number;
  /** Each connection sends each body of its slice once, then stops (no repeated body). */
  readonly once?: boolean;
  /** Each response time in ms (a float: autocannon's own histogram rounds to 1 ms) and status. */
  readonly onResponse?: (ms: number, status: number) => void;
  /** Sees every response body; false counts a mismatch. */
  readonly verifyBody?: (body: string) => boolean;
  readonly signal?: AbortSignal;
  /** When the clients are set up and the requests start. */
  readonly onStart?: () => void;
}

/** One autocannon run against `url` (the server's base URL). */
export function fire(url: string, requests: RequestSet, opts: FireOptions): Promise<autocannon.Result> {
  const method = requests.method ?? 'POST';
  const request = (item: string) =>
    method === 'GET'
      ? { method, path: item, headers: requests.headers }
      : { method, path: requests.route, headers: requests.headers, body: item };
  let next = opts.firstSlice ?? 0;
  const verify = opts.verifyBody;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${url}${requests.route}`,
        connections: opts.connections,
        pipelining: 1,
        duration: opts.duration,
        timeout: 10,
        setupClient: (client) => {
          client.setRequests(requests.slices[next++ % requests.slices.length]!.map(request));
        },
        ...(opts.once ? { maxConnectionRequests: Math.min(...requests.slices.map((s) => s.length)) } : {}),
        ...(verify ? { verifyBody: (b) => verify(typeof b === 'string' ? b : String(b ?? '')) } : {}),
        ...(opts.overallRate !== undefined
          ? { overallRate: opts.overallRate, ignoreCoordinatedOmission: true }
          : {}),
      },
      (err: unknown, result) =>
        err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(result),
    );
    const { onResponse, onStart, signal } = opts;
    if (onResponse) instance.on('response', (_client, status, _bytes, ms) => onResponse(ms, status));
    if (onStart) instance.once('start', onStart);
    if (signal?.aborted) instance.stop();
    else signal?.addEventListener('abort', () => instance.stop(), { once: true });
  });
}

/**
 * A run at a fixed total rate, split into up to 10 autocannon instances started 0.1 s apart.
 * Autocannon paces with a per-connection budget that refills once a second, so one instance fires
 * each second's requests in a burst; staggered groups spread the bursts over the second.
 */
export async function pacedRun(
  url: string,
  requests: RequestSet,
  opts: FireOptions & { readonly rate: number },
) {
  const groups = Math.max(1, Math.min(10, opts.connections, opts.rate));
  const results = await Promise.all(
    Array.from({ length: groups }, async (_, g) => {
      await sleep((g * 1000) / groups);
      if (opts.signal?.aborted) return null;
      const share = (n: number) => Math.floor(n / groups) + (g < n % groups ? 1 : 0);
      const connections = Math.max(1, share(opts.connections));
      const firstSlice = (opts.firstSlice ?? 0) + g * connections;
      return fire(url, requests, { ...opts, connections, firstSlice, overallRate: share(opts.rate) });
    }),
  );
  return results.filter((r): r is autocannon.Result => r !== null);
}

/** Requests that went wrong (a non-2xx answer also fails verifyBody: counted once). */
const failedOf = (r: autocannon.Result) => r.errors + r.timeouts + Math.max(r.non2xx, r.mismatches);

// ---------------------------------------------------------------------------------------------
// Side by side: the server under test and hello, alternating rounds with the same load.

export interface Target {
  readonly name: string;
  readonly server: Server;
  /** Processes whose CPU also serves these requests (Redis): reported per request too. */
  readonly helpers?: readonly { readonly pid: number }[];
  /** What the run of `round` sends (0: the warm-up). */
  readonly requests: (round: number) => RequestSet;
  readonly verifyBody?: (body: string) => boolean;
  readonly once?: boolean;
  /** After each run: extra figures for its row (e.g. how long a consumer took to catch up). */
  readonly afterRun?: (run: RunFigures) => Promise<Record<string, number | null>>;
}

export interface RunFigures {
  readonly round: number | 'warm-up';
  readonly target: string;
  readonly reqPerSec: number;
  readonly responses: number;
  /** Under full load (autocannon's histogram, whole ms): mostly queueing. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** non-2xx, connection errors, timeouts and bodies verifyBody rejected. */
  readonly failed: number;
  /** Server CPU time per response: less disturbed by other load on the machine than req/s. */
  readonly cpuUsPerReq: number;
  /** The helpers' CPU per response (Redis), when there are helpers. */
  readonly helperCpuUsPerReq: number | null;
  readonly serverCpuPct: number;
  readonly loadgenCpuPct: number;
  readonly otherCpuPct: number | null;
  readonly bytesPerResponse: number;
  readonly [extra: string]: number | string | null;
}

/** One closed-loop run of `connections` for `duration` s against a target. */
export async function measure(t: Target, roundNo: number, duration: number, connections: number) {
  const requests = t.requests(roundNo);
  const pids = [t.server.pid, ...(t.helpers ?? []).map((h) => h.pid)];
  for (const pid of pids) pinToServerCpu(pid);
  let meters = cpuMeters(pids);
  let first = 0;
  let last = 0;
  const r = await fire(t.server.url, requests, {
    duration,
    connections,
    // Each round takes the next slices, both targets of a round the same ones.
    firstSlice: roundNo * connections,
    ...(t.once ? { once: true } : {}),
    ...(t.verifyBody ? { verifyBody: t.verifyBody } : {}),
    onStart: () => {
      // CPU from when the requests start, not the set-up of the clients.
      meters = cpuMeters(pids);
      first = performance.now();
    },
    onResponse: () => {
      last = performance.now();
    },
  });
  const cpu = meters.stop();
  if (failedOf(r) > 0)
    say(
      'side-by-side',
      `${t.name} round ${roundNo}: ${failedOf(r)} failed ${JSON.stringify(r.statusCodeStats)}`,
    );
  const responses = r.requests.total;
  const per = (ms: number) => (responses > 0 ? round((ms * 1000) / responses, 1) : Number.NaN);
  const figures: RunFigures = {
    round: roundNo === 0 ? 'warm-up' : roundNo,
    target: t.name,
    reqPerSec: Math.round(responses / Math.max(1e-3, (last - first) / 1000)),
    responses,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    failed: failedOf(r),
    cpuUsPerReq: per(cpu.ms[0]!),
    helperCpuUsPerReq: pids.length > 1 ? per(cpu.ms.slice(1).reduce((a, b) => a + b, 0)) : null,
    serverCpuPct: cpu.pct[0]!,
    loadgenCpuPct: cpu.loadgenPct,
    otherCpuPct: cpu.otherPct,
    bytesPerResponse: responses > 0 ? Math.round(r.throughput.total / responses) : 0,
  };
  return t.afterRun ? { ...figures, ...(await t.afterRun(figures)) } : figures;
}

export interface Comparison {
  readonly warmups: readonly RunFigures[];
  readonly runs: readonly RunFigures[];
  /** Median over the rounds of a field of one target's runs. */
  median(target: string, field: keyof RunFigures): number;
}

/**
 * Seconds of load before a server's CPU per request is steady: measured on our decision server
 * (embedded store, 100k customers), it falls from ~90 to ~47 µs over the first ~15 s (JIT, the
 * first touch of the customers' data). Hello is steady within a second or two.
 */
export const STEADY_WARMUP_S = 15;

/**
 * A warm-up of each target, then `rounds` rounds, each target in turn, with the same load.
 * Hello's targets warm up `warmup` s; the others at least max(`warmup`, `duration`) s each and, per
 * server, STEADY_WARMUP_S in all (a second target on a warmed server adds only its own).
 */
export async function sideBySide(
  label: string,
  targets: readonly Target[],
  o: {
    readonly rounds: number;
    readonly duration: number;
    readonly warmup: number;
    readonly connections: number;
  },
): Promise<Comparison> {
  const warmups: RunFigures[] = [];
  const warmedS = new Map<number, number>();
  for (const t of targets) {
    const before = warmedS.get(t.server.pid) ?? 0;
    const s = t.server.name === 'hello' ? o.warmup : Math.max(o.warmup, o.duration, STEADY_WARMUP_S - before);
    say(label, `warm-up ${t.name} (${s} s)…`);
    warmups.push(await measure(t, 0, s, o.connections));
    warmedS.set(t.server.pid, before + s);
  }
  const runs: RunFigures[] = [];
  for (let r = 1; r <= o.rounds; r++) {
    for (const t of targets) {
      say(label, `round ${r}/${o.rounds} ${t.name} (${o.duration} s)…`);
      runs.push(await measure(t, r, o.duration, o.connections));
    }
  }
  console.table([...warmups, ...runs]);
  return {
    warmups,
    runs,
    median: (target, field) => {
      const xs = runs.filter((x) => x.target === target && x[field] !== null).map((x) => Number(x[field]));
      return xs.length === 0 ? Number.NaN : round(median(xs), 1);
    },
  };
}

/** The ratios a side-by-side run is read by: req/s and server CPU per request, ours against hello's. */
export function ratios(c: Comparison, ours: string, hello = 'hello') {
  const reqPerSec = {
    [hello]: Math.round(c.median(hello, 'reqPerSec')),
    [ours]: Math.round(c.median(ours, 'reqPerSec')),
  };
  const cpuUsPerReq = { [hello]: c.median(hello, 'cpuUsPerReq'), [ours]: c.median(ours, 'cpuUsPerReq') };
  const helper = c.median(ours, 'helperCpuUsPerReq');
  return {
    reqPerSec,
    ratio: round(reqPerSec[ours]! / reqPerSec[hello]!, 3),
    /** Whether the load generator and the servers ran on different cores (BENCH_PIN=1). */
    pinned: pinned(),
    /** Server CPU µs per request of each, and hello's ÷ ours (with the helpers', e.g. Redis, added). */
    cpuUsPerReq: { ...cpuUsPerReq, ...(Number.isNaN(helper) ? {} : { [`${ours}Helpers`]: helper }) },
    cpuRatio: round(cpuUsPerReq[hello]! / (cpuUsPerReq[ours]! + (Number.isNaN(helper) ? 0 : helper)), 3),
    failed: [...c.warmups, ...c.runs].reduce((a, r) => a + r.failed, 0),
  };
}

/**
 * The decision benches' comparison: hello then ours side by side (warm-up: hello min(5, duration)
 * s, ours as sideBySide says), their ratios, and the rate of the latency run that follows (half our
 * median req/s).
 */
export async function againstHello(
  label: string,
  hello: Target,
  ours: Target,
  o: { readonly rounds: number; readonly duration: number; readonly connections: number },
) {
  const c = await sideBySide(label, [hello, ours], { ...o, warmup: Math.min(5, o.duration) });
  const r = ratios(c, ours.name, hello.name);
  return { c, r, rate: Math.max(1, Math.round(r.reqPerSec[ours.name]! / 2)) };
}

/**
 * Latency at a fixed rate (`rate` per s over 20 connections), every response time as a float.
 * The first `rampUpS` s (at least 1) are not counted: the groups start 0.1 s apart and the first
 * bursts meet cold connections.
 */
export async function latencyRun(
  t: Target,
  rate: number,
  o: { readonly duration: number; readonly rampUpS?: number },
) {
  const rampUpS = Math.max(1, o.rampUpS ?? 1);
  const times: number[] = [];
  const counted = performance.now() + rampUpS * 1000;
  const end = counted + o.duration * 1000;
  const results = await pacedRun(t.server.url, t.requests(-1), {
    duration: rampUpS + o.duration,
    connections: 20,
    rate,
    onResponse: (ms) => {
      // Counted from the ramp-up to `duration` later: every group runs all that time (the last
      // one starts 0.9 s after the first and ends as much later).
      const now = performance.now();
      if (now >= counted && now <= end) times.push(ms);
    },
    ...(t.verifyBody ? { verifyBody: t.verifyBody } : {}),
  });
  return {
    rate,
    achievedRate: Math.round(times.length / o.duration),
    ...latencySummary(times),
    failed: results.reduce((a, r) => a + failedOf(r), 0),
  };
}

// ---------------------------------------------------------------------------------------------
// Decision requests and data sets.

/** What a run against the decisions route sends: these slices of bodies. */
export function decisionRequests(slices: readonly (readonly string[])[]): RequestSet {
  return { route: ROUTE, headers: HEADERS, slices };
}

/**
 * `slices` lists of `perSlice` decision bodies, each for a customer drawn uniformly from
 * `cust-1`…`cust-<customers>`, a random channel and `limit: 3`; seeded, so every run sends the same.
 */
export function decisionBodies(
  stream: string,
  slices: number,
  perSlice: number,
  customers: number,
): string[][] {
  const rng = new Rng('42', stream);
  return Array.from({ length: slices }, () =>
    Array.from({ length: perSlice }, () =>
      JSON.stringify({ customerId: `cust-${rng.int(1, customers)}`, channel: rng.pick(CHANNELS), limit: 3 }),
    ),
  );
}

/** Counts answers of the decisions route that do not know their customer or say degraded. */
export function decisionCheck() {
  const tally = { unknown: 0, degraded: 0 };
  const verify = (body: string) => {
    if (!body.includes('"customerKnown":true')) tally.unknown++;
    if (body.includes('"degraded":true')) tally.degraded++;
    return !body.includes('"degraded":true') && body.includes('"customerKnown":true');
  };
  return { tally, verify };
}

/** POSTs each body with fetch, one at a time; throws unless all are 200 with a known customer. */
export async function sampleDecisions(server: Server, bodies: readonly string[]) {
  let offers = 0;
  let empty = 0;
  for (const body of bodies) {
    const res = await fetch(`${server.url}${ROUTE}`, { method: 'POST', headers: HEADERS, body });
    const text = await res.text();
    const json = JSON.parse(text) as { customerKnown?: boolean; degraded?: boolean; offers?: unknown[] };
    if (res.status !== 200 || json.customerKnown !== true || json.degraded === true) {
      throw new Error(`${server.name} answered ${res.status} to ${body}: ${text.slice(0, 300)}`);
    }
    offers += json.offers?.length ?? 0;
    if ((json.offers?.length ?? 0) === 0) empty++;
  }
  return {
    requests: bodies.length,
    meanOffers: round(offers / bodies.length, 2),
    emptyShare: round(empty / bodies.length, 3),
  };
}

export interface GeneratedData {
  readonly dir: string;
  readonly rules: string;
  readonly profiles: string;
}

/**
 * `offerloop generate --offers N --customers N --affinities 20 --baskets 0 --seed 42` into
 * bench/results/data/<offers>x<customers>/, once: reused while its bench-data.json matches.
 * Delete bench/results/data after changing src/sim/.
 */
export async function generatedData(
  label: string,
  offers: number,
  customers: number,
): Promise<GeneratedData> {
  const dir = path.join(RESULTS_DIR, 'data', `${offers}x${customers}`);
  const marker = path.join(dir, 'bench-data.json');
  const data = { dir, rules: path.join(dir, 'rules'), profiles: path.join(dir, 'profiles.ndjson') };
  const want = JSON.stringify({ offers, customers, affinities: 20, seed: '42' });
  if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === want) return data;
  say(label, `generating ${offers} offers and ${customers} customers into ${dir}`);
  await rm(dir, { recursive: true, force: true });
  const { runGenerate } = await import('../src/cli/generate-command.js');
  // biome-ignore format: one option and its value per line
  const code = await runGenerate(
    ['--offers', String(offers), '--customers', String(customers), '--affinities', '20',
     '--seed', '42', '--baskets', '0', '--out', dir],
    { stdout: process.stderr, stderr: process.stderr },
  );
  if (code !== 0) throw new Error(`offerloop generate failed with exit code ${code}`);
  await writeFile(marker, `${want}\n`);
  return data;
}

// ---------------------------------------------------------------------------------------------
// Redis and `offerloop load`.

/**
 * A fresh redis-server (REDIS_CONF_ARGS) with the profiles loaded under `prefix` by `offerloop
 * load` (runLoad, the CLI's code, in this process). The caller stops it.
 */
export async function redisWithProfiles(
  label: string,
  profiles: string,
  prefix: string,
): Promise<RedisProcess> {
  const { startRedis } = await import('../test/support/redis.js');
  const { runLoad } = await import('../src/cli/load-command.js');
  const server = await startRedis({ args: [...REDIS_CONF_ARGS] });
  try {
    say(label, 'loading the customers into redis-server');
    const code = await runLoad(
      ['--redis', server.url, '--prefix', prefix, '--grace', '0s', profiles],
      { stdout: { write: () => true }, stderr: process.stderr },
      {},
    );
    if (code !== 0) throw new Error(`offerloop load failed with exit code ${code}`);
    return server;
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/** Fields of `INFO <section>` (numbers only). */
export function infoFields(info: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^(\w+):(\d+)\r?$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

export interface LoadRun {
  readonly exitCode: number | null;
  readonly wallMs: number;
  /** CPU time of the loader, its threads included (sampled every 250 ms until it exited). */
  readonly cpuMs: number | null;
  /** The JSON line it prints at the end; null when it failed (the tail says why). */
  readonly result: { readonly version?: number; readonly customers?: number } | null;
  readonly tail: readonly string[];
}

/** `offerloop load --redis URL --grace G FILE` in a child process, so that it does not stall the bench's loop. */
export async function runOfferloopLoad(redisUrl: string, file: string, grace: string): Promise<LoadRun> {
  const started = performance.now();
  const proc = spawnChild(
    process.execPath,
    [CLI_SCRIPT, 'load', '--redis', redisUrl, '--grace', grace, file],
    {
      // The CLI reads REDIS_PREFIX and REDIS_CLUSTER_NODES too: pin them to what the servers get.
      env: { ...process.env, REDIS_PREFIX: 'offerloop', REDIS_CLUSTER_NODES: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const pid = proc.pid!;
  let cpuMs: number | null = null;
  const poll = setInterval(() => {
    cpuMs = processCpuMs(pid) ?? cpuMs;
  }, 250);
  const tail: string[] = [];
  let stdout = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  createInterface({ input: proc.stderr! }).on('line', (line) => {
    tail.push(line.split('\r').pop() ?? '');
    if (tail.length > 20) tail.shift();
  });
  const exitCode = await new Promise<number | null>((resolve) => {
    proc.once('exit', (c) => resolve(c));
    proc.once('error', () => resolve(null));
  });
  clearInterval(poll);
  let result: LoadRun['result'] = null;
  try {
    result = JSON.parse(stdout.trim().split('\n').pop() ?? '') as LoadRun['result'];
  } catch {
    // no JSON: the load failed, the tail says why
  }
  return { exitCode, wallMs: Math.round(performance.now() - started), cpuMs, result, tail };
}

// ---------------------------------------------------------------------------------------------
// Single requests and WebSocket sessions, with the bench key.

export interface HttpAnswer {
  readonly status: number;
  readonly text: string;
  /** performance.now() when it was read whole. */
  readonly at: number;
}

/** One request with node's client (keep-alive through `agent`) and a JSON body if given. */
export function httpCall(
  base: URL,
  method: 'GET' | 'POST',
  route: string,
  options: { readonly agent: http.Agent; readonly timeoutMs: number; readonly body?: string | undefined },
): Promise<HttpAnswer> {
  const { body, timeoutMs } = options;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${API_KEY}` };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        path: route,
        method,
        agent: options.agent,
        headers,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString(),
            at: performance.now(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A WebSocket to `url` with the key in the Authorization header, open. */
export function openSocket(url: string, handshakeTimeoutMs: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: { Authorization: `Bearer ${API_KEY}` },
      perMessageDeflate: false,
      handshakeTimeout: handshakeTimeoutMs,
    });
    ws.once('error', (err) => {
      ws.terminate();
      reject(err);
    });
    ws.once('open', () => {
      ws.removeAllListeners('error');
      ws.on('error', () => {});
      resolve(ws);
    });
  });
}

/** Closes `ws` (1000) and resolves when it is closed; terminates it if that takes over 5 s. */
export function closeSocket(ws: WebSocket): Promise<void> {
  if (ws.readyState === ws.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ws.terminate();
      resolve();
    }, 5_000);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.close(1000);
  });
}

/** The value of each sample of `name` in a Prometheus text exposition (labels ignored). */
export function promValues(text: string, name: string, label?: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    if (label !== undefined && !line.includes(label)) continue;
    out.push(Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}
