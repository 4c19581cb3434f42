// Channels benchmark: the call center's push path, WebSocket connections and website banners.
// Run: npm run bench:ops:channels (about 3 minutes). Our server runs embedded, with the example
// rules and BENCH_CUSTOMERS demo customers; the WebSocket clients and autocannon run in this process.
//  1. Connections: opens BENCH_SESSIONS (10,000) sessions to /v1/ws in four steps, each subscribed to
//     its own agent, and reads the server's RSS (/proc) 2 s after each step: bytes per connection is
//     the slope, and roughly equal steps mean memory per connection is flat. Every session must answer
//     a ping.
//  2. Push latency: `call.started` events for random agents and distinct customers at 200/s (open
//     loop), from just before the request is sent to the moment the agent's client reads the push:
//     first with every session open for one heartbeat and 2 s (information: the heartbeat's cost), then
//     with 1,000 sessions (the target).
//  3. Banners: GET /v1/banners/home-hero against hello's GET route at the same URLs, side by side.
// Targets: push p99 < 10 ms (1,000 sessions); all sessions held and answering, memory per connection
// flat; banner req/s ≥ 0.60 × hello's. Knobs: BENCH_SESSIONS (10000), BENCH_CUSTOMERS (100000),
// BENCH_DURATION (s per banner run, 6), BENCH_ROUNDS (5), BENCH_CONNECTIONS (autocannon, 50).
// BENCH_ONLY=banners runs part 3 alone (no sessions, no pushes): the cheap way to compare banners.
// Exits 1 when a session failed to open or answer, a push was lost, a request failed, or the server
// logged an error.

import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RawData, WebSocket } from 'ws';
import { Rng } from '../../src/domain/random.js';
import {
  closeSocket,
  cpuMeters,
  httpCall,
  knob,
  latencySummary,
  noteLoggedErrors,
  openSocket,
  publishResult,
  REPO_ROOT,
  type RequestSet,
  ratios,
  round,
  runBench,
  type Server,
  say,
  sideBySide,
  startHello,
  startOfferloop,
  stopServer,
  tableRow,
} from '../support.js';

const SESSIONS = Math.floor(knob('SESSIONS', 10_000));
const CUSTOMERS = Math.floor(knob('CUSTOMERS', 100_000));
const DURATION = knob('DURATION', 6);
const ROUNDS = Math.floor(knob('ROUNDS', 5));
const CONNECTIONS = Math.floor(knob('CONNECTIONS', 50));
const ONLY = process.env.BENCH_ONLY ?? '';
if (ONLY !== '' && ONLY !== 'banners') throw new Error(`BENCH_ONLY: 'banners' or nothing, not '${ONLY}'`);
/** Only the banner comparison: no sessions opened, no call pushed. */
const BANNERS_ONLY = ONLY === 'banners';
const PUSH_SESSIONS = Math.min(SESSIONS, 1_000);
const PUSH_RATE = 200;
const PUSH_EVENTS = 2_000;
const HEARTBEAT_MS = 30_000;
const PUSH_EVENTS_AT_MAX = (HEARTBEAT_MS / 1000 + 2) * PUSH_RATE;
const BANNER_KEY = 'bench-pk';
const TARGET_PUSH_P99_MS = 10;
const TARGET_RATIO = 0.6;
const label = 'channels';

// ---------------------------------------------------------------------------------------------
// The server's memory and sockets, from /proc.

function serverMemory(pid: number, connections: number) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
  return { connections, rssMb: round(rssKb / 1024, 1), fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** Least-squares slope of y over x. */
function slope(points: readonly (readonly [number, number])[]): number {
  const mx = points.reduce((a, [x]) => a + x, 0) / points.length;
  const my = points.reduce((a, [, y]) => a + y, 0) / points.length;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return num / den;
}

/** Runs `task` for each index in [from, to) with at most `concurrency` at a time. */
async function forEach(from: number, to: number, concurrency: number, task: (i: number) => Promise<void>) {
  let next = from;
  const worker = async () => {
    while (next < to) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, to - from) }, worker));
}

// ---------------------------------------------------------------------------------------------
// Agent desktops: a WebSocket each, subscribed to its agent; pushes resolve what a call waits for.

