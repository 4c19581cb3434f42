// Expression bench: rule conditions compiled by our language (src/ruleset/expr/) against filtrex 3
// with the closest semantics its options allow, over the same generated customers. It is why we
// write our own: docs/decisions/0001-expression-language.md. Run: npm run bench:expr
// Knob: BENCH_DURATION (s per task, 1).

import { compileExpression as filtrexCompile } from 'filtrex';
import { Bench } from 'tinybench';
import { Rng } from '../src/domain/random.js';
import { type CompileOptions, compileCondition, type ExprFunction } from '../src/ruleset/expr/index.js';
import { knob, publishResult, round } from './support.js';

const TASK_MS = knob('DURATION', 1) * 1000;
const CUSTOMERS = 1024;
const PRODUCTS = ['credit-card-gold', 'mortgage', 'savings-plus', 'travel-insurance', 'loan'];
const REGIONS = ['north', 'east', 'south', 'west'];

type Attribute = string | number | boolean | null;
interface Scope {
  readonly customer: Readonly<Record<string, Attribute>>;
  readonly context: Readonly<Record<string, Attribute>>;
  readonly holdings: ReadonlySet<string>;
  readonly affinities: ReadonlyMap<string, number>;
}

/** Seeded customers; attributes through JSON, as profiles come from Redis or NDJSON. */
function makeScopes(): Scope[] {
  const rng = new Rng(42, 'expr-bench');
  return Array.from({ length: CUSTOMERS }, () => ({
    customer: JSON.parse(
      JSON.stringify({ clv: rng.int(0, 5000), tenureYears: rng.int(0, 12), region: rng.pick(REGIONS) }),
    ) as Record<string, Attribute>,
    context: { intent: rng.pick(['browse', 'complaint', 'purchase']) },
    holdings: new Set(PRODUCTS.filter(() => rng.chance(0.3))),
    affinities: new Map(PRODUCTS.map((p) => [p, round(rng.next(), 2)] as const)),
  }));
}

// Ours: holds() and affinity() as src/ruleset/compile.ts registers them.
const fn = (call: ExprFunction<Scope>['call']): ExprFunction<Scope> => ({ minArgs: 1, maxArgs: 1, call });
const OPTIONS: CompileOptions<Scope> = {
  roots: { customer: (s) => s.customer, context: (s) => s.context },
  functions: {
    holds: fn((s, p) => typeof p === 'string' && s.holdings.has(p)),
    affinity: fn((s, p) => (typeof p === 'string' ? (s.affinities.get(p) ?? 0) : 0)),
  },
};

// filtrex: dotted names read own properties only (its useDotAccessOperator reads inherited ones),
// missing is null; its functions get no scope, so they read the one set before each evaluation.
let current: Scope | null = null;
const splits = new Map<string, readonly string[]>();
function ownDotted(name: string, _get: unknown, obj: unknown): unknown {
  let parts = splits.get(name);
  if (parts === undefined) {
    parts = name.split('.');
    splits.set(name, parts);
  }
  let o = obj;
  for (const p of parts)
    o = typeof o === 'object' && o !== null && Object.hasOwn(o, p) ? (o as never)[p] : null;
  return o ?? null;
}
const FILTREX_OPTIONS = {
  customProp: ownDotted,
  extraFunctions: {
    holds: (p: unknown) => typeof p === 'string' && current!.holdings.has(p),
    affinity: (p: unknown) => (typeof p === 'string' ? (current!.affinities.get(p) ?? 0) : 0),
  },
};
type Predicate = (s: Scope) => boolean;
function filtrexCondition(source: string): Predicate {
  const f = filtrexCompile(source, FILTREX_OPTIONS) as (data: unknown) => unknown;
  return (s) => {
    current = s;
    const v = f(s);
    return v !== false && v !== 0 && v !== null && v !== undefined && v !== '';
  };
}

// Each case in our syntax and filtrex's (double-quoted strings, `in (…)`).
// biome-ignore format: one case a line
const CASES: readonly (readonly [name: string, ours: string, filtrex: string])[] = [
  ['compare', 'customer.clv > 2000', 'customer.clv > 2000'],
  ['holds', "holds('mortgage')", 'holds("mortgage")'],
  ['affinity', "affinity('savings-plus') >= 0.3", 'affinity("savings-plus") >= 0.3'],
  ['in-list', "customer.region in ['north', 'east']", 'customer.region in ("north", "east")'],
  ['and-or', "(customer.tenureYears >= 3 or affinity('loan') >= 0.5) and not holds('loan') and context.intent != 'complaint'",
    '(customer.tenureYears >= 3 or affinity("loan") >= 0.5) and not holds("loan") and context.intent != "complaint"'],
];

const SCOPES = makeScopes();
let sink = 0;
const countTrue = (preds: readonly Predicate[]): number => {
  let n = 0;
  for (const s of SCOPES) for (const p of preds) if (p(s)) n++;
  return n;
};

async function main(): Promise<void> {
  const problems: string[] = [];
  const ours = CASES.map(([, source]) => compileCondition(source, OPTIONS));
  const theirs = CASES.map(([, , source]) => filtrexCondition(source));
  CASES.forEach(([name], i) => {
    const bad = SCOPES.filter((s) => ours[i]!(s) !== theirs[i]!(s)).length;
    if (bad > 0) problems.push(`${name}: ours and filtrex disagree on ${bad} of ${CUSTOMERS} customers`);
  });
  // The last row runs all five in turn per customer: shared call sites see every shape, as in a ruleset.
  const rows = [...CASES.map(([name], i) => ({ name, i: [i] })), { name: 'all five', i: [0, 1, 2, 3, 4] }];
  const bench = new Bench({ time: TASK_MS, warmupTime: Math.min(500, TASK_MS) });
  const add = (task: string, run: () => number) =>
    bench.add(task, () => {
      sink ^= run();
    });
  for (const { name, i } of rows) {
    const [a, b] = [i.map((k) => ours[k]!), i.map((k) => theirs[k]!)];
    add(`${name} eval ours`, () => countTrue(a));
    add(`${name} eval filtrex`, () => countTrue(b));
  }
  for (const [name, o, f] of CASES) {
    add(`${name} compile ours`, () => compileCondition(o, OPTIONS).length);
    add(`${name} compile filtrex`, () => filtrexCompile(f, FILTREX_OPTIONS).length);
  }
  bench.runSync();
  const ms = (task: string): number => {
    const r = bench.getTask(task)?.result;
    if (!r || r.error) throw new Error(`${task}: ${r?.error?.message ?? 'no result'}`);
    return r.latency.mean; // milliseconds per call
  };
  const results = rows.map(({ name, i }) => {
    const mevals = (who: string) => round((CUSTOMERS * i.length) / ms(`${name} eval ${who}`) / 1000, 2);
    const compileUs = (who: string) =>
      round((1000 * i.reduce((t, k) => t + ms(`${CASES[k]![0]} compile ${who}`), 0)) / i.length, 2);
    return {
      case: name,
      'M evals/s ours': mevals('ours'),
      'M evals/s filtrex': mevals('filtrex'),
      'ours / filtrex': round(mevals('ours') / mevals('filtrex'), 2),
      'compile µs ours': compileUs('ours'),
      'compile µs filtrex': compileUs('filtrex'),
      'true %': round((100 * countTrue(i.map((k) => ours[k]!))) / (CUSTOMERS * i.length), 1),
    };
  });
  console.table(results);
  await publishResult('expr', { taskMs: TASK_MS, customers: CUSTOMERS, results, sink: sink & 1 }, problems);
}

await main();
