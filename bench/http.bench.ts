// HTTP benchmark: POST /v1/decisions of our server against a bare Fastify hello-world POST route
// (bench/hello-server.ts) with the same JSON bodies, side by side in one run. Run: npm run bench:http
// Targets (DESIGN.md §7): decisions ≥ 60% of hello's req/s with a 500-offer catalog; p99 < 5 ms at
// about half the maximum decision rate; start-up with 100k customers < 5 s.
// Prints tables and one JSON line ({"bench":"http",...}); also writes bench/results/http.json.
// Knobs (env): BENCH_DURATION (s per run, default 6), BENCH_ROUNDS (5), BENCH_CONNECTIONS (50),
// BENCH_WARMUP (s, 5), BENCH_LATENCY_DURATION (s, = BENCH_DURATION), BENCH_LATENCY_CONNECTIONS (20),
// BENCH_CUSTOMERS (100000), BENCH_DATA_DIR (default bench/results/data, generated once, then reused),
// BENCH_CPU_PROF=DIR (profile our server with node --cpu-prof; the profile is written at its exit).

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { access, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { runGenerate } from '../src/cli/generate-command.js';
import { CHANNELS } from '../src/domain/channel.js';
import { Rng } from '../src/sim/random.js';
import {
  envNumber,
  machine,
  median,
  quantileSorted,
  RESULTS_DIR,
  round,
  verdict,
  writeResult,
} from './support.js';

const DURATION = envNumber('BENCH_DURATION', 6);
const ROUNDS = Math.floor(envNumber('BENCH_ROUNDS', 5));
const CONNECTIONS = Math.floor(envNumber('BENCH_CONNECTIONS', 50));
const WARMUP = envNumber('BENCH_WARMUP', 5);
const LATENCY_DURATION = envNumber('BENCH_LATENCY_DURATION', DURATION);
const LATENCY_CONNECTIONS = Math.floor(envNumber('BENCH_LATENCY_CONNECTIONS', 20));
const CUSTOMERS = Math.floor(envNumber('BENCH_CUSTOMERS', 100_000));
const OFFERS = 500;
const SEED = '42';
const DATA_DIR = path.resolve(process.env.BENCH_DATA_DIR ?? path.join(RESULTS_DIR, 'data'));
/** Diagnostic: run our server under `node --cpu-prof` and write the profile here when it stops. */
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : null;

const TARGET_RATIO = 0.6;
const TARGET_P99_MS = 5;
const TARGET_STARTUP_MS = 5_000;
const READY_TIMEOUT_MS = 120_000;

const API_KEY = 'bench-key';
const ROUTE = '/v1/decisions';
const HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` };
/** Bodies per connection; each connection cycles through its own slice. */
const BODIES_PER_SLICE = 256;
const SLICES = 64;
/**
 * The latency run is split into this many autocannon instances started 1/GROUPS s apart. Autocannon
 * paces with a per-connection budget that refills once a second, so one instance fires each
 * second's requests in a burst; staggered groups spread the bursts over the second.
 */
const LATENCY_GROUPS = 10;

const HELLO_SCRIPT = fileURLToPath(new URL('./hello-server.js', import.meta.url));
const SERVER_SCRIPT = fileURLToPath(new URL('../src/main.js', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Child processes: both servers run outside this process, so that the load generator does not
// share an event loop with them. Whatever happens, they die with us.

const children = new Set<ChildProcess>();

function killChildren(): void {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\nhttp bench: ${signal}, stopping the servers\n`);
    killChildren();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

interface LogLine {
  readonly level?: number;
  readonly msg?: string;
  readonly readyInMs?: number;
  readonly customers?: number;
}

interface Server {
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
}

async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const address = probe.address();
  probe.close();
  await once(probe, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port from the probe');
  return address.port;
}