interface Message {
  readonly type?: string;
  readonly id?: string;
  readonly callId?: string;
  readonly agentId?: string;
}

const expected = new Map<string, { readonly agentId: string; readonly resolve: (at: number) => void }>();
const trouble = { unexpectedCloses: 0, wrongPushes: 0 };

class Agent {
  private readonly waiters = new Map<string, (m: Message, at: number) => void>();
  private closing = false;

  constructor(
    readonly ws: WebSocket,
    readonly agentId: string,
  ) {
    ws.on('message', (data: RawData) => {
      const at = performance.now();
      const message = JSON.parse(data.toString()) as Message;
      if (message.type === 'call') {
        const wanted = expected.get(message.callId ?? '');
        if (wanted === undefined || wanted.agentId !== agentId) trouble.wrongPushes++;
        else wanted.resolve(at);
        return;
      }
      this.waiters.get(message.id ?? '')?.(message, at);
      this.waiters.delete(message.id ?? '');
    });
    ws.on('close', () => {
      if (!this.closing) trouble.unexpectedCloses++;
    });
  }

  /** Sends a request and resolves with the answer and its round trip in ms. */
  request(type: string, fields: Record<string, string> = {}): Promise<{ message: Message; ms: number }> {
    const id = `${type}-${Math.random()}`;
    const sent = performance.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${type}`)), 10_000);
      this.waiters.set(id, (message, at) => {
        clearTimeout(timer);
        resolve({ message, ms: at - sent });
      });
      this.ws.send(JSON.stringify({ type, id, ...fields }));
    });
  }

  close(): Promise<void> {
    this.closing = true;
    return closeSocket(this.ws);
  }
}

/** `events` call.started at PUSH_RATE/s, open loop, for random agents among the first `agents`. */
async function pushRun(server: Server, events: number, agents: number, customers: Int32Array, first: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const rng = new Rng('42', `channels-agents-${agents}`);
  const base = new URL(server.url);
  const push: number[] = [];
  const roundTrip: number[] = [];
  let lost = 0;
  /** Calls not answered 200, by status (0: no answer). */
  const statuses = new Map<number, number>();
  const one = async (i: number) => {
    const agentId = `agent-${rng.int(1, agents)}`;
    const callId = `c-${agents}-${i}`;
    const pushed = new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 5_000);
      const done = (at: number) => {
        clearTimeout(timer);
        resolve(at);
      };
      expected.set(callId, { agentId, resolve: done });
    });
    const body = JSON.stringify({
      type: 'call.started',
      callId,
      agentId,
      customerId: `cust-${customers[first + i]}`,
    });
    const t0 = performance.now();
    const answer = await httpCall(base, 'POST', '/v1/interactions/calls', {
      agent,
      timeoutMs: 10_000,
      body,
    }).catch(() => null);
    if (answer?.status === 200) roundTrip.push(answer.at - t0);
    else statuses.set(answer?.status ?? 0, (statuses.get(answer?.status ?? 0) ?? 0) + 1);
    const at = await pushed;
    expected.delete(callId);
    // A refused call pushes nothing: only an answered one can lose its push.
    if (at !== null) push.push(at - t0);
    else if (answer?.status === 200) lost++;
  };
  const meters = cpuMeters([server.pid]);
  const started = performance.now();
  const all: Promise<void>[] = [];
  for (let i = 0; i < events; i++) {
    const wait = started + (i * 1000) / PUSH_RATE - performance.now();
    if (wait > 1) await sleep(wait);
    all.push(one(i));
  }
  await Promise.all(all);
  const cpu = meters.stop();
  agent.destroy();
  return {
    sessions: agents,
    events,
    push: latencySummary(push),
    http: latencySummary(roundTrip),
    over10Ms: push.filter((ms) => ms >= TARGET_PUSH_P99_MS).length,
    lost,
    failed: [...statuses.values()].reduce((a, b) => a + b, 0),
    statuses: JSON.stringify(Object.fromEntries(statuses)),
    serverCpuUsPerEvent: round((cpu.ms[0]! * 1000) / events, 1),
  };
}

/** Parts 1 and 2: sessions and their memory, then push latency; the sessions are closed after. */
async function sessionsAndPushes(ours: Server, customers: Int32Array) {
  const wsUrl = `${ours.url.replace(/^http/, 'ws')}/v1/ws`;

  // 1. Connections and memory.
  await sleep(2_000);
  const memory = [serverMemory(ours.pid, 0)];
  const agents: (Agent | null)[] = new Array<Agent | null>(SESSIONS).fill(null);
  let openFailures = 0;
  let whyNot = '';
  for (let step = 1; step <= 4; step++) {
    const [from, to] = [Math.round(((step - 1) * SESSIONS) / 4), Math.round((step * SESSIONS) / 4)];
    say(label, `opening sessions ${from + 1}…${to}…`);
    await forEach(from, to, 100, async (i) => {
      try {
        const agent = new Agent(await openSocket(wsUrl, 10_000), `agent-${i + 1}`);
        agents[i] = agent;
        const { message } = await agent.request('subscribe', { agentId: agent.agentId });
        if (message.type !== 'result') throw new Error(JSON.stringify(message));
      } catch (err) {
        openFailures++;
        whyNot ||= String(err);
      }
    });
    await sleep(2_000);
    memory.push(serverMemory(ours.pid, to));
  }
  const pings: number[] = [];
  await forEach(0, SESSIONS, 200, async (i) => {
    const answer = await agents[i]?.request('ping').catch(() => null);
    if (answer?.message.type === 'result') pings.push(answer.ms);
  });
  const stepBytes = memory
    .slice(1)
    .map((m, i) => ((m.rssMb - memory[i]!.rssMb) * 2 ** 20) / (m.connections - memory[i]!.connections));
  const bytesPerConnection = Math.round(
    slope(memory.map((m) => [m.connections, m.rssMb * 2 ** 20] as const)),
  );
  const flat = stepBytes.every((b) => b > 0) && Math.max(...stepBytes) / Math.min(...stepBytes) <= 2;

  // 2. Push latency: every session open (information), then PUSH_SESSIONS (the target).
  say(label, `push: ${PUSH_EVENTS_AT_MAX} calls at ${PUSH_RATE}/s with ${SESSIONS} sessions…`);
  const pushAtMax = await pushRun(ours, PUSH_EVENTS_AT_MAX, SESSIONS, customers, 0);
  await Promise.all(agents.slice(PUSH_SESSIONS).map((a) => a?.close()));
  say(label, `push: ${PUSH_EVENTS} calls with ${PUSH_SESSIONS} sessions…`);
  const push = await pushRun(ours, PUSH_EVENTS, PUSH_SESSIONS, customers, PUSH_EVENTS_AT_MAX);
  await Promise.all(agents.slice(0, PUSH_SESSIONS).map((a) => a?.close()));

  console.table(
    memory.map((m, i) => ({ ...m, 'bytes/conn (step)': i === 0 ? '' : Math.round(stepBytes[i - 1]!) })),
  );
  console.table(
    [pushAtMax, push].map(({ push: p, http: h, ...rest }) => ({
      ...rest,
      'push p50/p99/max ms': `${p.p50Ms} / ${p.p99Ms} / ${p.maxMs}`,
      'http p50/p99 ms': `${h.p50Ms} / ${h.p99Ms}`,
    })),
  );
  const verdicts = {
    [`push p99 ms (${PUSH_SESSIONS} sessions)`]: tableRow(
      push.push.p99Ms,
      `< ${TARGET_PUSH_P99_MS}`,
      push.push.p99Ms < TARGET_PUSH_P99_MS,
    ),
    [`push p99 / max ms (${SESSIONS} sessions, a heartbeat)`]: tableRow(
      `${pushAtMax.push.p99Ms} / ${pushAtMax.push.maxMs}`,
      'info',
    ),
    'sessions held / answering ping': tableRow(
      `${SESSIONS - openFailures} / ${pings.length}`,
      `${SESSIONS}`,
      openFailures === 0 && pings.length === SESSIONS,
    ),
    'bytes per connection (slope; steps)': tableRow(
      `${bytesPerConnection} (${stepBytes.map(Math.round).join(', ')})`,
      'flat (max/min ≤ 2)',
      flat,
    ),
  };
  const problems: string[] = [];
  if (openFailures > 0 || pings.length < SESSIONS)
    problems.push(
      `${openFailures} sessions failed (${whyNot}), ${SESSIONS - pings.length} did not answer ping`,
    );
  for (const p of [pushAtMax, push])
    if (p.lost + p.failed > 0)
      problems.push(`${p.sessions} sessions: ${p.lost} pushes lost, ${p.failed} calls failed ${p.statuses}`);
  if (trouble.unexpectedCloses + trouble.wrongPushes > 0) problems.push(JSON.stringify(trouble));
  return {
    verdicts,
    problems,
    figures: { memory, bytesPerConnection, stepBytes, ping: latencySummary(pings), pushAtMax, push },
  };
}

/** Part 3: banners against hello, side by side, each connection cycling through its own customers. */
async function banners(ours: Server, customers: readonly number[]) {
  const paths = customers.map((n) => `/v1/banners/home-hero?customerId=cust-${n}&key=${BANNER_KEY}`);
  const slices = Array.from({ length: Math.floor(paths.length / 500) }, (_, i) =>
    paths.slice(i * 500, (i + 1) * 500),
  );
  const requests: RequestSet = { route: slices[0]![0]!, method: 'GET', headers: {}, slices };
  const hello = await startHello();
  const c = await sideBySide(
    label,
    [
      { name: 'hello', server: hello, requests: () => requests },
      { name: 'banner', server: ours, requests: () => requests, verifyBody: (b) => b.includes('"default":') },
    ],
    { rounds: ROUNDS, duration: DURATION, warmup: Math.min(3, DURATION), connections: CONNECTIONS },
  );
  await stopServer(hello);
  const r = ratios(c, 'banner');
  const verdicts = {
    'hello / banner (median req/s)': tableRow(`${r.reqPerSec.hello} / ${r.reqPerSec.banner}`),
    'server CPU µs per request, hello / banner': tableRow(`${r.cpuUsPerReq.hello} / ${r.cpuUsPerReq.banner}`),
    'ratio banner / hello (CPU ratio)': tableRow(
      `${r.ratio} (${r.cpuRatio})`,
      `≥ ${TARGET_RATIO}`,
      r.ratio >= TARGET_RATIO,
    ),
  };
  return { verdicts, r, runs: [...c.warmups, ...c.runs] };
}

async function main(): Promise<void> {
  const rng = new Rng('42', 'channels-customers');
  // Call events take distinct customers from the front (the example rules pitch a customer by phone
  // at most once a week), banners take the rest.
  const customers = Int32Array.from(rng.shuffle(Array.from({ length: CUSTOMERS }, (_, i) => i + 1)));
  const calls = PUSH_EVENTS + PUSH_EVENTS_AT_MAX;
  const ours = await startOfferloop({
    OFFERLOOP_RULES: path.join(REPO_ROOT, 'rules'),
    OFFERLOOP_DEMO_CUSTOMERS: String(CUSTOMERS),
    OFFERLOOP_API_KEYS: `bench-key=decide+feedback;rate=10000000,${BANNER_KEY}=banner;rate=10000000;ipRate=10000000`,
    OFFERLOOP_WS_HEARTBEAT_MS: String(HEARTBEAT_MS),
  });
  const sessions = BANNERS_ONLY ? null : await sessionsAndPushes(ours, customers);
  // The same customers for banners either way, so that BENCH_ONLY=banners measures what a full run does.
  const b = await banners(ours, Array.from(customers.subarray(calls)));
  await stopServer(ours);

  console.table({ ...sessions?.verdicts, ...b.verdicts });
  const problems = [...(sessions?.problems ?? [])];
  if (b.r.failed > 0) problems.push(`${b.r.failed} banner requests failed`);
  noteLoggedErrors(problems, ours);
  await publishResult(
    label,
    {
      config: {
        only: ONLY || null,
        sessions: BANNERS_ONLY ? 0 : SESSIONS,
        customers: CUSTOMERS,
        pushRate: PUSH_RATE,
        durationS: DURATION,
        rounds: ROUNDS,
        connections: CONNECTIONS,
      },
      ...sessions?.figures,
      banners: b.r,
      runs: b.runs,
      problems,
    },
    problems,
  );
}

runBench(label, main);
