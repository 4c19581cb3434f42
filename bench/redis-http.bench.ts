// Redis-tier HTTP benchmark: the http bench with the profiles in Redis (BENCH_CUSTOMERS, default
// 1,000,000, loaded by `offerloop load`) and a memory tier too small to help (OFFERLOOP_CACHE_MB=1),
// so nearly every decision reads Redis: side by side with hello, latency at half the decision rate,
// then a reload of the whole population under that load. Also Redis' used_memory per customer.
// Run: npm run bench:redis-http. Knobs: BENCH_DURATION (6), BENCH_ROUNDS (3), BENCH_CONNECTIONS (50),
// BENCH_CUSTOMERS (1000000). Exits 1 when a request failed, an answer did not know its customer or
// said degraded, the reload failed, or the server logged an error.

import { setTimeout as sleep } from 'node:timers/promises';
import { type RedisProcess, redisCommand, startRedis } from '../test/support/redis.js';
import {
  againstHello,
  decisionBodies,
  decisionCheck,
  decisionRequests,
  type GeneratedData,
  generatedData,
  infoFields,
  knob,
  latencyRun,
  latencySummary,
  noteLoggedErrors,
  pacedRun,
  publishResult,
  round,
  runBench,
  runOfferloopLoad,
  type Server,
  sampleDecisions,
  say,
  startHello,
  startOfferloop,
  stopServer,
  type Target,
  tableRow,
} from './support.js';

const DURATION = knob('DURATION', 6);
const ROUNDS = Math.floor(knob('ROUNDS', 3));
const CONNECTIONS = Math.floor(knob('CONNECTIONS', 50));
const CUSTOMERS = Math.floor(knob('CUSTOMERS', 1_000_000));
const TARGET_RATIO = 0.35;
const TARGET_P99_MS = 10;
/** p99 while a population is reloaded, as a multiple of the steady p99. */
const TARGET_RELOAD_FACTOR = 2;
/** Paced runs: seconds not counted at their start (the groups start, connections are cold). */
const RAMP_UP_S = 2;
const label = 'redis-http';

const usedMemory = async (redis: RedisProcess) =>
  infoFields(await redisCommand(redis.port, 'INFO', 'memory')).used_memory ?? Number.NaN;

/**
 * Redis' commands per decision answered since CONFIG RESETSTAT, from INFO commandstats: each
 * command's calls and µs per decision. Redis counts the commands scripts run too, and an EVALSHA's
 * µs include its commands'. For the decision runs, where every command is ours (decisions, the
 * feedback log, its consumer, the cap counters' sync).
 */
async function redisPerDecision(redis: RedisProcess, decisions: number) {
  const stats = await redisCommand(redis.port, 'INFO', 'commandstats');
  const perDecision: Record<string, { calls: number; us: number }> = {};
  let calls = 0;
  for (const m of stats.matchAll(/^cmdstat_([\w|]+):calls=(\d+),usec=(\d+)/gm)) {
    const [name, c, u] = [m[1]!, Number(m[2]), Number(m[3])];
    if (name === 'config|resetstat' || name === 'info') continue;
    perDecision[name] = { calls: round(c / decisions, 3), us: round(u / decisions, 2) };
    calls += c;
  }
  return { decisions, commands: round(calls / decisions, 2), perDecision };
}

async function load(redis: RedisProcess, data: GeneratedData) {
  const run = await runOfferloopLoad(redis.url, data.profiles, '2s');
  if (run.exitCode !== 0 || run.result === null)
    throw new Error(`offerloop load failed (exit ${run.exitCode}):\n${run.tail.join('\n')}`);
  return run;
}

interface Readiness {
  readonly populationVersion?: number | null;
  readonly memoryTier?: { readonly hits: number; readonly misses: number };
}

const readiness = async (server: Server) =>
  (await (await fetch(`${server.url}/health/ready`)).json()) as Readiness;

/**
 * Decisions at `rate`; after a margin a second `offerloop load` of the same file (a new version:
 * the server flips to it and clears its memory tier); a margin after the loader exited the load stops.
 * Responses are split by when they arrived: before, during (loader start to exit) and after.
 */
