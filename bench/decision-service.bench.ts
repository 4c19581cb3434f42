// The decision service's own cost: DecisionService.decide() on the embedded stores (profiles,
// contact history, caps, the decision log) against decide() alone on the same decisions, in this
// one thread, without HTTP. The difference is what the service adds around the engine: reading,
// recording, logging, and the garbage all of it leaves. CPU µs per decision from
// process.cpuUsage() (user + system of this process: other jobs on the machine do not count),
// garbage collections and their time from the `gc` performance entries.
// Run: npm run bench:service. Knobs: BENCH_DURATION (s per task, 5), BENCH_CUSTOMERS (100000).

import { PerformanceObserver } from 'node:perf_hooks';
import { CHANNELS } from '../src/domain/channel.js';
import { NO_USAGE } from '../src/domain/contact.js';
import { type CustomerProfile, profileFromRecord } from '../src/domain/profile.js';
import { Rng } from '../src/domain/random.js';
import { decide } from '../src/engine/decide.js';
import { MemoryFeedbackLog } from '../src/feedback/log/memory-feedback-log.js';
import { buildRuleset } from '../src/ruleset/load.js';
import type { RulesetHolder } from '../src/ruleset/ruleset-holder.js';
import { type DecideCommand, DecisionService } from '../src/service/decision-service.js';
import { catalogProducts, generateRuleset, rulesFileTexts } from '../src/sim/catalog.js';
import { generatePopulation, REFERENCE_DATE } from '../src/sim/population.js';
import { MemoryCapCounters } from '../src/store/cap-counters.js';
import { MemoryContactHistoryStore } from '../src/store/contact-history-store.js';
import { MemoryProfileStore } from '../src/store/memory-profile-store.js';
import { knob, publishResult, round, runBench } from './support.js';

const OFFERS = 500;
const CUSTOMERS = Math.floor(knob('CUSTOMERS', 100_000));
const TASK_MS = knob('DURATION', 5) * 1000;
const COMMANDS = 1 << 16;
const DAY_MS = 86_400_000;
/** Noon on the population's reference day: every generated offer is in force. */
const START = Date.parse(`${REFERENCE_DATE}T12:00:00Z`);

interface TaskFigures {
  readonly task: string;
  readonly decisions: number;
  readonly cpuUsPerDecision: number;
  readonly wallUsPerDecision: number;
  readonly gcPer1000: number;
  readonly gcUsPerDecision: number;
  readonly meanOffers: number;
}

/** Runs `step` for TASK_MS of wall time; CPU, wall and garbage collection per decision. */
async function measure(task: string, step: (i: number) => number | Promise<number>): Promise<TaskFigures> {
  // Warm-up: the JIT, and the stores' first touch of each customer.
  for (let i = 0; i < 50_000; i++) await step(i);
  let gcs = 0;
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcs++;
      gcMs += e.duration;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  let offers = 0;
  while (performance.now() - t0 < TASK_MS) {
    for (let k = 0; k < 1_000; k++) offers += await step(n++);
    // The gc entries are delivered by the event loop, which resolved promises never yield to.
    await new Promise((resolve) => setImmediate(resolve));
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return {
    task,
    decisions: n,
    cpuUsPerDecision: round((cpu.user + cpu.system) / n, 2),
    wallUsPerDecision: round((wallMs * 1_000) / n, 2),
    gcPer1000: round((gcs * 1_000) / n, 2),
    gcUsPerDecision: round((gcMs * 1_000) / n, 2),
    meanOffers: round(offers / n, 2),
  };
}

async function main(): Promise<void> {
  process.stderr.write(`service bench: ${OFFERS} offers, ${CUSTOMERS.toLocaleString('en-US')} customers…\n`);
  const files = generateRuleset({ offers: OFFERS, seed: 42 });
  const snapshot = buildRuleset(rulesFileTexts(files), START);
  const profiles: CustomerProfile[] = [];
  for (const record of generatePopulation(CUSTOMERS, catalogProducts(files), { seed: 42, affinities: 20 })) {
    profiles.push(profileFromRecord(record));
  }
  const rng = new Rng(42, 'service-bench');
  const commands: DecideCommand[] = [];
  for (let i = 0; i < COMMANDS; i++) {
    commands.push({
      customerId: profiles[rng.int(0, CUSTOMERS - 1)]!.id,
      channel: CHANNELS[i % 5]!,
      limit: 3,
    });
  }
  // The clock moves a day's worth over 2^20 decisions, so that histories fill and age as on a server.
  let tick = 0;
  const clock = () => START + Math.floor((tick * DAY_MS) / (1 << 20));
  const history = new MemoryContactHistoryStore();
  const windows = { reactionMs: DAY_MS, conversionMs: 7 * DAY_MS };
  const rules: Pick<RulesetHolder, 'current'> = { current: snapshot };
  const service = new DecisionService({
    rules,
    profiles: new MemoryProfileStore(profiles),
    history,
    counters: new MemoryCapCounters(),
    feedbackLog: new MemoryFeedbackLog(history, {
      windows,
      maxDecisions: 100_000,
      maxEntries: 10_000,
      clock,
    }),
    clock,
    defaultLimit: 3,
  });
  const byId = new Map(profiles.map((p) => [p.id, p]));
  const engineAlone = await measure('decide() alone', (i) => {
    const c = commands[i & (COMMANDS - 1)]!;
    return decide({
      snapshot,
      profile: byId.get(c.customerId)!,
      history: [],
      usage: NO_USAGE,
      now: START,
      request: { channel: c.channel, placement: null, limit: 3, context: {}, explain: false },
    }).offers.length;
  });
  const throughService = await measure('DecisionService.decide()', async (i) => {
    tick++;
    return (await service.decide(commands[i & (COMMANDS - 1)]!)).engine.offers.length;
  });
  console.table([engineAlone, throughService]);
  // Not the service alone: its engine also reads histories that fill as the clock moves.
  const serviceUs = round(throughService.cpuUsPerDecision - engineAlone.cpuUsPerDecision, 2);
  process.stderr.write(`service bench: ${serviceUs} CPU µs per decision more than decide() alone\n`);
  await publishResult('service', {
    config: { offers: OFFERS, customers: CUSTOMERS, durationS: TASK_MS / 1000 },
    tasks: [engineAlone, throughService],
    serviceCpuUsPerDecision: serviceUs,
  });
}

runBench('service', main);
