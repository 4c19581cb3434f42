// Triggers benchmark: a `cart.abandoned` event's path from POST /v1/events to the adviser's desktop.
// Run: npm run bench:ops:triggers (about 1 minute). Our server runs embedded with the trigger test
// rules (test/fixtures/trigger-rules: cart.abandoned with cartValue ≥ 50 → a sales_force decision
// pushed to the adviser, the customer's subscribers and the webhook `crm`) and BENCH_CUSTOMERS
// generated customers, each with an adviser (profile attribute adviserId, one of BENCH_SESSIONS).
//  1. Opens BENCH_SESSIONS (1,000) WebSocket sessions, each subscribed to its adviser (adviser:<id>).
//  2. Sends cart.abandoned events for distinct customers at 200/s (open loop), one per request, and
//     times each from just before the request is sent to the moment the adviser's client reads the
//     push; the server's CPU per event (decision, push, webhook queue and delivery).
//  3. The webhook receiver (in this process) fails its first two deliveries, then takes every one:
//     every event's delivery must arrive (the first two after retries), signed.
// Target: push p99 < 10 ms at 1,000 sessions; no push lost, every webhook delivered. BENCH_WEBHOOKS=0:
// the trigger notifies the adviser only (what the webhooks cost the pushes).
// Exits 1 when a push was lost, a request failed, a webhook was not delivered or the server logged an error.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RawData, WebSocket } from 'ws';
import { verifySignature } from '../../src/service/webhook-signature.js';
import {
  API_KEY,
  closeSocket,
  cpuMeters,
  httpCall,
  knob,
  latencySummary,
  noteLoggedErrors,
  openSocket,
  publishResult,
  REPO_ROOT,
  round,
  runBench,
  say,
  startOfferloop,
  stopServer,
  tableRow,
} from '../support.js';

const SESSIONS = Math.floor(knob('SESSIONS', 1_000));
const CUSTOMERS = Math.floor(knob('CUSTOMERS', 20_000));
const RATE = 200;
const EVENTS = Math.min(3_000, CUSTOMERS);
const WARMUP_EVENTS = Math.min(400, CUSTOMERS - EVENTS);
const TARGET_P99_MS = 10;
const SECRET = 'bench-webhook-secret-0123';
const label = 'triggers';
/** BENCH_WEBHOOKS=0: the trigger notifies the adviser only, to see what the webhooks cost the pushes. */
const WEBHOOKS = process.env.BENCH_WEBHOOKS !== '0';
const FIXTURE_RULES = path.join(REPO_ROOT, 'test', 'fixtures', 'trigger-rules');

