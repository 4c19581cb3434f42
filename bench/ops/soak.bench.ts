// Soak benchmark: the server on Redis under a steady mix of its real traffic at 70 % of its measured
// capacity for BENCH_DURATION s (600), after a warm-up of 0.4 × that, watched window by window (30 s)
// for errors, latency drift, memory growth and event-loop delay.
// Run: npm run bench:ops:soak (about 15 minutes). Set-up: BENCH_CUSTOMERS (200000) generated
// profiles loaded by `offerloop load` into a redis-server with docker/redis.conf's settings, our
// server on it with its defaults (cluster workers: one per core) except a 64 MB memory tier (full by
// the end of the warm-up, so that filling it does not read as growth). Capacity: the median of three
// closed-loop runs of 6 s at BENCH_CONNECTIONS (50). The mix:
//  - decisions at 70 % of capacity (paced, 32 connections), random customers and channels;
//  - for a quarter of the decisions that showed offers, an impression of each offer and for a tenth
//    of those an accept, with the real decisionId, POSTed every 100 ms in batches;
//  - 500 WebSocket sessions, one per agent, and calls at 5/s (call.started, call.ended 10 s later):
//    each event must push a message to its agent's session within 5 s;
//  - GET /v1/reports/campaigns every 60 s.
// Each window: decision p50/p99/max (client side, floats), errors by kind, pushes, the server's RSS
// (all its processes, /proc), heap and event-loop delay (GET /metrics, all workers), CPU.
// Targets: zero errors; memory growth < 5 % (median RSS of the last 3 windows against the first 3);
// p99 drift < 10 % (median p99 of the last third of the windows against the first third) or within
// the window-to-window noise; no push lost. Exits 1 on any error, lost push or server error line.

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RawData, WebSocket } from 'ws';
import { Rng } from '../../src/domain/random.js';
import { startRedis } from '../../test/support/redis.js';
import {
  API_KEY,
  closeSocket,
  cpuMeters,
  decisionBodies,
  decisionRequests,
  fire,
  generatedData,
  httpCall,
  knob,
  latencySummary,
  median,
  noteLoggedErrors,
  openSocket,
  pacedRun,
  processTree,
  promValues,
  publishResult,
  REDIS_CONF_ARGS,
  round,
  runBench,
  runOfferloopLoad,
  type Server,
  say,
  startOfferloop,
  stopServer,
  tableRow,
} from '../support.js';

const SOAK_S = knob('DURATION', 600);
const WARMUP_S = Math.round(SOAK_S * 0.4);
const WINDOW_S = Math.min(30, Math.max(5, Math.round(SOAK_S / 10)));
const CUSTOMERS = Math.floor(knob('CUSTOMERS', 200_000));
const CONNECTIONS = Math.floor(knob('CONNECTIONS', 50));
const LOAD = 0.7;
const SESSIONS = 500;
const CALL_RATE = 5;
const CALL_HOLD_S = 10;
const REPORT_S = 60;
const TARGET_MEMORY_GROWTH = 0.05;
const TARGET_P99_DRIFT = 0.1;
const label = 'soak';

interface Window {
  readonly times: number[];
  decisions: number;
  decisionErrors: number;
  feedbackEvents: number;
  feedbackErrors: number;
  pushes: number;
  pushesLost: number;
  callErrors: number;
  reportErrors: number;
}

const newWindow = (): Window => ({
  times: [],
  decisions: 0,
  decisionErrors: 0,
  feedbackEvents: 0,
  feedbackErrors: 0,
  pushes: 0,
  pushesLost: 0,
  callErrors: 0,
  reportErrors: 0,
});
let current = newWindow();
const notes = new Map<string, number>();
const note = (what: string) => notes.set(what, (notes.get(what) ?? 0) + 1);
/** Counts an error of `kind` in window `w` and notes why. */
const fail = (w: Window, kind: 'callErrors' | 'reportErrors', why: string) => {
  w[kind]++;
  note(why);
};

/** RSS (MB) of the server's processes together. */
function treeRssMb(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      kb += Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return round(kb / 1024, 1);
}

// ---------------------------------------------------------------------------------------------
// Feedback: decisions that showed offers, sampled from the answers, sent back as events.

