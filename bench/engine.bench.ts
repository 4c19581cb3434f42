// Engine benchmark: decide() alone, in this one thread, over a synthetic world (generateRuleset +
// generatePopulation, seed 42); and what one metric observation of the request path costs, ours
// against prom-client's. Run: npm run bench:engine
// Target: at least 50,000 decisions/s per core over a 1,000-offer catalog.
// Knobs: BENCH_DURATION (s per task, 5), BENCH_CUSTOMERS (100000).

import { Counter, Histogram, Registry } from 'prom-client';
import { Bench, type Task } from 'tinybench';
import { CHANNELS } from '../src/domain/channel.js';
import { type ContactEvent, NO_USAGE } from '../src/domain/contact.js';
import { type AttributeValue, type CustomerProfile, profileFromRecord } from '../src/domain/profile.js';
import { Rng } from '../src/domain/random.js';
import { type DecisionInput, decide } from '../src/engine/decide.js';
import { CounterFamily, HistogramFamily } from '../src/metrics/metric-families.js';
import { HTTP_BUCKETS } from '../src/metrics/metrics.js';
import { buildRuleset } from '../src/ruleset/load.js';
import type { RulesetSnapshot } from '../src/ruleset/snapshot.js';
import { catalogProducts, generateRuleset, rulesFileTexts } from '../src/sim/catalog.js';
import { generatePopulation, REFERENCE_DATE } from '../src/sim/population.js';
import { knob, publishResult, round, verdict } from './support.js';

const TARGET_DECISIONS_PER_SEC = 50_000;
const SEED = 42;
const AFFINITIES = 20;
const CUSTOMERS = Math.floor(knob('CUSTOMERS', 100_000));
const TASK_MS = knob('DURATION', 5) * 1000;
/** Pre-drawn inputs, cycled: enough that the customers touched do not all sit in the CPU caches. */
const INPUT_COUNT = 1 << 16;
const MASK = INPUT_COUNT - 1;
/** Noon on the population's reference day: every generated offer and campaign is in force. */
const NOW = Date.parse(`${REFERENCE_DATE}T12:00:00Z`);
const NO_HISTORY: readonly ContactEvent[] = [];
const NO_CONTEXT: Readonly<Record<string, AttributeValue>> = Object.freeze({});

interface World {
  readonly offers: number;
  readonly products: number;
  readonly snapshot: RulesetSnapshot;
  readonly profiles: readonly CustomerProfile[];
  readonly compileMs: number;
  readonly populationMs: number;
}

function buildWorld(offers: number): World {
  const files = generateRuleset({ offers, seed: SEED });
  const sources = rulesFileTexts(files);
  let t = performance.now();
  const snapshot = buildRuleset(sources, NOW);
  const compileMs = performance.now() - t;
  const products = catalogProducts(files);
  t = performance.now();
  const profiles: CustomerProfile[] = [];
  for (const record of generatePopulation(CUSTOMERS, products, { seed: SEED, affinities: AFFINITIES })) {
    profiles.push(profileFromRecord(record));
  }
  const populationMs = performance.now() - t;
  return { offers, products: products.length, snapshot, profiles, compileMs, populationMs };
}

/** Random customers, channels round-robin over all five, limit 3: drawn before timing starts. */
function drawInputs(world: World, explain: boolean): DecisionInput[] {
  const rng = new Rng(SEED, `engine-bench-${world.offers}`);
  const inputs: DecisionInput[] = new Array(INPUT_COUNT);
  for (let i = 0; i < INPUT_COUNT; i++) {
    inputs[i] = {
      snapshot: world.snapshot,
      profile: world.profiles[rng.int(0, world.profiles.length - 1)]!,
      history: NO_HISTORY,
      usage: NO_USAGE,
      now: NOW,
      request: {
        channel: CHANNELS[i % CHANNELS.length]!,
        placement: null,
        limit: 3,
        context: NO_CONTEXT,
        explain,
      },
    };
  }
  return inputs;
}

