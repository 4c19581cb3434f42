// HTTP benchmark: POST /v1/decisions of our server (embedded store, 500 offers, BENCH_CUSTOMERS
// profiles from NDJSON) against the bare Fastify route of hello-server.ts, with the same bodies,
// side by side in one run; then latency at half the decision rate, and start-up.
// Run: npm run bench:http. Knobs: BENCH_DURATION (s per run, 6), BENCH_ROUNDS (5),
// BENCH_CONNECTIONS (50), BENCH_CUSTOMERS (100000), BENCH_PIN (1: load generator and servers on
// different cores). Exits 1 when a request failed.

import {
  againstHello,
  decisionBodies,
  decisionCheck,
  decisionRequests,
  generatedData,
  knob,
  latencyRun,
  noteLoggedErrors,
  publishResult,
  runBench,
  sampleDecisions,
  say,
  startHello,
  startOfferloop,
  stopServer,
  type Target,
  tableRow,
} from './support.js';

const DURATION = knob('DURATION', 6);
const ROUNDS = Math.floor(knob('ROUNDS', 5));
const CONNECTIONS = Math.floor(knob('CONNECTIONS', 50));
const CUSTOMERS = Math.floor(knob('CUSTOMERS', 100_000));
const TARGET_RATIO = 0.6;
const TARGET_P99_MS = 5;
const TARGET_STARTUP_MS = 5_000;

async function main(): Promise<void> {
  const data = await generatedData('http', 500, CUSTOMERS);
  const bodies = decisionBodies('http-bench', 64, 256, CUSTOMERS);
  const requests = () => decisionRequests(bodies);
  // Ours first and alone, so that its start-up time is not shared with anything else.
  say('http', 'starting offerloop…');
  const offerloop = await startOfferloop({ OFFERLOOP_RULES: data.rules, OFFERLOOP_PROFILES: data.profiles });
  const hello = await startHello();
  const sample = await sampleDecisions(offerloop, bodies.flat().slice(0, 500));
  const check = decisionCheck();
  const ours: Target = { name: 'decisions', server: offerloop, requests, verifyBody: check.verify };
  const helloTarget: Target = { name: 'hello', server: hello, requests };
  const { c, r, rate } = await againstHello('http', helloTarget, ours, {
    rounds: ROUNDS,
    duration: DURATION,
    connections: CONNECTIONS,
  });
  say('http', `latency run at ${rate} decisions/s (${DURATION} s)…`);
  const latency = await latencyRun(ours, rate, { duration: DURATION, rampUpS: 1 });
  await Promise.all([stopServer(hello), stopServer(offerloop)]);

  console.table({
    'hello / decisions (median req/s)': tableRow(`${r.reqPerSec.hello} / ${r.reqPerSec.decisions}`),
    'ratio decisions / hello': tableRow(r.ratio, `≥ ${TARGET_RATIO}`, r.ratio >= TARGET_RATIO),
    'server CPU µs/req hello / decisions': tableRow(`${r.cpuUsPerReq.hello} / ${r.cpuUsPerReq.decisions}`),
    'CPU ratio hello µs / decisions µs': tableRow(r.cpuRatio, 'info'),
    'pinned (BENCH_PIN)': tableRow(String(r.pinned)),
    [`latency p50 / p99 / max ms @ ${latency.achievedRate}/s`]: tableRow(
      `${latency.p50Ms} / ${latency.p99Ms} / ${latency.maxMs}`,
      `p99 < ${TARGET_P99_MS}`,
      latency.p99Ms < TARGET_P99_MS,
    ),
    'start-up: spawn → ready ms': tableRow(
      offerloop.spawnToReadyMs,
      `< ${TARGET_STARTUP_MS}`,
      offerloop.spawnToReadyMs < TARGET_STARTUP_MS,
    ),
  });
  const problems: string[] = [];
  if (r.failed + latency.failed > 0)
    problems.push(`${r.failed + latency.failed} requests failed`, JSON.stringify(check.tally));
  noteLoggedErrors(problems, offerloop);
  await publishResult(
    'http',
    {
      config: {
        offers: 500,
        customers: CUSTOMERS,
        durationS: DURATION,
        rounds: ROUNDS,
        connections: CONNECTIONS,
      },
      startup: { spawnToReadyMs: offerloop.spawnToReadyMs, readyInMs: offerloop.readyInMs },
      sample,
      ...r,
      latency,
      runs: [...c.warmups, ...c.runs],
      problems,
    },
    problems,
  );
}

runBench('http', main);