async function reloadRun(
  ours: Target,
  redis: RedisProcess,
  data: GeneratedData,
  rate: number,
  flips: number[],
) {
  const margin = Math.max(3, DURATION / 2);
  const phases = { before: [] as number[], during: [] as number[], after: [] as number[] };
  const counted = performance.now() + RAMP_UP_S * 1000;
  let loadStart = Number.POSITIVE_INFINITY;
  let loadEnd = Number.POSITIVE_INFINITY;
  const stop = new AbortController();
  const run = pacedRun(ours.server.url, ours.requests(-1), {
    duration: 3600,
    connections: 20,
    rate,
    signal: stop.signal,
    ...(ours.verifyBody ? { verifyBody: ours.verifyBody } : {}),
    onResponse: (ms) => {
      const now = performance.now();
      if (now >= counted) phases[now < loadStart ? 'before' : now < loadEnd ? 'during' : 'after'].push(ms);
    },
  });
  await sleep((RAMP_UP_S + margin) * 1000);
  say(label, `reload: offerloop load while deciding at ${rate}/s…`);
  const flipsBefore = flips.length;
  loadStart = performance.now();
  const reload = await load(redis, data);
  loadEnd = performance.now();
  await sleep(margin * 1000);
  stop.abort();
  const results = await run;
  const seconds = { before: margin, during: (loadEnd - loadStart) / 1000, after: margin };
  return {
    loadS: round(reload.wallMs / 1000, 1),
    version: reload.result?.version ?? null,
    flipBeforeLoadEndMs: flips.length > flipsBefore ? Math.round(loadEnd - flips[flipsBefore]!) : null,
    failed: results.reduce((a, r) => a + r.errors + r.timeouts + Math.max(r.non2xx, r.mismatches), 0),
    /** Answers by HTTP status, to tell refused requests (503) from wrong answers (200, not known). */
    statuses: results.reduce<Record<string, number>>((acc, r) => {
      for (const [code, stat] of Object.entries(r.statusCodeStats ?? {}))
        acc[code] = (acc[code] ?? 0) + (stat.count ?? 0);
      return acc;
    }, {}),
    phases: Object.entries(phases).map(([phase, times]) => ({
      phase,
      ratePerSec: Math.round(times.length / seconds[phase as keyof typeof seconds]),
      ...latencySummary(times),
    })),
  };
}

