// CPU budget of POST /v1/decisions per stage, our server (embedded store, 500 offers, the data of
// bench:http) against hello, side by side with the same bodies. Both run with --cpu-prof; after a
// warm-up, BENCH_ROUNDS closed-loop windows each, alternating. The samples of each profile inside
// its windows (profile startTime + timeDeltas, the same monotonic clock as process.hrtime here) are
// charged to stages by their frame's url or function (self time; a frame with no stage of its own,
// a builtin or a library, to its caller), then divided by the requests answered in the windows.
// Profile time is the main thread's wall time, not CPU: /proc's CPU per request stands beside it.
// Run: npm run bench:cpu-budget. Knobs: BENCH_DURATION (s per window, 5), BENCH_ROUNDS (2),
// BENCH_CONNECTIONS (50), BENCH_CUSTOMERS (100000), BENCH_PIN. Exits 1 when a request failed.

import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  cpuMeters,
  decisionBodies,
  decisionCheck,
  decisionRequests,
  fire,
  generatedData,
  knob,
  measure,
  noteLoggedErrors,
  publishResult,
  round,
  runBench,
  STEADY_WARMUP_S,
  say,
  startHello,
  startOfferloop,
  type Target,
} from './support.js';

const DURATION = knob('DURATION', 5);
const ROUNDS = Math.floor(knob('ROUNDS', 2));
const CONNECTIONS = Math.floor(knob('CONNECTIONS', 50));
const CUSTOMERS = Math.floor(knob('CUSTOMERS', 100_000));
const WARMUP_STEP_S = 3;
const LABEL = 'cpu-budget';
const CONF = {
  offers: 500,
  customers: CUSTOMERS,
  durationS: DURATION,
  rounds: ROUNDS,
  connections: CONNECTIONS,
};