/** The fixture rules, or a copy whose triggers notify no webhook. */
function rulesDir(): string {
  if (WEBHOOKS) return FIXTURE_RULES;
  const dir = path.join(tmpdir(), `offerloop-triggers-bench-rules-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const text = readFileSync(path.join(FIXTURE_RULES, 'rules.yaml'), 'utf8');
  writeFileSync(path.join(dir, 'rules.yaml'), text.replaceAll(', webhook:crm]', ']'));
  return dir;
}

/** Pushes waited for, by event id: resolved with the time the adviser's client read it. */
const expected = new Map<string, { readonly adviserId: string; readonly resolve: (at: number) => void }>();
const trouble = { unexpectedCloses: 0, wrongPushes: 0 };

function adviserOf(customer: number): string {
  return `adv-${(customer % SESSIONS) + 1}`;
}

/** An adviser's desktop: one socket subscribed to adviser:<id>. */
async function openAdviser(url: string, adviserId: string): Promise<() => Promise<void>> {
  const ws: WebSocket = await openSocket(url, 10_000);
  let closing = false;
  const subscribed = new Promise<void>((resolve, reject) => {
    ws.on('message', (data: RawData) => {
      const at = performance.now();
      const message = JSON.parse(data.toString()) as { type: string; eventId?: string; id?: string };
      if (message.type === 'trigger') {
        const wanted = expected.get(message.eventId ?? '');
        if (wanted === undefined || wanted.adviserId !== adviserId) trouble.wrongPushes++;
        else wanted.resolve(at);
      } else if (message.id === 'sub') {
        if (message.type === 'result') resolve();
        else reject(new Error(JSON.stringify(message)));
      }
    });
  });
  ws.on('close', () => {
    if (!closing) trouble.unexpectedCloses++;
  });
  ws.send(JSON.stringify({ type: 'subscribe', id: 'sub', adviserId }));
  await subscribed;
  return () => {
    closing = true;
    return closeSocket(ws);
  };
}

/** The CRM's receiver: fails the first two deliveries, then takes every one; checks signatures. */
async function startReceiver() {
  const seen = { requests: 0, accepted: 0, badSignatures: 0, ids: new Set<string>() };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      seen.requests++;
      const body = Buffer.concat(chunks).toString('utf8');
      const signature = String(request.headers['offerloop-signature'] ?? '');
      if (!verifySignature(SECRET, signature, body, Math.floor(Date.now() / 1000))) seen.badSignatures++;
      const ok = seen.requests > 2;
      if (ok) {
        seen.accepted++;
        seen.ids.add(String(request.headers['offerloop-delivery']));
      }
      response.writeHead(ok ? 200 : 500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { url, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** `events` cart.abandoned at RATE/s for customers first…first+events-1; push and HTTP latency. */
async function run(base: URL, pid: number, first: number, events: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const push: number[] = [];
  const roundTrip: number[] = [];
  const statuses = new Map<string, number>();
  let lost = 0;
  const one = async (i: number) => {
    const customer = first + i;
    const eventId = `ev-${customer}`;
    const adviserId = adviserOf(customer);
    const pushed = new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 5_000);
      expected.set(eventId, {
        adviserId,
        resolve: (at) => {
          clearTimeout(timer);
          resolve(at);
        },
      });
    });
    const body = JSON.stringify({
      events: [
        { eventId, type: 'cart.abandoned', customerId: `c-${customer}`, attributes: { cartValue: 120 } },
      ],
    });
    const t0 = performance.now();
    const answer = await httpCall(base, 'POST', '/v1/events', { agent, timeoutMs: 10_000, body }).catch(
      () => null,
    );
    const status =
      answer?.status === 200
        ? (JSON.parse(answer.text).results[0].status as string)
        : `http ${answer?.status ?? 0}`;
    if (status === 'triggered') roundTrip.push(answer!.at - t0);
    else statuses.set(status, (statuses.get(status) ?? 0) + 1);
    const at = await pushed;
    expected.delete(eventId);
    if (at !== null) push.push(at - t0);
    else if (status === 'triggered') lost++;
  };
  const meters = cpuMeters([pid]);
  const started = performance.now();
  const all: Promise<void>[] = [];
  for (let i = 0; i < events; i++) {
    const wait = started + (i * 1000) / RATE - performance.now();
    if (wait > 1) await sleep(wait);
    all.push(one(i));
  }
  await Promise.all(all);
  const cpu = meters.stop();
  agent.destroy();
  return {
    events,
    push: latencySummary(push),
    http: latencySummary(roundTrip),
    over10Ms: push.filter((ms) => ms >= TARGET_P99_MS).length,
    lost,
    notTriggered: JSON.stringify(Object.fromEntries(statuses)),
    failed: [...statuses.values()].reduce((a, b) => a + b, 0),
    serverCpuUsPerEvent: round((cpu.ms[0]! * 1000) / events, 1),
    serverCpuPct: cpu.pct[0],
    loadgenPct: cpu.loadgenPct,
    otherPct: cpu.otherPct,
  };
}

async function main(): Promise<void> {
  const profiles = path.join(tmpdir(), `offerloop-triggers-bench-${process.pid}.ndjson`);
  const lines: string[] = [];
  for (let c = 1; c <= CUSTOMERS; c++) {
    lines.push(
      JSON.stringify({
        id: `c-${c}`,
        attributes: { adviserId: adviserOf(c) },
        consent: { sales_force: true },
      }),
    );
  }
  writeFileSync(profiles, `${lines.join('\n')}\n`);
  const receiver = await startReceiver();
  const ours = await startOfferloop(
    {
      OFFERLOOP_RULES: rulesDir(),
      OFFERLOOP_PROFILES: profiles,
      OFFERLOOP_API_KEYS: `${API_KEY}=decide;rate=10000000`,
      OFFERLOOP_WS_MAX_SESSIONS_PER_KEY: String(SESSIONS + 10),
      OFFERLOOP_WEBHOOKS: `crm=${receiver.url}`,
      OFFERLOOP_WEBHOOK_SECRET_CRM: SECRET,
      OFFERLOOP_WEBHOOK_RETRY_BASE_MS: '100',
    },
    // e.g. BENCH_SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof': where an event's CPU goes.
    { nodeArgs: (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '') },
  );
  const wsUrl = `${ours.url.replace(/^http/, 'ws')}/v1/ws`;
  say(label, `opening ${SESSIONS} adviser sessions…`);
  const closers: (() => Promise<void>)[] = [];
  for (let i = 0; i < SESSIONS; i += 100) {
    closers.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(100, SESSIONS - i) }, (_, j) => openAdviser(wsUrl, `adv-${i + j + 1}`)),
      )),
    );
  }
  const base = new URL(ours.url);
  say(label, `warm-up: ${WARMUP_EVENTS} events…`);
  await run(base, ours.pid, EVENTS + 1, WARMUP_EVENTS);
  say(label, `${EVENTS} cart.abandoned events at ${RATE}/s with ${SESSIONS} adviser sessions…`);
  const figures = await run(base, ours.pid, 1, EVENTS);
  // Every delivery (warm-up's too) must arrive; the first two after retries.
  const deliveries = WEBHOOKS ? EVENTS + WARMUP_EVENTS : 0;
  const deadline = performance.now() + 30_000;
  while (receiver.seen.ids.size < deliveries && performance.now() < deadline) await sleep(100);
  await Promise.all(closers.map((close) => close()));
  await stopServer(ours);
  await receiver.close();
  rmSync(profiles, { force: true });

  const { push, http: h, ...rest } = figures;
  console.table({
    ...rest,
    'push p50/p90/p99/max ms': `${push.p50Ms} / ${push.p90Ms} / ${push.p99Ms} / ${push.maxMs}`,
    'http p50/p99 ms': `${h.p50Ms} / ${h.p99Ms}`,
  });
  const webhooks = {
    deliveries,
    requests: receiver.seen.requests,
    delivered: receiver.seen.ids.size,
    badSignatures: receiver.seen.badSignatures,
  };
  console.table({
    [`push p99 ms (${SESSIONS} adviser sessions)`]: tableRow(
      push.p99Ms,
      `< ${TARGET_P99_MS}`,
      push.p99Ms < TARGET_P99_MS,
    ),
    'server CPU µs per event': tableRow(figures.serverCpuUsPerEvent, 'info'),
    'webhooks delivered / requests (2 failed first)': tableRow(
      `${webhooks.delivered} / ${webhooks.requests}`,
      WEBHOOKS ? `${deliveries} / ${deliveries + 2}` : 'none (BENCH_WEBHOOKS=0)',
      webhooks.delivered === deliveries && webhooks.badSignatures === 0,
    ),
  });
  const problems: string[] = [];
  if (figures.lost + figures.failed > 0)
    problems.push(
      `${figures.lost} pushes lost, ${figures.failed} events not triggered ${figures.notTriggered}`,
    );
  if (webhooks.delivered < deliveries)
    problems.push(`${deliveries - webhooks.delivered} webhooks not delivered`);
  if (webhooks.badSignatures > 0)
    problems.push(`${webhooks.badSignatures} webhook signatures did not verify`);
  if (trouble.unexpectedCloses + trouble.wrongPushes > 0) problems.push(JSON.stringify(trouble));
  noteLoggedErrors(problems, ours);
  await publishResult(
    label,
    {
      config: { sessions: SESSIONS, customers: CUSTOMERS, rate: RATE, events: EVENTS, webhooks: WEBHOOKS },
      ...figures,
      webhooks,
      problems,
    },
    problems,
  );
}

runBench(label, main);
