// What-if benchmark: WhatIfService (the server's code: slices of 5 ms, each customer decided on the
// live and a candidate ruleset) over BENCH_CUSTOMERS (1,000,000) generated customers, 500 offers
// (the data of bench:load, generated once into bench/results/data/), channel web, every customer.
// Embedded: the profiles in memory, as the embedded server holds them. Redis: the same customers
// loaded into a local redis-server (BENCH_REDIS=0 skips it), read bucket by bucket.
// Run: npm run bench:what-if. Target: 1,000,000 customers in under a minute.
// Reported: wall seconds, decisions per second (two per customer), CPU µs per customer (this
// process; Redis' own apart), and the event loop's delay during the run (what a live request
// arriving meanwhile waits at most) next to its delay over 3 s with no run (the machine's floor).

import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { EVALUATION_LEARNING } from '../src/evaluation/policy-evaluation.js';
import { LearnedModel } from '../src/learning/learned-model.js';
import { loadRuleset } from '../src/ruleset/load.js';
import type { RulesetSnapshot } from '../src/ruleset/snapshot.js';
import { WhatIfService, type WhatIfStatus } from '../src/service/what-if-service.js';
import { REFERENCE_DATE } from '../src/sim/population.js';
import { MemoryCapCounters } from '../src/store/cap-counters.js';
import { MemoryProfileStore } from '../src/store/memory-profile-store.js';
import { MemoryPopulation, type PopulationSource } from '../src/store/population-source.js';
import { readProfilesFile } from '../src/store/profile-file.js';
import { RedisConnection } from '../src/store/redis/redis-connection.js';
import { RedisKeys } from '../src/store/redis/redis-keys.js';
import { RedisPopulation } from '../src/store/redis/redis-population.js';
import {
  generatedData,
  knob,
  processCpuMs,
  publishResult,
  redisWithProfiles,
  round,
  runBench,
  say,
  verdict,
} from './support.js';

const CUSTOMERS = Math.floor(knob('CUSTOMERS', 1_000_000));
const OFFERS = 500;
const TARGET_SECONDS = 60;
const PREFIX = 'bench';
/** Noon on the population's reference day: every generated offer and campaign is in force. */
const NOW = Date.parse(`${REFERENCE_DATE}T12:00:00Z`);
/** The idle measurement before each run. */
const IDLE_MS = 3000;

interface Figures {
  readonly store: string;
  readonly customers: number;
  readonly seconds: number;
  readonly decisionsPerSec: number;
  readonly cpuUsPerCustomer: number;
  readonly redisCpuUsPerCustomer: number | null;
  readonly eventLoopDelayP99Ms: number;
  readonly eventLoopDelayMaxMs: number;
  /** The same, over 3 s with no run, just before it: this machine's noise floor (other processes, GC). */
  readonly idleDelayP99Ms: number;
  readonly idleDelayMaxMs: number;
  readonly liveExpectedAccepts: number;
  readonly candidateExpectedAccepts: number;
  readonly candidateBound: number;
}

/** The generated rules with the first campaign's priority raised to 3 and capped at 20,000 a day. */
async function candidateRules(rules: string): Promise<string> {
  const dir = path.join(path.dirname(rules), 'what-if-candidate');
  await cp(rules, dir, { recursive: true });
  const file = path.join(dir, 'campaigns.yaml');
  const text = await readFile(file, 'utf8');
  const changed = text.replace(
    /(id: camp-0001\n(?:.*\n)*?)( {4})priority: [\d.]+\n/,
    '$1$2priority: 3\n$2caps: { perDay: 20000 }\n',
  );
  if (changed === text) throw new Error(`no priority of camp-0001 in ${file}`);
  await writeFile(file, changed);
  return dir;
}

