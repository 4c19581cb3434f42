// Helpers shared by the benchmarks in bench/: where results go, number formatting, percentiles,
// the env knobs, and for the HTTP benches child processes, CPU meters and autocannon runs.
// Nothing here is measured.

import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
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
import { Rng, round } from '../src/sim/random.js';

/** The repository root: the nearest directory above this file with a package.json (src or dist). */
export const REPO_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** Git-ignored; each bench writes `<name>.json` here, the http bench also keeps its data set here. */
export const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');

/** The key both benches' servers accept, the route they measure and its request headers. */
export const API_KEY = 'bench-key';
export const ROUTE = '/v1/decisions';
export const HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` };
/** The bare Fastify server the decisions are compared with, and ours (compiled, under dist/). */
export const HELLO_SCRIPT = fileURLToPath(new URL('./hello-server.js', import.meta.url));
export const SERVER_SCRIPT = fileURLToPath(new URL('../src/main.js', import.meta.url));
/** Diagnostic: run our server under `node --cpu-prof` and write the profile here when it stops. */
export const CPU_PROF_DIR = process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : null;

function findRoot(dir: string): string {
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) throw new Error(`no package.json above ${dir}`);
  }
}

/** Writes `bench/results/<name>.json` and returns its path. */
export async function writeResult(name: string, result: unknown): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.json`);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

/**
 * How every bench ends: the summary as one JSON line on stdout, the same in bench/results/<name>.json,
 * and, when something went wrong, the problems on stderr and exit code 1.
 */
export async function publishResult(
  name: string,
  summary: unknown,
  problems: readonly string[] = [],
): Promise<void> {
  console.log(JSON.stringify(summary));
  const file = await writeResult(name, summary);
  process.stderr.write(`${name} bench: wrote ${file}\n`);
  if (problems.length > 0) {
    process.stderr.write(`\n${name} bench: FAILED, requests went wrong:\n  ${problems.join('\n  ')}\n`);
    process.exitCode = 1;
  }
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

/** A positive number from the environment, or the default; anything else is a usage error. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got '${raw}'`);
  return n;
}

export { round };

/** The knobs every HTTP bench reads (BENCH_DURATION …), with the bench's own defaults for rounds and warm-up. */
export function httpKnobs(defaults: { readonly rounds: number; readonly warmup: number }) {
  const duration = envNumber('BENCH_DURATION', 6);
  return {
    DURATION: duration,
    ROUNDS: Math.floor(envNumber('BENCH_ROUNDS', defaults.rounds)),
    CONNECTIONS: Math.floor(envNumber('BENCH_CONNECTIONS', 50)),
    WARMUP: envNumber('BENCH_WARMUP', defaults.warmup),
    LATENCY_DURATION: envNumber('BENCH_LATENCY_DURATION', duration),
    LATENCY_CONNECTIONS: Math.floor(envNumber('BENCH_LATENCY_CONNECTIONS', 20)),
  };
}

/** The q-quantile (0..1) of an ascending array, by linear interpolation. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
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

// ---------------------------------------------------------------------------------------------
// Child processes (servers, Redis, loaders) for the HTTP benches. They run outside the bench
// process, so that the load generator does not share an event loop with them; whatever happens,
// they die with it. The handlers are installed by the first child, so the benches that spawn
// nothing (engine, expr) are not affected.

const children = new Set<ChildProcess>();
let supervisorLabel = 'bench';
let supervising = false;

/** Names the bench in the message printed when SIGINT or SIGTERM stops it. */
export function superviseChildren(label: string): void {
  supervisorLabel = label;
  if (supervising) return;
  supervising = true;
  process.on('exit', killChildren);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\n${supervisorLabel}: ${signal}, stopping the child processes\n`);
      killChildren();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

// On Linux, `setpriv --pdeathsig KILL` (util-linux) makes the kernel kill a child when the bench dies,
// however it dies (even by SIGKILL, which skips every handler). setpriv execs the command, so the pid
// we measure and signal is still the child's own.
const WITH_DEATH_SIGNAL = process.platform === 'linux' && existsSync('/usr/bin/setpriv');

/** spawn(), tracked (see trackChild) and, where the platform allows, killed with the bench. */
export function spawnChild(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const proc = WITH_DEATH_SIGNAL
    ? spawn('/usr/bin/setpriv', ['--pdeathsig', 'KILL', command, ...args], options)
    : spawn(command, args, options);
  trackChild(proc);
  return proc;
}

/** Kills `proc` (SIGKILL) when the bench exits, fails or is interrupted, unless it has exited by then. */
export function trackChild(proc: ChildProcess): void {
  superviseChildren(supervisorLabel);
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  proc.once('error', () => children.delete(proc));
}

export function killChildren(): void {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
}

/** Runs a bench's `main`; if it fails: `<label>: <stack>` on stderr, the child processes killed, exit 1. */
export function runBench(label: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`${label}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    killChildren();
    process.exit(1);
  });
}