async function startServer(
  name: string,
  script: string,
  env: Readonly<Record<string, string>>,
  readyMsg: string,
  nodeArgs: readonly string[] = [],
): Promise<Server> {
  const port = await freePort();
  const started = performance.now();
  const proc = spawn(process.execPath, [...nodeArgs, script], {
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  const tail: string[] = [];
  const remember = (line: string) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
  };
  let customersLoaded: number | null = null;
  const server: { value: Server | null; errorLogs: number } = { value: null, errorLogs: 0 };

  return new Promise<Server>((resolve, reject) => {
    const timer = setTimeout(() => {
      fail(new Error(`${name} not ready after ${READY_TIMEOUT_MS} ms`));
    }, READY_TIMEOUT_MS);
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
      if ((log.level ?? 0) >= 50) {
        if (server.value) server.value.errorLogs++;
        else server.errorLogs++;
      }
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
        };
        resolve(server.value);
      }
    });
  });
}

async function stopServer(server: Server): Promise<void> {
  const { proc } = server;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  // Unref'd: once the server is gone, this timer must not hold the bench open.
  const timeout = sleep(5_000, undefined, { ref: false }).then(() => 'timeout' as const);
  if ((await Promise.race([exited, timeout])) === 'timeout') proc.kill('SIGKILL');
}

// ---------------------------------------------------------------------------------------------
// Data: `offerloop generate --offers 500 --customers 100000` once, reused while the parameters match.

interface DataSet {
  readonly dir: string;
  readonly reused: boolean;
  readonly generateMs: number | null;
}

async function prepareData(): Promise<DataSet> {
  const marker = path.join(DATA_DIR, 'bench-data.json');
  const want = JSON.stringify({ offers: OFFERS, customers: CUSTOMERS, seed: SEED });
  try {
    const same = (await readFile(marker, 'utf8')).trim() === want;
    await access(path.join(DATA_DIR, 'rules'));
    await access(path.join(DATA_DIR, 'profiles.ndjson'));
    if (same) return { dir: DATA_DIR, reused: true, generateMs: null };
  } catch {
    // no marker or missing files: generate
  }
  process.stderr.write(
    `http bench: generating ${OFFERS} offers and ${CUSTOMERS} customers into ${DATA_DIR}\n`,
  );
  await rm(DATA_DIR, { recursive: true, force: true });
  const started = performance.now();
  // Its report goes to stderr: stdout carries only our tables and the JSON line.
  const code = await runGenerate(
    ['--offers', String(OFFERS), '--customers', String(CUSTOMERS), '--seed', SEED, '--out', DATA_DIR],
    { stdout: process.stderr, stderr: process.stderr },
  );
  if (code !== 0) throw new Error(`offerloop generate failed with exit code ${code}`);
  await writeFile(marker, `${want}\n`);
  return { dir: DATA_DIR, reused: false, generateMs: Math.round(performance.now() - started) };
}

// ---------------------------------------------------------------------------------------------
// Request bodies: random customers and channels, drawn once, identical for both targets.

function drawSlices(): string[][] {
  const rng = new Rng(SEED, 'http-bench');
  return Array.from({ length: SLICES }, () =>
    Array.from({ length: BODIES_PER_SLICE }, () =>
      JSON.stringify({ customerId: `cust-${rng.int(1, CUSTOMERS)}`, channel: rng.pick(CHANNELS), limit: 3 }),
    ),
  );
}

const SLICE_BODIES = drawSlices();

/** Gives each new connection its own slice of bodies, so connections do not send in lockstep. */
function sliceDealer(first = 0): (client: autocannon.Client) => void {
  let next = first;
  return (client) => {
    const bodies = SLICE_BODIES[next++ % SLICE_BODIES.length]!;
    client.setRequests(bodies.map((body) => ({ method: 'POST', path: ROUTE, headers: HEADERS, body })));
  };
}

// ---------------------------------------------------------------------------------------------
// CPU use, to tell a saturated server from a saturated load generator (2 cores: one each).

const CLOCK_TICKS = 100; // USER_HZ on Linux

function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the state field.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

interface CpuMeter {
  stop(): { serverPct: number | null; serverMs: number | null; loadgenPct: number };
}