/** What the measured decisions return, so that a fast figure cannot hide an engine that says no. */
interface Shape {
  readonly meanOffers: number;
  readonly emptyShare: number;
  /** Share of decisions closed before any offer is looked at (no consent for the channel): cheap ones. */
  readonly blockedShare: number;
  /** With explain: candidates reported as not chosen, per decision. */
  readonly meanSuppressed: number | null;
}

function shapeOf(inputs: readonly DecisionInput[]): Shape {
  let offers = 0;
  let empty = 0;
  let blocked = 0;
  let suppressed = 0;
  for (const input of inputs) {
    const d = decide(input);
    offers += d.offers.length;
    if (d.offers.length === 0) empty++;
    suppressed += d.suppressed?.length ?? 0;
    // An explained decision tells why: a channel block gives every candidate the same channel code.
    const why = input.request.explain
      ? d
      : decide({ ...input, request: { ...input.request, explain: true } });
    const first = why.suppressed?.[0]?.code;
    if (d.offers.length === 0 && (first === 'no_consent' || first === 'contact_cap')) blocked++;
  }
  return {
    meanOffers: round(offers / inputs.length, 2),
    emptyShare: round(empty / inputs.length, 3),
    blockedShare: round(blocked / inputs.length, 3),
    meanSuppressed: inputs[0]?.request.explain ? round(suppressed / inputs.length, 1) : null,
  };
}

interface Case {
  readonly name: string;
  readonly world: World;
  readonly inputs: readonly DecisionInput[];
  readonly shape: Shape;
}

interface TaskFigures {
  task: string;
  offers: number;
  explain: boolean;
  decisionsPerSec: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  rmePct: number;
  samples: number;
  meanOffers: number;
  emptyShare: number;
  blockedShare: number;
  meanSuppressed: number | null;
}

let sink = 0;

function runCases(cases: readonly Case[]): TaskFigures[] {
  const bench = new Bench({ time: TASK_MS, warmupTime: Math.min(1_000, TASK_MS), iterations: 1_000 });
  for (const c of cases) {
    const inputs = c.inputs;
    let i = 0;
    // One decision per sample: tinybench times each call, which gives the per-decision p99.
    bench.add(c.name, () => {
      sink += decide(inputs[i++ & MASK]!).offers.length;
    });
  }
  // decide() is synchronous: runSync() keeps promises and ticks out of the samples.
  bench.runSync();
  return cases.map((c) => figures(c, bench.getTask(c.name)!));
}

function figures(c: Case, task: Task): TaskFigures {
  const r = task.result;
  if (!r || r.error) throw new Error(`${task.name}: ${r?.error?.message ?? 'no result'}`);
  const lat = r.latency; // milliseconds
  return {
    task: c.name,
    offers: c.world.offers,
    explain: c.inputs[0]!.request.explain,
    // Decisions over time spent in them (1 / mean latency), not tinybench's mean of per-sample rates,
    // which overstates throughput when most samples are short.
    decisionsPerSec: Math.round(1_000 / lat.mean),
    meanUs: round(lat.mean * 1_000, 2),
    p50Us: round((lat.p50 ?? Number.NaN) * 1_000, 2),
    p99Us: round((lat.p99 ?? Number.NaN) * 1_000, 2),
    rmePct: round(lat.rme, 2),
    samples: lat.samples.length,
    ...c.shape,
  };
}

function makeCase(name: string, world: World, explain: boolean): Case {
  const inputs = drawInputs(world, explain);
  return { name, world, inputs, shape: shapeOf(inputs) };
}

function describe(w: World): Record<string, number> {
  return {
    offers: w.offers,
    products: w.products,
    customers: w.profiles.length,
    compileMs: Math.round(w.compileMs),
    populationMs: Math.round(w.populationMs),
  };
}