/** A port the OS considers free right now (listen on 0, read it, close). */
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
  readonly customers?: number;
  readonly [field: string]: unknown;
}

export interface Server {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly url: string;
  /** Spawn to ready line, measured here. */
  readonly spawnToReadyMs: number;
  /** What the child says it took (process.uptime() at ready). */
  readonly readyInMs: number | null;
  readonly customersLoaded: number | null;
  /** pino lines at level error or worse since start. */
  errorLogs: number;
  /** pino lines at level warn since start. */
  warnLogs: number;
}

export interface StartOptions {
  /** Extra arguments for node, before the script (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  readonly readyTimeoutMs?: number;
  /** Every JSON line the server prints, with performance.now() when it was read. */
  readonly onLog?: (log: LogLine, at: number) => void;
}

/** Spawns `node script` on a free port of 127.0.0.1 and resolves when it prints `{"msg": readyMsg}`. */
export async function startServer(
  name: string,
  script: string,
  env: Readonly<Record<string, string>>,
  readyMsg: string,
  options: StartOptions = {},
): Promise<Server> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
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
  let customersLoaded: number | null = null;
  const server: { value: Server | null; errorLogs: number; warnLogs: number } = {
    value: null,
    errorLogs: 0,
    warnLogs: 0,
  };

  return new Promise<Server>((resolve, reject) => {
    const timer = setTimeout(() => {
      fail(new Error(`${name} not ready after ${readyTimeoutMs} ms`));
    }, readyTimeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(new Error(`${err.message}\n--- last output of ${name} ---\n${tail.join('\n')}`));
    };
    proc.once('exit', (code, signal) => {
      if (server.value === null) fail(new Error(`${name} exited before it was ready (${code ?? signal})`));
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
      const counts = server.value ?? server;
      if ((log.level ?? 0) >= 50) counts.errorLogs++;
      else if ((log.level ?? 0) >= 40) counts.warnLogs++;
      options.onLog?.(log, performance.now());
      if (log.msg === 'profiles loaded' && typeof log.customers === 'number') customersLoaded = log.customers;
      if (log.msg === readyMsg && server.value === null) {
        clearTimeout(timer);
        server.value = {
          name,
          proc,
          pid: proc.pid!,
          url: `http://127.0.0.1:${port}`,
          spawnToReadyMs: Math.round(performance.now() - started),
          readyInMs: typeof log.readyInMs === 'number' ? log.readyInMs : null,
          customersLoaded,
          errorLogs: server.errorLogs,
          warnLogs: server.warnLogs,
        };
        resolve(server.value);
      }
    });
  });
}

/** SIGTERM, then SIGKILL after 5 s. */
export async function stopServer(server: { readonly proc: ChildProcess }): Promise<void> {
  const { proc } = server;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  // Unref'd: once the server is gone, this timer must not hold the bench open.
  const timeout = sleep(5_000, undefined, { ref: false }).then(() => 'timeout' as const);
  if ((await Promise.race([exited, timeout])) === 'timeout') proc.kill('SIGKILL');
}

// ---------------------------------------------------------------------------------------------
// CPU use, to tell a saturated server from a saturated load generator (2 cores on this machine).

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** CPU time (user + system) of a process so far, from /proc; null when it cannot be read. */
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

export interface CpuMeter {
  /** `pct` of one core, for process `pid` and for this process (the load generator). */
  stop(): { serverPct: number | null; serverMs: number | null; loadgenPct: number };
}