function cpuMeter(pid: number): CpuMeter {
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

// ---------------------------------------------------------------------------------------------
// Load.

interface RunOptions {
  readonly duration: number;
  readonly connections: number;
  readonly overallRate?: number;
  /** The slice of bodies the first connection gets (the next ones get the following slices). */
  readonly firstSlice?: number;
  /** Called with each response time in ms (float); autocannon's own histogram rounds to 1 ms. */
  readonly onResponse?: (ms: number) => void;
}

function fire(server: Server, opts: RunOptions): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${server.url}${ROUTE}`,
        method: 'POST',
        headers: HEADERS,
        body: SLICE_BODIES[0]![0]!,
        connections: opts.connections,
        pipelining: 1,
        duration: opts.duration,
        timeout: 10,
        setupClient: sliceDealer(opts.firstSlice),
        ...(opts.overallRate !== undefined
          ? { overallRate: opts.overallRate, ignoreCoordinatedOmission: true }
          : {}),
      },
      (err: unknown, result) =>
        err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(result),
    );
    const onResponse = opts.onResponse;
    if (onResponse) instance.on('response', (_client, _status, _bytes, ms) => onResponse(ms));
  });
}

interface RunFigures {
  round: number | 'warm-up';
  target: string;
  reqPerSec: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Server CPU time per response: less disturbed by other load on the machine than req/s. */
  serverCpuUsPerReq: number | null;
  serverCpuPct: number | null;
  loadgenCpuPct: number;
  bytesPerResponse: number;
}

async function measure(server: Server, roundNo: RunFigures['round'], duration: number): Promise<RunFigures> {
  const meter = cpuMeter(server.pid);
  const r = await fire(server, { duration, connections: CONNECTIONS });
  const cpu = meter.stop();
  if (r.non2xx > 0 || r.errors > 0) {
    process.stderr.write(
      `http bench: ${server.name} round ${roundNo}: ${r.non2xx} non-2xx, ${r.errors} errors ` +
        `${JSON.stringify(r.statusCodeStats)}\n`,
    );
  }
  return {
    round: roundNo,
    target: server.name,
    reqPerSec: Math.round(r.requests.average),
    requests: r.requests.total,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    serverCpuUsPerReq:
      cpu.serverMs !== null && r.requests.total > 0
        ? round((cpu.serverMs * 1000) / r.requests.total, 1)
        : null,
    serverCpuPct: cpu.serverPct,
    loadgenCpuPct: cpu.loadgenPct,
    bytesPerResponse: r.requests.total > 0 ? Math.round(r.throughput.total / r.requests.total) : 0,
  };
}

interface LatencyFigures {
  targetRate: number;
  achievedRate: number;
  connections: number;
  groups: number;
  durationS: number;
  responses: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  serverCpuPct: number | null;
  loadgenCpuPct: number;
}

async function latencyRun(server: Server, rate: number): Promise<LatencyFigures> {
  const groups = Math.max(1, Math.min(LATENCY_GROUPS, LATENCY_CONNECTIONS, rate));
  const times: number[] = [];
  const record = (ms: number) => {
    times.push(ms);
  };
  const meter = cpuMeter(server.pid);
  const results = await Promise.all(
    Array.from({ length: groups }, async (_, g) => {
      await sleep((g * 1000) / groups);
      const share = (n: number) => Math.floor(n / groups) + (g < n % groups ? 1 : 0);
      const connections = Math.max(1, share(LATENCY_CONNECTIONS));
      return fire(server, {
        duration: LATENCY_DURATION,
        connections,
        firstSlice: g * connections,
        overallRate: share(rate),
        onResponse: record,
      });
    }),
  );
  const cpu = meter.stop();
  const sorted = Float64Array.from(times).sort();
  const sum = (f: (r: autocannon.Result) => number) => results.reduce((acc, r) => acc + f(r), 0);
  const q = (p: number) => round(quantileSorted(sorted, p), 2);
  return {
    targetRate: rate,
    // Each group runs the full duration at its share of the rate, only its start is offset.
    achievedRate: Math.round(times.length / LATENCY_DURATION),
    connections: LATENCY_CONNECTIONS,
    groups,
    durationS: LATENCY_DURATION,
    responses: times.length,
    p50Ms: q(0.5),
    p90Ms: q(0.9),
    p99Ms: q(0.99),
    p999Ms: q(0.999),
    maxMs: round(sorted[sorted.length - 1] ?? Number.NaN, 2),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    serverCpuPct: cpu.serverPct,
    loadgenCpuPct: cpu.loadgenPct,
  };
}

// ---------------------------------------------------------------------------------------------
// A look at what the decisions route answers before loading it: 200s, known customers, offers.

interface DecisionSample {
  readonly requests: number;
  readonly ok: number;
  readonly customerKnown: number;
  readonly meanOffers: number;
  readonly emptyShare: number;
}

interface DecisionJson {
  readonly customerKnown?: boolean;
  readonly offers?: readonly unknown[];
}

async function sampleDecisions(server: Server, bodies: readonly string[]): Promise<DecisionSample> {
  let ok = 0;
  let known = 0;
  let offers = 0;
  let empty = 0;
  for (const body of bodies) {
    const res = await fetch(`${server.url}${ROUTE}`, { method: 'POST', headers: HEADERS, body });
    const text = await res.text();
    if (res.status !== 200) {
      throw new Error(`${server.name} answered ${res.status} to ${body}: ${text.slice(0, 500)}`);
    }
    ok++;
    const json = JSON.parse(text) as DecisionJson;
    if (json.customerKnown === true) known++;
    const n = json.offers?.length ?? 0;
    offers += n;
    if (n === 0) empty++;
  }
  return {
    requests: bodies.length,
    ok,
    customerKnown: known,
    meanOffers: round(offers / bodies.length, 2),
    emptyShare: round(empty / bodies.length, 3),
  };
}

// ---------------------------------------------------------------------------------------------

function failures(runs: readonly { non2xx: number; errors: number; target?: string }[]): string[] {
  return runs
    .filter((r) => r.non2xx > 0 || r.errors > 0)
    .map((r) => `${r.target ?? 'latency run'}: ${r.non2xx} non-2xx, ${r.errors} errors`);
}

async function main(): Promise<void> {
  const data = await prepareData();

  // Ours first and alone, so that its start-up time is not shared with anything else.
  process.stderr.write('http bench: starting offerloop…\n');
  const offerloop = await startServer(
    'decisions',
    SERVER_SCRIPT,
    {
      OFFERLOOP_RULES: path.join(data.dir, 'rules'),
      OFFERLOOP_PROFILES: path.join(data.dir, 'profiles.ndjson'),
      OFFERLOOP_API_KEYS: `${API_KEY}=decide`,
      OFFERLOOP_WATCH_RULES: 'false',
      // 'offerloop ready' and 'profiles loaded' are info lines; no request is logged at info.
      OFFERLOOP_LOG_LEVEL: 'info',
    },
    'offerloop ready',
    CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : [],
  );
  const hello = await startServer('hello', HELLO_SCRIPT, {}, 'hello ready');
  process.stderr.write(
    `http bench: offerloop ready in ${offerloop.spawnToReadyMs} ms (it says ${offerloop.readyInMs} ms), ` +
      `hello in ${hello.spawnToReadyMs} ms\n`,
  );

  const sample = await sampleDecisions(offerloop, SLICE_BODIES.flat().slice(0, 500));
  if (sample.customerKnown !== sample.requests) {
    throw new Error(
      `only ${sample.customerKnown} of ${sample.requests} sampled customers are known: profiles not loaded?`,
    );
  }

  process.stderr.write(`http bench: warm-up ${WARMUP} s each…\n`);
  const warmups = [await measure(hello, 'warm-up', WARMUP), await measure(offerloop, 'warm-up', WARMUP)];

  const runs: RunFigures[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    for (const server of [hello, offerloop]) {
      process.stderr.write(`http bench: round ${r}/${ROUNDS} ${server.name} (${DURATION} s)…\n`);
      runs.push(await measure(server, r, DURATION));
    }
  }
  const medianOf = (name: string) => median(runs.filter((x) => x.target === name).map((x) => x.reqPerSec));
  const helloRps = medianOf('hello');
  const decisionsRps = medianOf('decisions');
  const ratio = decisionsRps / helloRps;
  const cpuOf = (name: string) => {
    const xs = runs.filter((x) => x.target === name).map((x) => x.serverCpuUsPerReq);
    return xs.every((x) => x !== null) ? median(xs as number[]) : null;
  };
  const helloCpu = cpuOf('hello');
  const decisionsCpu = cpuOf('decisions');
  // The same question asked of CPU time: how many decisions one core serves per hello it serves.
  const cpuRatio = helloCpu !== null && decisionsCpu !== null ? helloCpu / decisionsCpu : null;

  const rate = Math.max(1, Math.round(decisionsRps / 2));
  process.stderr.write(`http bench: latency run at ${rate} decisions/s (${LATENCY_DURATION} s)…\n`);
  const latency = await latencyRun(offerloop, rate);

  await Promise.all([stopServer(hello), stopServer(offerloop)]);

  console.table([...warmups, ...runs]);
  console.table({
    'hello (median req/s)': { value: Math.round(helloRps), target: '', verdict: '' },
    'decisions (median req/s)': { value: Math.round(decisionsRps), target: '', verdict: '' },
    'ratio decisions / hello': {
      value: round(ratio, 3),
      target: `≥ ${TARGET_RATIO}`,
      verdict: verdict(ratio >= TARGET_RATIO),
    },
    'server CPU µs/req hello (median)': { value: helloCpu ?? Number.NaN, target: '', verdict: '' },
    'server CPU µs/req decisions (median)': { value: decisionsCpu ?? Number.NaN, target: '', verdict: '' },
    'CPU ratio hello µs / decisions µs': {
      value: cpuRatio === null ? Number.NaN : round(cpuRatio, 3),
      target: 'info',
      verdict: '',
    },
    [`latency p50 ms @ ${latency.achievedRate}/s`]: { value: latency.p50Ms, target: '', verdict: '' },
    [`latency p90 ms @ ${latency.achievedRate}/s`]: { value: latency.p90Ms, target: '', verdict: '' },
    [`latency p99 ms @ ${latency.achievedRate}/s`]: {
      value: latency.p99Ms,
      target: `< ${TARGET_P99_MS}`,
      verdict: verdict(latency.p99Ms < TARGET_P99_MS),
    },
    [`latency max ms @ ${latency.achievedRate}/s`]: { value: latency.maxMs, target: '', verdict: '' },
    'start-up: spawn → ready ms': {
      value: offerloop.spawnToReadyMs,
      target: `< ${TARGET_STARTUP_MS}`,
      verdict: verdict(offerloop.spawnToReadyMs < TARGET_STARTUP_MS),
    },
    'start-up: readyInMs logged': { value: offerloop.readyInMs ?? Number.NaN, target: '', verdict: '' },
  });

  const problems = failures([...warmups, ...runs, latency]);
  const errorLogs = offerloop.errorLogs;
  if (errorLogs > 0) problems.push(`offerloop logged ${errorLogs} error lines`);
  const summary = {
    bench: 'http',
    ...machine(),
    config: {
      offers: OFFERS,
      customers: CUSTOMERS,
      durationS: DURATION,
      rounds: ROUNDS,
      connections: CONNECTIONS,
      pipelining: 1,
      warmupS: WARMUP,
      distinctBodies: SLICES * BODIES_PER_SLICE,
    },
    data: { ...data, dir: path.relative(process.cwd(), data.dir) || '.' },
    startup: {
      spawnToReadyMs: offerloop.spawnToReadyMs,
      readyInMs: offerloop.readyInMs,
      customersLoaded: offerloop.customersLoaded,
      target: TARGET_STARTUP_MS,
      pass: offerloop.spawnToReadyMs < TARGET_STARTUP_MS,
    },
    sample,
    warmups,
    runs,
    medians: { helloReqPerSec: Math.round(helloRps), decisionsReqPerSec: Math.round(decisionsRps) },
    ratio: { value: round(ratio, 3), target: TARGET_RATIO, pass: ratio >= TARGET_RATIO },
    serverCpuUsPerReq: {
      hello: helloCpu,
      decisions: decisionsCpu,
      ratio: cpuRatio === null ? null : round(cpuRatio, 3),
    },
    latency: { ...latency, target: TARGET_P99_MS, pass: latency.p99Ms < TARGET_P99_MS },
    ok: problems.length === 0,
    problems,
  };
  console.log(JSON.stringify(summary));
  const file = await writeResult('http', summary);
  process.stderr.write(`http bench: wrote ${file}\n`);
  if (problems.length > 0) {
    process.stderr.write(`\nhttp bench: FAILED, requests went wrong:\n  ${problems.join('\n  ')}\n`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`http bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  killChildren();
  process.exit(1);
});