async function measure(
  population: PopulationSource,
  live: RulesetSnapshot,
  candidate: RulesetSnapshot,
  redisPid: number | null,
): Promise<Figures> {
  // The learned model's code path, with no feedback: propensities are the priors.
  const models = new Map(
    [live, candidate].map((s) => [s, LearnedModel.build(s, new Map(), EVALUATION_LEARNING, 0)]),
  );
  const service = new WhatIfService({
    rules: { current: live },
    candidates: { snapshot: async () => candidate },
    learning: { model: (s: RulesetSnapshot) => models.get(s) },
    population,
    usage: new MemoryCapCounters(),
    clock: () => NOW,
    defaultLimit: 1,
  });
  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  await sleep(IDLE_MS);
  idle.disable();
  say('what-if', `${population.kind}: running`);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const redisBefore = redisPid === null ? null : processCpuMs(redisPid);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  delay.enable();
  const { id } = await service.start({ candidate: 'candidate', channel: 'web', volume: CUSTOMERS });
  await service.idle();
  delay.disable();
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const redisAfter = redisPid === null ? null : processCpuMs(redisPid);
  const status: WhatIfStatus = service.get(id);
  if (status.state !== 'done') throw new Error(`the run ${status.state}: ${status.error}`);
  const report = status.result!;
  const customers = status.done;
  return {
    store: population.kind,
    customers,
    seconds: round(seconds, 2),
    decisionsPerSec: Math.round((2 * customers) / seconds),
    cpuUsPerCustomer: round((cpu.user + cpu.system) / customers, 2),
    redisCpuUsPerCustomer:
      redisBefore === null || redisAfter === null
        ? null
        : round(((redisAfter - redisBefore) * 1000) / customers, 2),
    eventLoopDelayP99Ms: round(delay.percentile(99) / 1e6, 2),
    eventLoopDelayMaxMs: round(delay.max / 1e6, 2),
    idleDelayP99Ms: round(idle.percentile(99) / 1e6, 2),
    idleDelayMaxMs: round(idle.max / 1e6, 2),
    liveExpectedAccepts: Math.round(report.live.totals.expectedAccepts),
    candidateExpectedAccepts: Math.round(report.candidate!.totals.expectedAccepts),
    candidateBound: report.candidate!.totals.bound,
  };
}

async function main(): Promise<void> {
  const data = await generatedData('what-if', OFFERS, CUSTOMERS);
  const live = await loadRuleset(data.rules, NOW);
  const candidate = await loadRuleset(await candidateRules(data.rules), NOW);
  const runs: Figures[] = [];

  say('what-if', `reading ${data.profiles}`);
  let read: Awaited<ReturnType<typeof readProfilesFile>> | null = await readProfilesFile(data.profiles);
  runs.push(
    await measure(new MemoryPopulation(new MemoryProfileStore(read.profiles)), live, candidate, null),
  );
  read = null;

  if (process.env.BENCH_REDIS !== '0') {
    const server = await redisWithProfiles('what-if', data.profiles, PREFIX);
    try {
      const redis = await RedisConnection.open(
        { url: server.url, clusterNodes: [], prefix: PREFIX, timeoutMs: 10_000 },
        pino({ level: 'error' }),
      );
      try {
        runs.push(
          await measure(new RedisPopulation(redis, new RedisKeys(PREFIX)), live, candidate, server.pid),
        );
      } finally {
        redis.close();
      }
    } finally {
      await server.stop();
    }
  }

  console.table(runs);
  const checks = runs.map((r) => ({
    store: r.store,
    seconds: r.seconds,
    target: TARGET_SECONDS,
    pass: r.seconds < TARGET_SECONDS && r.customers >= CUSTOMERS,
  }));
  for (const c of checks)
    console.log(
      `${verdict(c.pass)}: ${c.store}: ${CUSTOMERS} customers in ${c.seconds} s (target < ${TARGET_SECONDS} s)`,
    );
  await publishResult('what-if', {
    config: { customers: CUSTOMERS, offers: OFFERS, channel: 'web' },
    runs,
    checks,
  });
}

runBench('what-if', main);