async function main(): Promise<void> {
  const data = await generatedData(label, 500, CUSTOMERS);
  // Compact hashes as docker/redis.conf; test/support/redis.ts adds --save "" --appendonly no.
  const redis = await startRedis({ args: ['--hash-max-listpack-value', '512'] });
  const emptyMemory = await usedMemory(redis);
  say(label, `loading ${CUSTOMERS} customers with offerloop load…`);
  const firstLoad = await load(redis, data);
  const bytesPerCustomer = Math.round(((await usedMemory(redis)) - emptyMemory) / CUSTOMERS);

  const flips: number[] = [];
  const offerloop = await startOfferloop(
    {
      REDIS_URL: redis.url,
      REDIS_CLUSTER_NODES: '',
      REDIS_PREFIX: 'offerloop',
      OFFERLOOP_CACHE_MB: '1',
      // One process, as hello is one: its CPU is what the meters read (workers: bench:ops:workers).
      OFFERLOOP_WORKERS: '1',
      OFFERLOOP_RULES: data.rules,
    },
    { onLog: (log, at) => log.msg === 'serving a new population version' && flips.push(at) },
  );
  const hello = await startHello();

  // 256 slices × 2,048 bodies; each round takes the next slices, so that a decision run mostly meets
  // customers no earlier run decided (answers would shrink as contact policies suppress offers).
  const bodies = decisionBodies('redis-http-bench', 256, 2048, CUSTOMERS);
  const requests = () => decisionRequests(bodies);
  const sample = await sampleDecisions(offerloop, bodies[255]!.slice(0, 500));
  const check = decisionCheck();
  const ours: Target = {
    name: 'decisions',
    server: offerloop,
    helpers: [redis],
    requests,
    verifyBody: check.verify,
  };
  const helloTarget: Target = { name: 'hello', server: hello, requests };
  await redisCommand(redis.port, 'CONFIG', 'RESETSTAT');
  const { c, r, rate } = await againstHello(label, helloTarget, ours, {
    rounds: ROUNDS,
    duration: DURATION,
    connections: CONNECTIONS,
  });
  const decided = [...c.warmups, ...c.runs]
    .filter((x) => x.target === 'decisions')
    .reduce((a, x) => a + x.responses, 0);
  const commands = await redisPerDecision(redis, decided);
  say(label, `latency run at ${rate} decisions/s…`);
  const latency = await latencyRun(ours, rate, { duration: DURATION, rampUpS: RAMP_UP_S });
  const tier = (await readiness(offerloop)).memoryTier;
  const reload = await reloadRun(ours, redis, data, rate, flips);
  const after = await readiness(offerloop);
  const sampleAfter = await sampleDecisions(offerloop, bodies[255]!.slice(-500)).catch(
    (e: Error) => e.message,
  );
  await Promise.all([stopServer(hello), stopServer(offerloop)]);
  await redis.stop();

  console.table(reload.phases);
  const during = reload.phases.find((p) => p.phase === 'during')!;
  const factor = round(during.p99Ms / latency.p99Ms, 2);
  console.table({
    'hello / decisions (median req/s)': tableRow(`${r.reqPerSec.hello} / ${r.reqPerSec.decisions}`),
    'ratio decisions / hello': tableRow(r.ratio, `≥ ${TARGET_RATIO}`, r.ratio >= TARGET_RATIO),
    'CPU µs/req hello / decisions + Redis': tableRow(
      `${r.cpuUsPerReq.hello} / ${r.cpuUsPerReq.decisions} + ${r.cpuUsPerReq.decisionsHelpers}`,
    ),
    'CPU ratio hello µs / (server + Redis) µs': tableRow(r.cpuRatio, 'info'),
    [`latency p50 / p99 ms @ ${latency.achievedRate}/s`]: tableRow(
      `${latency.p50Ms} / ${latency.p99Ms}`,
      `p99 < ${TARGET_P99_MS}`,
      latency.p99Ms < TARGET_P99_MS,
    ),
    'reload: failed requests': tableRow(reload.failed, '0', reload.failed === 0),
    'reload: p99 during / steady p99': tableRow(
      factor,
      `≤ ${TARGET_RELOAD_FACTOR}`,
      factor <= TARGET_RELOAD_FACTOR,
    ),
    'reload: load s idle → under load': tableRow(`${round(firstLoad.wallMs / 1000, 1)} → ${reload.loadS}`),
    'Redis commands per decision (in scripts too); EVALSHA calls, µs': tableRow(
      `${commands.commands}; ${commands.perDecision.evalsha?.calls}, ${commands.perDecision.evalsha?.us}`,
      'info',
    ),
    'memory tier hits / misses': tableRow(`${tier?.hits} / ${tier?.misses}`, 'info'),
    'Redis used_memory B/customer': tableRow(bytesPerCustomer, 'info'),
  });

  const problems: string[] = [];
  if (r.failed + latency.failed + reload.failed > 0)
    problems.push(
      `${r.failed + latency.failed + reload.failed} requests failed: ${JSON.stringify(check.tally)}, ` +
        `reload answers ${JSON.stringify(reload.statuses)}`,
    );
  if (reload.version !== null && after.populationVersion !== reload.version)
    problems.push(
      `after the reload the server serves version ${after.populationVersion}, not ${reload.version}`,
    );
  if (typeof sampleAfter === 'string') problems.push(`after the reload: ${sampleAfter}`);
  noteLoggedErrors(problems, offerloop);
  await publishResult(
    label,
    {
      config: {
        offers: 500,
        customers: CUSTOMERS,
        cacheMb: 1,
        durationS: DURATION,
        rounds: ROUNDS,
        connections: CONNECTIONS,
      },
      load: { wallMs: firstLoad.wallMs, loaderCpuMs: firstLoad.cpuMs, bytesPerCustomer },
      sample,
      ...r,
      latency,
      memoryTier: tier ?? null,
      redisCommands: commands,
      reload: { ...reload, p99Factor: factor },
      runs: [...c.warmups, ...c.runs],
      problems,
    },
    problems,
  );
}

runBench(label, main);