export function cpuMeter(pid: number): CpuMeter {
  const wall = performance.now();
  const server = processCpuMs(pid);
  const own = process.cpuUsage();
  return {
    stop() {
      const elapsed = performance.now() - wall;
      const serverNow = processCpuMs(pid);
      const ownDelta = process.cpuUsage(own);
      return {
        serverPct:
          server !== null && serverNow !== null ? round(((serverNow - server) / elapsed) * 100) : null,
        serverMs: server !== null && serverNow !== null ? serverNow - server : null,
        loadgenPct: round(((ownDelta.user + ownDelta.system) / 1000 / elapsed) * 100),
      };
    },
  };
}

/** All cores together, from /proc/stat: busy and stolen time in % of one core (up to cores × 100). */
export interface MachineMeter {
  stop(): { busyPct: number | null; stealPct: number | null };
}

function machineTicks(): { busy: number; steal: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal …
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const at = (i: number) => f[i] ?? 0;
    // Busy: user, nice, system, irq, softirq (idle and iowait are not).
    return { busy: at(0) + at(1) + at(2) + at(5) + at(6), steal: at(7) };
  } catch {
    return null;
  }
}

export function machineMeter(): MachineMeter {
  const wall = performance.now();
  const start = machineTicks();
  return {
    stop() {
      const elapsed = performance.now() - wall;
      const end = machineTicks();
      if (start === null || end === null) return { busyPct: null, stealPct: null };
      const pct = (ticks: number) => round(((ticks * 1000) / CLOCK_TICKS / elapsed) * 100);
      return { busyPct: pct(end.busy - start.busy), stealPct: pct(end.steal - start.steal) };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Load with autocannon: request bodies dealt out in slices, one slice per connection.

/** What a run sends: one route, the same headers, and slices of bodies (one slice per connection). */
export interface RequestSet {
  readonly route: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly slices: readonly (readonly string[])[];
}

export interface FireOptions {
  readonly duration: number;
  readonly connections: number;
  readonly overallRate?: number;
  /** The slice of bodies the first connection gets (the next ones get the following slices). */
  readonly firstSlice?: number;
  /** Called with each response time in ms (float; autocannon's own histogram rounds to 1 ms) and status. */
  readonly onResponse?: (ms: number, status: number) => void;
  /** Sees every response body; returning false counts a mismatch (autocannon's `mismatches`). */
  readonly verifyBody?: (body: string | Buffer | undefined) => boolean;
  /** Stops the run early; the result covers what was done until then. */
  readonly signal?: AbortSignal;
  /**
   * Called when the clients are set up and the duration starts. Setting up costs this process
   * about 10 µs per request body per connection, before any request is timed.
   */
  readonly onStart?: () => void;
}

/** Gives each new connection its own slice of bodies, so connections do not send in lockstep. */
function sliceDealer(requests: RequestSet, first: number): (client: autocannon.Client) => void {
  let next = first;
  return (client) => {
    const bodies = requests.slices[next++ % requests.slices.length]!;
    client.setRequests(
      bodies.map((body) => ({ method: 'POST', path: requests.route, headers: requests.headers, body })),
    );
  };
}

/** One autocannon run against `url` (the server's base URL). */
export function fire(url: string, requests: RequestSet, opts: FireOptions): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${url}${requests.route}`,
        method: 'POST',
        headers: { ...requests.headers },
        body: requests.slices[0]![0]!,
        connections: opts.connections,
        pipelining: 1,
        duration: opts.duration,
        timeout: 10,
        setupClient: sliceDealer(requests, opts.firstSlice ?? 0),
        ...(opts.verifyBody ? { verifyBody: opts.verifyBody } : {}),
        ...(opts.overallRate !== undefined
          ? { overallRate: opts.overallRate, ignoreCoordinatedOmission: true }
          : {}),
      },
      (err: unknown, result) =>
        err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(result),
    );
    const onResponse = opts.onResponse;
    if (onResponse) instance.on('response', (_client, status, _bytes, ms) => onResponse(ms, status));
    const onStart = opts.onStart;
    if (onStart) instance.once('start', () => onStart());
    const signal = opts.signal;
    if (signal) {
      if (signal.aborted) instance.stop();
      else signal.addEventListener('abort', () => instance.stop(), { once: true });
    }
  });
}

/**
 * The latency runs are split into this many autocannon instances started 1/GROUPS s apart.
 * Autocannon paces with a per-connection budget that refills once a second, so one instance fires
 * each second's requests in a burst; staggered groups spread the bursts over the second.
 */
export const LATENCY_GROUPS = 10;

export interface PacedOptions extends Omit<FireOptions, 'overallRate'> {
  /** Requests per second, over all groups. */
  readonly rate: number;
}

/**
 * A run at a fixed rate, split into staggered autocannon groups (see LATENCY_GROUPS). Each group runs
 * the full duration at its share of the rate, only its start is offset. Groups not yet started when
 * `signal` aborts are skipped, so the array may be shorter than the number of groups.
 */
export async function pacedRun(
  url: string,
  requests: RequestSet,
  opts: PacedOptions,
): Promise<autocannon.Result[]> {
  const groups = pacedGroups(opts.connections, opts.rate);
  const results = await Promise.all(
    Array.from({ length: groups }, async (_, g) => {
      await sleep((g * 1000) / groups);
      if (opts.signal?.aborted) return null;
      const share = (n: number) => Math.floor(n / groups) + (g < n % groups ? 1 : 0);
      const connections = Math.max(1, share(opts.connections));
      return fire(url, requests, {
        ...opts,
        connections,
        firstSlice: (opts.firstSlice ?? 0) + g * connections,
        overallRate: share(opts.rate),
      });
    }),
  );
  return results.filter((r): r is autocannon.Result => r !== null);
}

/** How many groups pacedRun uses for these connections and this rate. */
export function pacedGroups(connections: number, rate: number): number {
  return Math.max(1, Math.min(LATENCY_GROUPS, connections, rate));
}

/** p50 … max in ms (2 decimals) of response times in ms. */
export function latencySummary(times: ArrayLike<number>): {
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
} {
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

// ---------------------------------------------------------------------------------------------
// A look at what the decisions route answers: 200s, known customers, offers.

export interface DecisionSample {
  readonly requests: number;
  readonly ok: number;
  readonly customerKnown: number;
  readonly degraded: number;
  readonly meanOffers: number;
  readonly emptyShare: number;
}

interface DecisionJson {
  readonly customerKnown?: boolean;
  readonly degraded?: boolean;
  readonly offers?: readonly unknown[];
}

/** POSTs each body with fetch, one at a time; throws on any status but 200. */
export async function sampleDecisions(
  server: { readonly name: string; readonly url: string },
  requests: Pick<RequestSet, 'route' | 'headers'>,
  bodies: readonly string[],
): Promise<DecisionSample> {
  let ok = 0;
  let known = 0;
  let degraded = 0;
  let offers = 0;
  let empty = 0;
  for (const body of bodies) {
    const res = await fetch(`${server.url}${requests.route}`, {
      method: 'POST',
      headers: requests.headers,
      body,
    });
    const text = await res.text();
    if (res.status !== 200) {
      throw new Error(`${server.name} answered ${res.status} to ${body}: ${text.slice(0, 500)}`);
    }
    ok++;
    const json = JSON.parse(text) as DecisionJson;
    if (json.customerKnown === true) known++;
    if (json.degraded === true) degraded++;
    const n = json.offers?.length ?? 0;
    offers += n;
    if (n === 0) empty++;
  }
  return {
    requests: bodies.length,
    ok,
    customerKnown: known,
    degraded,
    meanOffers: round(offers / bodies.length, 2),
    emptyShare: round(empty / bodies.length, 3),
  };
}

/** What a run against the decisions route sends: its route and headers, and these slices of bodies. */
export function decisionRequests(slices: readonly (readonly string[])[]): RequestSet {
  return { route: ROUTE, headers: HEADERS, slices };
}

/**
 * Decision request bodies for autocannon: `slices` lists of `perSlice` bodies, each for a customer
 * drawn uniformly from `cust-1`…`cust-<customers>`, a random channel and `limit: 3`; seeded, so
 * that every run of a bench sends the same requests. `drawn` collects the customers drawn.
 */
export function decisionBodies(
  stream: string,
  slices: number,
  perSlice: number,
  customers: number,
  drawn?: Set<number>,
): string[][] {
  const rng = new Rng('42', stream);
  return Array.from({ length: slices }, () =>
    Array.from({ length: perSlice }, () => {
      const n = rng.int(1, customers);
      drawn?.add(n);
      return JSON.stringify({ customerId: `cust-${n}`, channel: rng.pick(CHANNELS), limit: 3 });
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Generated data sets (rules and profiles), made once and reused.

export interface GeneratedData {
  readonly dir: string;
  readonly rules: string;
  readonly profiles: string;
  readonly reused: boolean;
  readonly generateMs: number | null;
}

/**
 * `offerloop generate --offers N --customers N --seed S` into `dir`, once: reused while the
 * `bench-data.json` there names the same parameters (the marker the http bench writes, so that
 * benches on the same parameters share one data set). Its report goes to stderr.
 */
export async function generatedData(
  label: string,
  dir: string,
  params: {
    readonly offers: number;
    readonly customers: number;
    readonly seed: string;
    /** Top-K affinities per customer; default 20 (offerloop generate's). */
    readonly affinities?: number;
  },
): Promise<GeneratedData> {
  const affinities = params.affinities ?? 20;
  const marker = path.join(dir, 'bench-data.json');
  const rules = path.join(dir, 'rules');
  const profiles = path.join(dir, 'profiles.ndjson');
  const want = JSON.stringify({
    offers: params.offers,
    customers: params.customers,
    affinities,
    seed: params.seed,
  });
  if (existsSync(marker) && existsSync(rules) && existsSync(profiles)) {
    if (readFileSync(marker, 'utf8').trim() === want)
      return { dir, rules, profiles, reused: true, generateMs: null };
  }
  process.stderr.write(
    `${label}: generating ${params.offers} offers and ${params.customers} customers into ${dir}\n`,
  );
  await rm(dir, { recursive: true, force: true });
  const started = performance.now();
  const { runGenerate } = await import('../src/cli/generate-command.js');
  // biome-ignore format: one option and its value per line
  const code = await runGenerate(
    [
      '--offers', String(params.offers),
      '--customers', String(params.customers),
      '--affinities', String(affinities),
      '--seed', params.seed,
      // No baskets: benches need only the rules and the profiles.
      '--baskets', '0',
      '--out', dir,
    ],
    { stdout: process.stderr, stderr: process.stderr },
  );
  if (code !== 0) throw new Error(`offerloop generate failed with exit code ${code}`);
  await writeFile(marker, `${want}\n`);
  return { dir, rules, profiles, reused: false, generateMs: Math.round(performance.now() - started) };
}

/** The pids of `pid` and of all its descendants, from /proc (Linux); just `pid` elsewhere. */
export function processTree(pid: number): number[] {
  const parentOf = new Map<number, number>();
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        // The field after the state: ppid.
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        parentOf.set(Number(entry), ppid);
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    return [pid];
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/** CPU time (user + system) of `pid` and all its descendants so far, in ms. */
export function processTreeCpuMs(pid: number): number {
  let total = 0;
  for (const p of processTree(pid)) total += processCpuMs(p) ?? 0;
  return total;
}

// ---------------------------------------------------------------------------------------------
// Redis and `offerloop load` for the benches on Redis (the server itself: test/support/redis.ts).

/** The redis-server binary (BENCH_REDIS_SERVER). */
export const REDIS_SERVER = process.env.BENCH_REDIS_SERVER?.trim() || 'redis-server';

/** As docker/redis.conf: compact hashes, the AOF with fsync every second, no eviction. */
// biome-ignore format: one option and its value per line
export const REDIS_CONF_ARGS: readonly string[] = [
  '--hash-max-listpack-entries', '256',
  '--hash-max-listpack-value', '512',
  '--appendonly', 'yes',
  '--appendfsync', 'everysec',
  '--maxmemory-policy', 'noeviction',
];

/** The offerloop CLI (bin/offerloop → dist/src/cli/main.js). */
export const CLI_SCRIPT = path.join(REPO_ROOT, 'bin', 'offerloop');

/** The JSON line `offerloop load` prints at the end. */
export interface LoadResult {
  readonly version?: number;
  readonly previousVersion?: number | null;
  readonly customers?: number;
  readonly badCount?: number;
  readonly deletedKeys?: number;
}

export interface LoadRun {
  readonly exitCode: number | null;
  readonly wallMs: number;
  /** CPU time of the loader (last /proc sample before it exited); null unless `meterCpu`. */
  readonly cpuMs: number | null;
  /** null when it printed no JSON (the load failed, the tail says why). */
  readonly result: LoadResult | null;
  /** The last 20 lines of its stderr. */
  readonly tail: readonly string[];
}

/**
 * `offerloop load --redis URL --grace G [extraArgs] FILE` (runLoad) in a child process, so that its
 * CPU does not stall the event loop of the bench. `nice` > 0 runs it under nice, `echo` copies its
 * progress to stderr, `meterCpu` samples its CPU time from /proc every 250 ms.
 */
export async function runOfferloopLoad(
  redisUrl: string,
  file: string,
  options: {
    readonly grace: string;
    readonly extraArgs?: readonly string[];
    readonly nice?: number;
    readonly echo?: boolean;
    readonly meterCpu?: boolean;
  },
): Promise<LoadRun> {
  const started = performance.now();
  const nice = options.nice ?? 0;
  const node = [
    process.execPath,
    CLI_SCRIPT,
    'load',
    '--redis',
    redisUrl,
    '--grace',
    options.grace,
    ...(options.extraArgs ?? []),
    file,
  ];
  // nice execs node: the pid stays the loader's.
  const command = nice > 0 ? ['nice', '-n', String(nice), ...node] : node;
  const proc = spawnChild(command[0]!, command.slice(1), {
    // The CLI reads REDIS_PREFIX and REDIS_CLUSTER_NODES too: pin them to what the servers get.
    env: { ...process.env, REDIS_PREFIX: 'offerloop', REDIS_CLUSTER_NODES: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = proc.pid!;
  let cpuMs: number | null = null;
  const poll = options.meterCpu
    ? setInterval(() => {
        cpuMs = processCpuMs(pid) ?? cpuMs;
      }, 250)
    : undefined;
  const tail: string[] = [];
  let stdout = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  // Progress redraws with \r on a terminal; a pipe gets one line per 10 %.
  createInterface({ input: proc.stderr! }).on('line', (line) => {
    const text = line.split('\r').pop() ?? '';
    tail.push(text);
    if (tail.length > 20) tail.shift();
    if (options.echo) process.stderr.write(`  ${text}\n`);
  });
  const exitCode = await new Promise<number | null>((resolve) => {
    proc.once('exit', (c) => resolve(c));
    proc.once('error', () => resolve(null));
  });
  clearInterval(poll);
  const wallMs = Math.round(performance.now() - started);
  let result: LoadResult | null = null;
  try {
    result = JSON.parse(stdout.trim().split('\n').pop() ?? '') as LoadResult;
  } catch {
    // no JSON: the load failed, the tail says why
  }
  return { exitCode, wallMs, cpuMs, result, tail };
}

// ---------------------------------------------------------------------------------------------
// HTTP besides the decisions, and WebSocket sessions (channels), with the bench key.

/** An answer read whole; `at`: performance.now() when it was read. */
export interface HttpAnswer {
  readonly status: number;
  readonly text: string;
  readonly at: number;
}

/** One request with node's client (keep-alive through `agent`), the key, and a JSON body if given. */
export function httpCall(
  base: URL,
  method: 'GET' | 'POST',
  route: string,
  options: { readonly agent: http.Agent; readonly timeoutMs: number; readonly body?: string | undefined },
): Promise<HttpAnswer> {
  const { body, timeoutMs } = options;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        path: route,
        method,
        agent: options.agent,
        headers: {
          authorization: `Bearer ${API_KEY}`,
          ...(body === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
        },
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

/** A WebSocket to `url` with the key in the Authorization header (as server-side clients connect), open. */
export function openSocket(url: string, handshakeTimeoutMs: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: { Authorization: `Bearer ${API_KEY}` },
      perMessageDeflate: false,
      handshakeTimeout: handshakeTimeoutMs,
    });
    const fail = (err: Error) => {
      ws.terminate();
      reject(err);
    };
    ws.once('error', fail);
    ws.once('open', () => {
      ws.off('error', fail);
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