// Stages in the order they are shown. A frame's own stage: by its function for V8's pseudo-frames
// and a few natives, else the first url pattern that matches; none: its caller's stage.
const SOCKET_WRITE = 'kernel socket write';
const BY_URL: readonly (readonly [string, RegExp])[] = [
  ['auth + rate limit', /\/src\/http\/(auth|rate-limiter)\.js/],
  ['validation', /\/node_modules\/ajv\/|\/src\/http\/validation\.js/],
  ['metrics', /\/src\/metrics\//],
  ['overload', /\/src\/http\/overload\.js/],
  ['serialize response', /\/src\/http\/decision-json\.js/],
  ['decision service', /\/src\/service\/decision-(service|result)\.js/],
  ['engine', /\/src\/(engine|ruleset\/expr)\//],
  ['profile + history stores', /\/src\/store\//],
  ['feedback log', /\/src\/feedback\//],
  [
    'http parse + fastify',
    /^node:(_http_|net$|internal\/streams\/|internal\/stream_base_commons|internal\/http)|\/node_modules\/(fastify|@fastify|find-my-way|light-my-request|secure-json-parse|avvio|fast-json-stringify|fast-querystring)\//,
  ],
  ['route handler + other ours', /\/src\/|\/bench\/hello-server\.js/],
];
const PROGRAM = 'native outside JS (program)';
const STAGES = [SOCKET_WRITE, 'idle', 'gc', PROGRAM, ...BY_URL.map(([s]) => s), 'other'];

type Frame = { readonly functionName: string; readonly url: string };
interface CpuProfile {
  readonly nodes: readonly { readonly id: number; readonly callFrame: Frame; readonly children?: number[] }[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}
interface Window {
  readonly fromUs: number;
  readonly toUs: number;
  readonly responses: number;
  readonly cpuMs: number;
  readonly failed: number;
  readonly otherCpuPct: number | null;
}

function ownStage({ functionName: f, url }: Frame): string | null {
  if (f === '(idle)') return 'idle';
  if (f === '(garbage collector)') return 'gc';
  if (f === '(program)') return PROGRAM;
  if (url === '' && /^(writev|writeBuffer|write(Utf8|Latin1|Ascii|Ucs2)String)$/.test(f)) return SOCKET_WRITE;
  if (url === '' && /^validate\d*$/.test(f)) return 'validation'; // Ajv's compiled validators
  return BY_URL.find(([, re]) => re.test(url))?.[0] ?? null;
}

/** Self time (µs) per stage of the samples inside `windows` (µs of the monotonic clock). */
function stageTimes(p: CpuProfile, windows: readonly Window[]): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, string>();
  const stageOf = (id: number): string => {
    let stage = memo.get(id);
    if (stage === undefined) {
      const up = parent.get(id);
      stage = ownStage(byId.get(id)!.callFrame) ?? (up === undefined ? 'other' : stageOf(up));
      memo.set(id, stage);
    }
    return stage;
  };
  const out = new Map<string, number>();
  // Sample i was taken at startTime + the deltas up to i; it stands for the time to the next one.
  for (let i = 0, at = p.startTime; i + 1 < p.samples.length; i++) {
    at += p.timeDeltas[i]!;
    if (!windows.some((w) => at >= w.fromUs && at < w.toUs)) continue;
    const stage = stageOf(p.samples[i]!);
    out.set(stage, (out.get(stage) ?? 0) + p.timeDeltas[i + 1]!);
  }
  return out;
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

/** One closed-loop window: when it ran (first request sent to last answer), answers, server CPU. */
async function window(t: Target, roundNo: number): Promise<Window> {
  const pids = [t.server.pid];
  let meters = cpuMeters(pids);
  let fromUs = 0;
  let toUs = 0;
  let responses = 0;
  const r = await fire(t.server.url, t.requests(roundNo), {
    duration: DURATION,
    connections: CONNECTIONS,
    firstSlice: roundNo * CONNECTIONS,
    ...(t.verifyBody ? { verifyBody: t.verifyBody } : {}),
    onStart: () => {
      meters = cpuMeters(pids);
      fromUs = nowUs();
    },
    onResponse: () => {
      responses++;
      toUs = nowUs();
    },
  });
  const cpu = meters.stop();
  const failed = r.errors + r.timeouts + Math.max(r.non2xx, r.mismatches);
  return { fromUs, toUs, responses, cpuMs: cpu.ms[0]!, failed, otherCpuPct: cpu.otherPct };
}

/** Warm-up in steps of WARMUP_STEP_S s: the server CPU µs per request of each step (the curve). */
async function warmUp(t: Target, seconds: number): Promise<number[]> {
  const curve: number[] = [];
  for (let s = 0; s < seconds; s += WARMUP_STEP_S) {
    curve.push((await measure(t, 0, Math.min(WARMUP_STEP_S, seconds - s), CONNECTIONS)).cpuUsPerReq);
  }
  say(LABEL, `warm-up ${t.name} ${seconds} s: CPU µs/req per ${WARMUP_STEP_S} s ${curve.join(' → ')}`);
  return curve;
}

/** SIGTERM, so that the server writes its profile on the way out; then that profile. */
async function stopAndReadProfile(server: Target['server'], dir: string, problems: string[]) {
  const exited = once(server.proc, 'exit');
  server.proc.kill('SIGTERM');
  const outcome = await Promise.race([exited, sleep(60_000, 'timeout' as const, { ref: false })]);
  if (outcome === 'timeout') throw new Error(`${server.name} did not exit within 60 s of SIGTERM`);
  const [code] = outcome as [number | null];
  if (code !== 0) problems.push(`${server.name} exited with ${code} on SIGTERM`);
  const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`${server.name} wrote no .cpuprofile into ${dir}`);
  return JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CpuProfile;
}

async function main(): Promise<void> {
  const data = await generatedData('http', 500, CUSTOMERS);
  const bodies = decisionBodies('http-bench', 64, 256, CUSTOMERS);
  const requests = () => decisionRequests(bodies);
  const tmp = await mkdtemp(path.join(tmpdir(), 'offerloop-cpu-budget-'));
  const profiling = (name: string) => ({
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${path.join(tmp, name)}`],
  });
  say(LABEL, 'starting offerloop and hello with --cpu-prof…');
  const offerloop = await startOfferloop(
    { OFFERLOOP_RULES: data.rules, OFFERLOOP_PROFILES: data.profiles },
    profiling('decisions'),
  );
  const hello = await startHello(profiling('hello'));
  const check = decisionCheck();
  const targets: Target[] = [
    { name: 'hello', server: hello, requests },
    { name: 'decisions', server: offerloop, requests, verifyBody: check.verify },
  ];
  const warmupCpuUsPerReq = {
    hello: await warmUp(targets[0]!, 2 * WARMUP_STEP_S),
    decisions: await warmUp(targets[1]!, Math.max(DURATION, STEADY_WARMUP_S)),
  };
  const windows = new Map<string, Window[]>(targets.map((t) => [t.name, []]));
  for (let r = 1; r <= ROUNDS; r++) {
    for (const t of targets) {
      say(LABEL, `round ${r}/${ROUNDS} ${t.name} (${DURATION} s)…`);
      windows.get(t.name)!.push(await window(t, r));
    }
  }
  const problems: string[] = [];
  const profiles = {
    hello: await stopAndReadProfile(hello, path.join(tmp, 'hello'), problems),
    decisions: await stopAndReadProfile(offerloop, path.join(tmp, 'decisions'), problems),
  };
  await rm(tmp, { recursive: true, force: true });

  const budget = targets.map(({ name }) => {
    const ws = windows.get(name)!;
    const responses = ws.reduce((a, w) => a + w.responses, 0);
    const wallUs = ws.reduce((a, w) => a + w.toUs - w.fromUs, 0);
    const times = stageTimes(profiles[name as keyof typeof profiles], ws);
    const per = (us: number) => round(us / responses, 1);
    const stages = Object.fromEntries(STAGES.map((s) => [s, per(times.get(s) ?? 0)]));
    const busyUs = [...times].reduce((a, [s, us]) => a + (s === 'idle' ? 0 : us), 0);
    return {
      name,
      responses,
      reqPerSec: Math.round(responses / (wallUs / 1e6)),
      stages,
      mainThreadBusyUsPerReq: per(busyUs),
      wallUsPerReq: per(wallUs),
      cpuUsPerReq: per(ws.reduce((a, w) => a + w.cpuMs * 1000, 0)),
      failed: ws.reduce((a, w) => a + w.failed, 0),
      otherCpuPct: ws.map((w) => w.otherCpuPct),
    };
  });
  const [h, d] = budget as [(typeof budget)[0], (typeof budget)[0]];
  const row = (a: number, b: number) => ({ hello: a, decisions: b, 'decisions − hello': round(b - a, 1) });
  console.table({
    ...Object.fromEntries(STAGES.map((s) => [s, row(h.stages[s]!, d.stages[s]!)])),
    'main thread busy (all but idle)': row(h.mainThreadBusyUsPerReq, d.mainThreadBusyUsPerReq),
    'server CPU from /proc (all threads)': row(h.cpuUsPerReq, d.cpuUsPerReq),
    'req/s in the windows': row(h.reqPerSec, d.reqPerSec),
  });
  say(LABEL, 'µs per request; profile stages are main-thread wall time (writev includes waking the client)');
  if (h.failed + d.failed > 0)
    problems.push(`${h.failed + d.failed} requests failed`, JSON.stringify(check.tally));
  noteLoggedErrors(problems, offerloop);
  const cpuUsPerReq = { hello: h.cpuUsPerReq, decisions: d.cpuUsPerReq };
  await publishResult(LABEL, { config: CONF, warmupCpuUsPerReq, cpuUsPerReq, budget, problems }, problems);
}

runBench(LABEL, main);
