// HTTP benchmark: POST /v1/decisions of our server against a bare Fastify hello-world POST route
// (bench/hello-server.ts) with the same JSON bodies, side by side in one run. Run: npm run bench:http
// Targets (DESIGN.md §7): decisions ≥ 60% of hello's req/s with a 500-offer catalog; p99 < 5 ms at
// about half the maximum decision rate; start-up with 100k customers < 5 s.
// Prints tables and one JSON line ({"bench":"http",...}); also writes bench/results/http.json.
// Knobs (env): BENCH_DURATION (s per run, default 6), BENCH_ROUNDS (5), BENCH_CONNECTIONS (50),
// BENCH_WARMUP (s, 5), BENCH_LATENCY_DURATION (s, = BENCH_DURATION), BENCH_LATENCY_CONNECTIONS (20),
// BENCH_CUSTOMERS (100000), BENCH_DATA_DIR (default bench/results/data, generated once, then reused),
// BENCH_CPU_PROF=DIR (profile our server with node --cpu-prof; the profile is written at its exit).

import { access, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runGenerate } from '../src/cli/generate-command.js';
import {
  API_KEY,
  CPU_PROF_DIR,
  cpuMeter,
  decisionBodies,
  decisionRequests,
  envNumber,
  fire,
  HELLO_SCRIPT,
  httpKnobs,
  latencySummary,
  machine,
  median,
  pacedGroups,
  pacedRun,
  publishResult,
  RESULTS_DIR,
  round,
  runBench,
  SERVER_SCRIPT,
  type Server,
  sampleDecisions,
  startServer,
  stopServer,
  superviseChildren,
  verdict,
} from './support.js';

const { DURATION, ROUNDS, CONNECTIONS, WARMUP, LATENCY_DURATION, LATENCY_CONNECTIONS } = httpKnobs({
  rounds: 5,
  warmup: 5,
});
const CUSTOMERS = Math.floor(envNumber('BENCH_CUSTOMERS', 100_000));
const OFFERS = 500;
const SEED = '42';
const DATA_DIR = path.resolve(process.env.BENCH_DATA_DIR ?? path.join(RESULTS_DIR, 'data'));

const TARGET_RATIO = 0.6;
const TARGET_P99_MS = 5;
const TARGET_STARTUP_MS = 5_000;

/** Bodies per connection; each connection cycles through its own slice. */
const BODIES_PER_SLICE = 256;
const SLICES = 64;

superviseChildren('http bench');

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

const SLICE_BODIES = decisionBodies('http-bench', SLICES, BODIES_PER_SLICE, CUSTOMERS);

const REQUESTS = decisionRequests(SLICE_BODIES);

// ---------------------------------------------------------------------------------------------
// Load.

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
  const r = await fire(server.url, REQUESTS, { duration, connections: CONNECTIONS });
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
  const times: number[] = [];
  const meter = cpuMeter(server.pid);
  const results = await pacedRun(server.url, REQUESTS, {
    duration: LATENCY_DURATION,
    connections: LATENCY_CONNECTIONS,
    rate,
    onResponse: (ms) => {
      times.push(ms);
    },
  });
  const cpu = meter.stop();
  const sum = (f: (r: (typeof results)[number]) => number) => results.reduce((acc, r) => acc + f(r), 0);
  return {
    targetRate: rate,
    // Each group runs the full duration at its share of the rate, only its start is offset.
    achievedRate: Math.round(times.length / LATENCY_DURATION),
    connections: LATENCY_CONNECTIONS,
    groups: pacedGroups(LATENCY_CONNECTIONS, rate),
    durationS: LATENCY_DURATION,
    responses: times.length,
    ...latencySummary(times),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    serverCpuPct: cpu.serverPct,
    loadgenCpuPct: cpu.loadgenPct,
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
    { nodeArgs: CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : [] },
  );
  const hello = await startServer('hello', HELLO_SCRIPT, {}, 'hello ready');
  process.stderr.write(
    `http bench: offerloop ready in ${offerloop.spawnToReadyMs} ms (it says ${offerloop.readyInMs} ms), ` +
      `hello in ${hello.spawnToReadyMs} ms\n`,
  );

  const sample = await sampleDecisions(offerloop, REQUESTS, SLICE_BODIES.flat().slice(0, 500));
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
  await publishResult('http', summary, problems);
}

runBench('http bench', main);