async function main(): Promise<void> {
  process.stderr.write(
    `engine bench: generating 1,000 offers and ${CUSTOMERS.toLocaleString('en-US')} customers…\n`,
  );
  let world = buildWorld(1_000);
  const worlds = [describe(world)];
  const results = runCases([
    makeCase('decide 1000 offers', world, false),
    makeCase('decide 1000 offers explain', world, true),
  ]);
  process.stderr.write(
    `engine bench: generating 500 offers and ${CUSTOMERS.toLocaleString('en-US')} customers…\n`,
  );
  // Let the first world go before building the second: two populations at once only cost memory.
  world = buildWorld(500);
  worlds.push(describe(world));
  results.push(...runCases([makeCase('decide 500 offers', world, false)]));

  console.table(
    results.map((r) => ({
      task: r.task,
      'decisions/s': r.decisionsPerSec,
      'mean µs': r.meanUs,
      'p99 µs': r.p99Us,
      samples: r.samples,
      'offers/decision': r.meanOffers,
      'empty %': round(r.emptyShare * 100, 1),
      'no-consent %': round(r.blockedShare * 100, 1),
    })),
  );
  const headline = results[0]!;
  const pass = headline.decisionsPerSec >= TARGET_DECISIONS_PER_SEC;
  console.log(
    `${verdict(pass)}: ${headline.decisionsPerSec.toLocaleString('en-US')} decisions/s with 1,000 offers ` +
      `on one core (target ≥ ${TARGET_DECISIONS_PER_SEC.toLocaleString('en-US')})`,
  );
  const metrics = metricObservations();
  console.table(metrics);
  await publishResult('engine', {
    taskMs: TASK_MS,
    worlds,
    target: { decisionsPerSec: TARGET_DECISIONS_PER_SEC, pass },
    results,
    metrics,
    sink: sink & 1,
  });
}

/**
 * One metric observation, prom-client's Counter and Histogram (through a labels() child, as a
 * caller would keep it) against our series (src/metrics/metric-families.ts): a decision records
 * several of each. Loops of 2,000,000 calls timed as one (each call is a few ns), median of 7.
 */
function metricObservations() {
  const registers = [new Registry()];
  const labelNames = ['method', 'route', 'status_code'];
  const labels = ['POST', '/v1/decisions', '200'] as const;
  const promCounter = new Counter({ name: 'pc', help: 'h', labelNames: ['channel'], registers }).labels(
    'web',
  );
  const promHistogram = new Histogram({
    name: 'ph',
    help: 'h',
    labelNames,
    buckets: HTTP_BUCKETS,
    registers,
  });
  const promSeries = promHistogram.labels(...labels);
  const ourCounter = new CounterFamily({ name: 'oc', help: 'h', labelNames: ['channel'] }).series('web');
  const ourHistogram = new HistogramFamily({
    name: 'oh',
    help: 'h',
    labelNames,
    buckets: HTTP_BUCKETS,
  }).series(...labels);
  // Latencies as a decision sees them: mostly under a millisecond, some more.
  const values = Float64Array.from({ length: 4096 }, (_, i) => 0.0002 + ((i * 7919) % 4096) / 4096 / 100);
  let i = 0;
  const tasks: [string, () => void][] = [
    ['prom-client counter inc', () => promCounter.inc()],
    ['our counter inc', () => ourCounter.inc()],
    ['prom-client histogram observe', () => promSeries.observe(values[i++ & 4095]!)],
    ['our histogram observe', () => ourHistogram.observe(values[i++ & 4095]!)],
  ];
  return tasks.map(([task, call]) => {
    const perCall: number[] = [];
    for (let r = 0; r < 8; r++) {
      const started = process.hrtime.bigint();
      for (let n = 0; n < 2_000_000; n++) call();
      if (r > 0) perCall.push(Number(process.hrtime.bigint() - started) / 2_000_000); // round 0 warms up
    }
    perCall.sort((a, b) => a - b);
    return { task, nsPerCall: round(perCall[3]!, 1) };
  });
}

await main();