function feedbackLoop(base: URL, agent: http.Agent) {
  const rng = new Rng('42', 'soak-feedback');
  const ring: { decisionId: string; customerId: string; offers: string[] }[] = [];
  let inFlight = 0;
  const timer = setInterval(() => {
    if (ring.length === 0 || inFlight >= 4) return;
    const events: string[] = [];
    for (const d of ring.splice(0, 200)) {
      const event = (offerId: string, type: string) =>
        JSON.stringify({
          eventId: randomUUID(),
          decisionId: d.decisionId,
          offerId,
          customerId: d.customerId,
          type,
        });
      for (const o of d.offers) events.push(event(o, 'impression'));
      if (rng.chance(0.1)) events.push(event(d.offers[0]!, 'accept'));
    }
    inFlight++;
    const w = current;
    httpCall(base, 'POST', '/v1/feedback', {
      agent,
      timeoutMs: 10_000,
      body: `{"events":[${events.join(',')}]}`,
    })
      .then((a) => {
        const accepted = Number(/^\{"accepted":(\d+)/.exec(a.text)?.[1] ?? 0);
        w.feedbackEvents += accepted;
        if (a.status !== 202 || accepted !== events.length) {
          w.feedbackErrors += events.length - accepted;
          note(`feedback ${a.status}: ${a.text.slice(0, 120)}`);
        }
      })
      .catch((e: Error) => {
        w.feedbackErrors += events.length;
        note(`feedback: ${e.message}`);
      })
      .finally(() => inFlight--);
  }, 100);
  return {
    /** Sees a decision's answer: a quarter of those with offers are kept for feedback (at most 10,000). */
    offer(body: string): void {
      if (!rng.chance(0.25) || ring.length >= 10_000) return;
      const d = JSON.parse(body) as { decisionId: string; customerId: string; offers: { offerId: string }[] };
      if (d.offers.length > 0)
        ring.push({
          decisionId: d.decisionId,
          customerId: d.customerId,
          offers: d.offers.map((o) => o.offerId),
        });
    },
    stop: () => clearInterval(timer),
  };
}

// ---------------------------------------------------------------------------------------------
// Calls: call.started for a free agent, call.ended CALL_HOLD_S later; each must push to its session.

const pushes = new Map<string, (at: number) => void>();

function callLoop(base: URL, agent: http.Agent, rng: Rng) {
  const free = Array.from({ length: SESSIONS }, (_, i) => i + 1);
  let seq = 0;
  const send = (callId: string, agentNo: number, event: string, customerId?: string) => {
    const w = current;
    const key = `${callId}:${event}`;
    const pushed = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5_000);
      pushes.set(key, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    // call.ended names the call only.
    const started = customerId === undefined ? {} : { agentId: `agent-${agentNo}`, customerId };
    const body = JSON.stringify({ type: event, callId, ...started });
    httpCall(base, 'POST', '/v1/interactions/calls', { agent, timeoutMs: 10_000, body })
      .then((a) => a.status === 200 || fail(w, 'callErrors', `call ${a.status}: ${a.text.slice(0, 120)}`))
      .catch((e: Error) => fail(w, 'callErrors', `call: ${e.message}`));
    return pushed.then((ok) => {
      pushes.delete(key);
      if (ok) w.pushes++;
      else w.pushesLost++;
    });
  };
  const timer = setInterval(() => {
    if (free.length === 0) return;
    const agentNo = free.splice(rng.int(0, free.length - 1), 1)[0]!;
    const callId = `soak-${++seq}`;
    void send(callId, agentNo, 'call.started', `cust-${rng.int(1, CUSTOMERS)}`);
    setTimeout(
      () => void send(callId, agentNo, 'call.ended').finally(() => free.push(agentNo)),
      CALL_HOLD_S * 1000,
    );
  }, 1000 / CALL_RATE);
  return { stop: () => clearInterval(timer) };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const data = await generatedData(label, 500, CUSTOMERS);
  const redis = await startRedis({
    args: [...REDIS_CONF_ARGS, '--client-output-buffer-limit', 'pubsub', '64mb', '16mb', '60'],
  });
  const load = await runOfferloopLoad(redis.url, data.profiles, '0s');
  if (load.exitCode !== 0) throw new Error(`offerloop load failed:\n${load.tail.join('\n')}`);
  const server: Server = await startOfferloop({
    REDIS_URL: redis.url,
    REDIS_CLUSTER_NODES: '',
    REDIS_PREFIX: 'offerloop',
    OFFERLOOP_RULES: data.rules,
    OFFERLOOP_CACHE_MB: '64',
    OFFERLOOP_API_KEYS: `${API_KEY}=decide+feedback+report+metrics`,
  });
  let serverExit: string | null = null;
  const onExit = (code: number | null, signal: string | null) => {
    serverExit = `offerloop exited (${code ?? signal}) during the soak`;
  };
  server.proc.once('exit', onExit);
  const base = new URL(server.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

  const requests = decisionRequests(decisionBodies('soak-bench', 64, 4096, CUSTOMERS));
  say(label, 'capacity: warm-up 3 s, 3 runs of 6 s…');
  await fire(server.url, requests, { duration: 3, connections: CONNECTIONS });
  const capacityRuns: number[] = [];
  for (let r = 0; r < 3; r++)
    capacityRuns.push(
      (await fire(server.url, requests, { duration: 6, connections: CONNECTIONS })).requests.average,
    );
  const capacity = Math.round(median(capacityRuns));
  const rate = Math.round(capacity * LOAD);

  const wsUrl = `${server.url.replace(/^http/, 'ws')}/v1/ws`;
  const sockets: WebSocket[] = [];
  let unexpectedCloses = 0;
  let closing = false;
  for (let i = 1; i <= SESSIONS; i++) {
    const ws = await openSocket(wsUrl, 10_000);
    ws.on('message', (d: RawData) => {
      const m = JSON.parse(d.toString()) as { type?: string; callId?: string; event?: string };
      if (m.type === 'call') pushes.get(`${m.callId}:${m.event}`)?.(performance.now());
    });
    ws.on('close', () => closing || unexpectedCloses++);
    ws.send(JSON.stringify({ type: 'subscribe', id: 's', agentId: `agent-${i}` }));
    sockets.push(ws);
  }

  const total = WARMUP_S + SOAK_S;
  say(
    label,
    `capacity ${capacity}/s; ${rate} decisions/s for ${WARMUP_S} s of warm-up and ${SOAK_S} s, windows of ${WINDOW_S} s…`,
  );
  const feedback = feedbackLoop(base, agent);
  const calls = callLoop(base, agent, new Rng('42', 'soak-calls'));
  const reports = setInterval(() => {
    const w = current;
    httpCall(base, 'GET', '/v1/reports/campaigns', { agent, timeoutMs: 10_000 })
      .then((a) => a.status === 200 || fail(w, 'reportErrors', `report ${a.status}`))
      .catch(() => w.reportErrors++);
  }, REPORT_S * 1000);
  const stop = new AbortController();
  const run = pacedRun(server.url, requests, {
    duration: total + 5,
    connections: 32,
    rate,
    signal: stop.signal,
    onResponse: (ms, status) => {
      current.decisions++;
      if (status === 200) current.times.push(ms);
      else {
        current.decisionErrors++;
        note(`decision ${status}`);
      }
    },
    verifyBody: (body) => {
      if (!body.includes('"customerKnown":true') || body.includes('"degraded":true')) {
        current.decisionErrors++;
        note('decision unknown or degraded');
      } else feedback.offer(body);
      return true;
    },
  });

  const windows = [];
  for (let n = 1; n * WINDOW_S <= total && serverExit === null; n++) {
    const meters = cpuMeters([server.pid, redis.pid]);
    await sleep(WINDOW_S * 1000);
    const w = current;
    current = newWindow();
    const cpu = meters.stop();
    const metrics = await httpCall(base, 'GET', '/metrics', { agent, timeoutMs: 10_000 }).then(
      (a) => a.text,
      () => '',
    );
    const heap = promValues(metrics, 'nodejs_heap_size_used_bytes').reduce((a, b) => a + b, 0);
    const eld = (q: string) =>
      round(
        Math.max(...promValues(metrics, 'offerloop_event_loop_delay_seconds', `quantile="${q}"`), 0) * 1000,
        1,
      );
    const row = {
      window: n,
      warmUp: n * WINDOW_S <= WARMUP_S,
      decisionsPerSec: Math.round(w.decisions / WINDOW_S),
      ...latencySummary(w.times),
      feedbackEventsPerSec: Math.round(w.feedbackEvents / WINDOW_S),
      pushes: w.pushes,
      errors: w.decisionErrors + w.feedbackErrors + w.callErrors + w.reportErrors,
      pushesLost: w.pushesLost,
      rssMb: treeRssMb(server.pid),
      heapMb: round(heap / 2 ** 20, 1),
      loopP99Ms: eld('0.99'),
      loopMaxMs: eld('1'),
      serverCpuPct: cpu.pct[0]!,
      redisCpuPct: cpu.pct[1]!,
      loadgenCpuPct: cpu.loadgenPct,
      otherCpuPct: cpu.otherPct,
    };
    windows.push(row);
    console.log(JSON.stringify(row));
  }
  stop.abort();
  feedback.stop();
  calls.stop();
  clearInterval(reports);
  await run;
  await sleep(CALL_HOLD_S * 1000 + 5_000);
  closing = true;
  await Promise.all(sockets.map(closeSocket));
  agent.destroy();
  server.proc.off('exit', onExit);
  await stopServer(server);
  await redis.stop();

  // Verdicts over the soak's windows (after the warm-up).
  const soak = windows.filter((w) => !w.warmUp);
  const head = (xs: typeof soak, n: number) => xs.slice(0, Math.max(1, n));
  const tail = (xs: typeof soak, n: number) => xs.slice(-Math.max(1, n));
  const third = Math.floor(soak.length / 3);
  const rssFirst = median(head(soak, 3).map((w) => w.rssMb));
  const memoryGrowth = round((median(tail(soak, 3).map((w) => w.rssMb)) - rssFirst) / rssFirst, 4);
  const p99First = median(head(soak, third).map((w) => w.p99Ms));
  const p99Drift = round((median(tail(soak, third).map((w) => w.p99Ms)) - p99First) / p99First, 4);
  const noise = round(
    median(soak.slice(1).map((w, i) => Math.abs(w.p99Ms - soak[i]!.p99Ms) / soak[i]!.p99Ms)),
    4,
  );
  const errors = soak.reduce((a, w) => a + w.errors, 0);
  const lost = windows.reduce((a, w) => a + w.pushesLost, 0);
  console.table(windows);
  console.table({
    capacity: tableRow(capacity),
    'errors after the warm-up': tableRow(errors, '0', errors === 0),
    'pushes lost': tableRow(lost, '0', lost === 0),
    'memory growth (RSS)': tableRow(
      memoryGrowth,
      `< ${TARGET_MEMORY_GROWTH}`,
      memoryGrowth < TARGET_MEMORY_GROWTH,
    ),
    'p99 drift (noise)': tableRow(
      `${p99Drift} (${noise})`,
      `< ${TARGET_P99_DRIFT} or ≤ noise`,
      p99Drift < TARGET_P99_DRIFT || p99Drift <= noise,
    ),
  });
  const problems: string[] = [];
  if (errors + lost > 0)
    problems.push(`${errors} errors, ${lost} pushes lost: ${JSON.stringify(Object.fromEntries(notes))}`);
  if (unexpectedCloses > 0) problems.push(`${unexpectedCloses} WebSocket sessions closed by the server`);
  if (serverExit !== null) problems.push(serverExit);
  noteLoggedErrors(problems, server);
  await publishResult(
    label,
    {
      config: {
        customers: CUSTOMERS,
        soakS: SOAK_S,
        warmupS: WARMUP_S,
        windowS: WINDOW_S,
        load: LOAD,
        sessions: SESSIONS,
      },
      capacity,
      rate,
      verdicts: { errors, pushesLost: lost, memoryGrowth, p99Drift, p99Noise: noise },
      windows,
      notes: Object.fromEntries(notes),
      problems,
    },
    problems,
  );
}

runBench(label, main);
