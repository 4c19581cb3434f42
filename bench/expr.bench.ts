// Expression engine benchmark. Run: npm run bench:expr
//   ours           the engine: closures, with generated per-field readers (fields.ts)
//   closures only  the same with closure field readers: no generated code at all
//   full codegen   a measurement-only prototype that generates one JS function per condition
//   filtrex        filtrex 3, with the closest semantics its options allow
// Prints a table and one JSON line ({"bench":"expr",...}) to compare runs.
// Decision and numbers: docs/decisions/0001-expression-language.md.

import { compileExpression as filtrexCompile } from 'filtrex';
import { Bench } from 'tinybench';
import { setFieldCodegen } from '../src/ruleset/expr/fields.js';
import {
  type AstNode,
  BUILTINS,
  type CompileOptions,
  compileCondition,
  type ExprFunction,
  parseExpression,
  toValue,
  truthy,
  validateExpression,
} from '../src/ruleset/expr/index.js';
import * as sem from '../src/ruleset/expr/values.js';
import { DAY_MS } from '../src/ruleset/time.js';
import { Rng } from '../src/sim/random.js';
import { machine, round, writeResult } from './support.js';

type Attribute = string | number | boolean | null | readonly (string | number)[];

interface Scope {
  readonly customer: Readonly<Record<string, Attribute>>;
  readonly context: Readonly<Record<string, Attribute>>;
  readonly holdings: ReadonlySet<string>;
  readonly affinities: ReadonlyMap<string, number>;
  readonly segments: ReadonlySet<string>;
  readonly now: number;
}

const NOW = Date.UTC(2026, 0, 15);
const PRODUCTS = [
  'credit-card-gold',
  'credit-card-classic',
  'mortgage',
  'savings-plus',
  'travel-insurance',
  'loan',
];
const SEGMENTS = new Set(['high_value', 'young_professional', 'at_risk']);

// ---------------------------------------------------------------------------------------------
// Data: deterministic pseudo-random customers (the seeded generator of src/sim).

function makeScopes(n: number): Scope[] {
  const rng = new Rng(42, 'expr-bench');
  const r = () => rng.next();
  const pick = <T>(xs: readonly T[]): T => rng.pick(xs);
  const scopes: Scope[] = [];
  for (let i = 0; i < n; i++) {
    // JSON round trip: attributes look exactly as they do when loaded from Redis or NDJSON.
    const customer = JSON.parse(
      JSON.stringify({
        clv: Math.round(r() * 5000),
        tenureYears: Math.floor(r() * 12),
        region: pick(['north', 'east', 'south', 'west']),
        income: Math.round(1500 + r() * 8000),
        monthlyDebt: Math.round(r() * 2500),
        balance: Math.round(r() * 20000 - 2000),
        age: 18 + Math.floor(r() * 60),
        accountOpened: NOW - Math.floor(r() * 3000) * DAY_MS,
        riskScore: Math.round(r() * 100) / 100,
        segmentCode: pick(['A1', 'B2', 'C3']),
        email: r() < 0.9 ? 'someone@example.com' : null,
        tags: r() < 0.5 ? ['digital', 'family'] : ['branch'],
        ...(r() < 0.7 ? { employment: pick(['employed', 'self-employed', 'retired']) } : {}),
      }),
    ) as Record<string, Attribute>;
    const holdings = new Set(PRODUCTS.filter(() => r() < 0.3));
    const affinities = new Map(PRODUCTS.map((p) => [p, Math.round(r() * 100) / 100] as const));
    const segments = new Set([...SEGMENTS].filter(() => r() < 0.4));
    const context = { intent: pick(['browse', 'complaint', 'purchase']), channel: pick(['web', 'mobile']) };
    scopes.push({ customer, context, holdings, affinities, segments, now: NOW });
  }
  return scopes;
}

// ---------------------------------------------------------------------------------------------
// Our engine, with domain functions like the ones the ruleset compiler registers.

const fn = (call: ExprFunction<Scope>['call']): ExprFunction<Scope> => ({ minArgs: 1, maxArgs: 1, call });

const OPTIONS: CompileOptions<Scope> = {
  roots: { customer: (s) => s.customer, context: (s) => s.context },
  functions: {
    holds: fn((s, p) => typeof p === 'string' && s.holdings.has(p)),
    affinity: fn((s, p) => (typeof p === 'string' ? (s.affinities.get(p) ?? 0) : 0)),
    daysSince: fn((s, t) => (typeof t === 'number' ? Math.floor((s.now - t) / DAY_MS) : null)),
    inSegment: fn((s, id) => typeof id === 'string' && s.segments.has(id)),
  },
};

// ---------------------------------------------------------------------------------------------
// filtrex 3 with the closest semantics we can give it: dotted names read own properties only
// (its own useDotAccessOperator reads inherited ones), missing is null, and the domain functions
// read the scope from a variable set before each evaluation (extraFunctions get no scope).

let filtrexScope: Scope | null = null;
const dotted = new Map<string, readonly string[]>();

function safeDottedProp(name: string, _get: (name: string) => unknown, obj: unknown): unknown {
  let parts = dotted.get(name);
  if (parts === undefined) {
    parts = name.split('.');
    dotted.set(name, parts);
  }
  let o = obj;
  for (const p of parts) o = sem.field(o, p);
  return toValue(o);
}

const FILTREX_OPTIONS = {
  customProp: safeDottedProp,
  extraFunctions: {
    holds: (p: unknown) => typeof p === 'string' && filtrexScope!.holdings.has(p),
    affinity: (p: unknown) => (typeof p === 'string' ? (filtrexScope!.affinities.get(p) ?? 0) : 0),
    daysSince: (t: unknown) => (typeof t === 'number' ? Math.floor((filtrexScope!.now - t) / DAY_MS) : null),
    inSegment: (id: unknown) => typeof id === 'string' && filtrexScope!.segments.has(id),
  },
};

type Predicate = (s: Scope) => boolean;

function filtrexCondition(source: string): Predicate {
  const f = filtrexCompile(source, FILTREX_OPTIONS) as (data: unknown) => unknown;
  return (s) => {
    filtrexScope = s;
    const v = f(s);
    return v !== false && v !== 0 && v !== null && v !== undefined && v !== '';
  };
}

// ---------------------------------------------------------------------------------------------
// Measurement-only prototype: the same language generated as JavaScript source from the
// VALIDATED AST (literals and field names only via JSON.stringify, values by reference), to know
// what closures cost against generated code. Not used by the engine.

const H = {
  GP: Object.getPrototypeOf,
  OP: Object.prototype,
  HO: Object.hasOwn,
  V: toValue,
  T: truthy,
  E: sem.equals,
  LT: sem.lessThan,
  LE: sem.lessOrEqual,
  IN: sem.isIn,
  ADD: sem.add,
  SUB: sem.subtract,
  MUL: sem.multiply,
  DIV: sem.divide,
  MOD: sem.remainder,
  NEG: sem.negate,
};

function codegenCondition(source: string, options: CompileOptions<Scope>): Predicate {
  const ast = parseExpression(source);
  validateExpression(ast, source, options);
  const refs: unknown[] = [];
  const ref = (v: unknown) => `R[${refs.push(v) - 1}]`;
  let temps = 0;
  const functions: Readonly<Record<string, ExprFunction<Scope>>> = { ...BUILTINS, ...options.functions };
  const numberOrString = (n: AstNode) =>
    n.type === 'literal' && (typeof n.value === 'number' || typeof n.value === 'string')
      ? n.value
      : undefined;
  const gen = (n: AstNode): string => {
    switch (n.type) {
      case 'literal':
        return JSON.stringify(n.value);
      case 'list':
        return `[${n.items.map(gen).join(',')}]`;
      case 'path': {
        // field() inlined with a literal key: each path gets its own (monomorphic) property load.
        let code = `${ref(options.roots[n.root])}(s)`;
        for (const k of n.segments) {
          const key = JSON.stringify(k);
          const [o, v, p] = [`t${temps++}`, `t${temps++}`, `t${temps++}`];
          code =
            `((${o}=${code}),typeof ${o}==='object'&&${o}!==null&&(${v}=${o}[${key}])!==undefined&&` +
            `((${p}=GP(${o}))===OP||${p}===null)&&HO(${o},${key})?${v}:undefined)`;
        }
        return `V(${code})`;
      }
      case 'call':
        return `V(${ref(functions[n.name]!.call)}(s${n.args.map((a) => `,${gen(a)}`).join('')}))`;
      case 'unary':
        return n.op === 'not' ? `!T(${gen(n.operand)})` : `NEG(${gen(n.operand)})`;
      case 'binary': {
        const l = gen(n.left);
        const k = numberOrString(n.right);
        switch (n.op) {
          case 'and':
            return `(T(${l})&&T(${gen(n.right)}))`;
          case 'or':
            return `(T(${l})||T(${gen(n.right)}))`;
          case '==':
          case '!=':
            return k !== undefined
              ? `(${l}${n.op === '==' ? '===' : '!=='}${JSON.stringify(k)})`
              : `${n.op === '==' ? '' : '!'}E(${l},${gen(n.right)})`;
          case '<':
          case '<=':
          case '>':
          case '>=': {
            if (k !== undefined) {
              const t = `t${temps++}`;
              return `(typeof(${t}=${l})===${JSON.stringify(typeof k)}&&${t}${n.op}${JSON.stringify(k)})`;
            }
            const r = gen(n.right);
            const [f, a, b] =
              n.op === '<'
                ? ['LT', l, r]
                : n.op === '<='
                  ? ['LE', l, r]
                  : n.op === '>'
                    ? ['LT', r, l]
                    : ['LE', r, l];
            return `${f}(${a},${b})`;
          }
          case 'in':
          case 'not in': {
            const neg = n.op === 'not in' ? '!' : '';
            if (n.right.type === 'list' && n.right.items.every((i) => i.type === 'literal')) {
              const set = new Set(n.right.items.map((i) => (i.type === 'literal' ? i.value : null)));
              return `${neg}${ref(set)}.has(${l})`;
            }
            return `${neg}IN(${l},${gen(n.right)})`;
          }
          case '+':
            return `ADD(${l},${gen(n.right)})`;
          case '-':
            return `SUB(${l},${gen(n.right)})`;
          case '*':
            return `MUL(${l},${gen(n.right)})`;
          case '/':
            return `DIV(${l},${gen(n.right)})`;
          case '%':
            return `MOD(${l},${gen(n.right)})`;
        }
      }
    }
  };
  const body = gen(ast);
  const vars = Array.from({ length: temps }, (_, i) => `t${i}`);
  const code = `return function(s){${vars.length ? `var ${vars.join(',')};` : ''}return T(${body});}`;
  const names = Object.keys(H);
  const make = new Function('R', ...names, code) as (...args: unknown[]) => (s: Scope) => boolean;
  return make(refs, ...names.map((k) => H[k as keyof typeof H]));
}

// ---------------------------------------------------------------------------------------------
// Cases: representative conditions, in our syntax and filtrex's (double-quoted strings, `in (…)`).

interface Case {
  readonly name: string;
  readonly ours: string;
  readonly filtrex: string;
}

const CASES: readonly Case[] = [
  {
    name: 'compare-and',
    ours: 'customer.clv > 2000 and customer.tenureYears >= 3',
    filtrex: 'customer.clv > 2000 and customer.tenureYears >= 3',
  },
  {
    name: 'holds-affinity',
    ours: "not holds('credit-card-gold') and affinity('credit-card-gold') >= 0.3",
    filtrex: 'not holds("credit-card-gold") and affinity("credit-card-gold") >= 0.3',
  },
  {
    name: 'in-list',
    ours: "customer.region in ['north', 'east'] and context.intent != 'complaint'",
    filtrex: 'customer.region in ("north", "east") and context.intent != "complaint"',
  },
  {
    name: 'days-segment',
    ours: "daysSince(customer.accountOpened) > 365 and inSegment('high_value')",
    filtrex: 'daysSince(customer.accountOpened) > 365 and inSegment("high_value")',
  },
  {
    name: 'arithmetic',
    ours: 'customer.income * 0.3 - customer.monthlyDebt > 500 or max(customer.balance, 0) / 12 >= 100',
    filtrex: 'customer.income * 0.3 - customer.monthlyDebt > 500 or max(customer.balance, 0) / 12 >= 100',
  },
];

/** A ruleset-sized mix: 200 conditions from the cases with varied constants. */
function mixedRuleset(): Case[] {
  const out: Case[] = [];
  for (let i = 0; i < 40; i++) {
    const p = PRODUCTS[i % PRODUCTS.length]!;
    out.push(
      {
        name: '',
        ours: `customer.clv > ${1000 + i * 50} and customer.tenureYears >= ${i % 6}`,
        filtrex: `customer.clv > ${1000 + i * 50} and customer.tenureYears >= ${i % 6}`,
      },
      {
        name: '',
        ours: `not holds('${p}') and affinity('${p}') >= 0.${(i % 9) + 1}`,
        filtrex: `not holds("${p}") and affinity("${p}") >= 0.${(i % 9) + 1}`,
      },
      {
        name: '',
        ours: `customer.region in ['north', '${['east', 'south', 'west'][i % 3]}'] and context.intent != 'complaint'`,
        filtrex: `customer.region in ("north", "${['east', 'south', 'west'][i % 3]}") and context.intent != "complaint"`,
      },
      {
        name: '',
        ours: `daysSince(customer.accountOpened) > ${100 + i * 20} and inSegment('${[...SEGMENTS][i % 3]}')`,
        filtrex: `daysSince(customer.accountOpened) > ${100 + i * 20} and inSegment("${[...SEGMENTS][i % 3]}")`,
      },
      {
        name: '',
        ours: `customer.income * 0.${(i % 5) + 2} - customer.monthlyDebt > ${300 + i * 10} or customer.age < ${25 + (i % 10)}`,
        filtrex: `customer.income * 0.${(i % 5) + 2} - customer.monthlyDebt > ${300 + i * 10} or customer.age < ${25 + (i % 10)}`,
      },
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

const SCOPES = makeScopes(1024);
const MIX_SCOPES = SCOPES.slice(0, 64);
let sink = 0;

function countTrue(predicate: Predicate, scopes: readonly Scope[]): number {
  let n = 0;
  for (let i = 0; i < scopes.length; i++) if (predicate(scopes[i]!)) n++;
  return n;
}

function checkAgreement(name: string, a: Predicate, b: Predicate): void {
  const bad = SCOPES.filter((s) => a(s) !== b(s)).length;
  if (bad > 0) throw new Error(`${name}: engines disagree on ${bad} of ${SCOPES.length} scopes`);
}

/** Our compiler with plain-closure field readers only (no generated code at all). */
function closuresOnly(source: string): Predicate {
  setFieldCodegen(false);
  try {
    return compileCondition(source, OPTIONS);
  } finally {
    setFieldCodegen(true);
  }
}

type Stats = { hz: number; rme: number };

async function run(tasks: Readonly<Record<string, () => void>>, time: number): Promise<Map<string, Stats>> {
  const bench = new Bench({ time, warmupTime: Math.min(200, time) });
  for (const [name, task] of Object.entries(tasks)) bench.add(name, task);
  await bench.run();
  const out = new Map<string, Stats>();
  for (const task of bench.tasks) {
    const r = task.result;
    if (!r || r.error) throw new Error(`${task.name}: ${r?.error?.message ?? 'no result'}`);
    out.set(task.name, { hz: r.throughput.mean, rme: r.throughput.rme });
  }
  return out;
}

interface Row {
  case: string;
  'compile µs: ours': number;
  'compile µs: filtrex': number;
  'M evals/s: ours': number;
  'M evals/s: closures only': number;
  'M evals/s: full codegen': number;
  'M evals/s: filtrex': number;
  'ours / filtrex': number;
  'ours / codegen': number;
}

const ENGINES = ['ours', 'closures', 'codegen', 'filtrex'] as const;
type Engine = (typeof ENGINES)[number];

function build(c: Case): Record<Engine, Predicate> {
  return {
    ours: compileCondition(c.ours, OPTIONS),
    closures: closuresOnly(c.ours),
    codegen: codegenCondition(c.ours, OPTIONS),
    filtrex: filtrexCondition(c.filtrex),
  };
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const compileTasks = (compileOurs: () => void, compileFiltrex: () => void) =>
    run({ ours: compileOurs, filtrex: compileFiltrex }, 500);

  for (const c of CASES) {
    const engines = build(c);
    for (const e of ENGINES) checkAgreement(`${c.name} (${e})`, engines.ours, engines[e]);
    const compile = await compileTasks(
      () => {
        sink ^= compileCondition(c.ours, OPTIONS).length;
      },
      () => {
        sink ^= filtrexCompile(c.filtrex, FILTREX_OPTIONS).length;
      },
    );
    const tasks: Record<string, () => void> = {};
    for (const e of ENGINES) {
      const p = engines[e];
      tasks[e] = () => {
        sink ^= countTrue(p, SCOPES);
      };
    }
    rows.push(row(c.name, compile, await run(tasks, 1000), SCOPES.length, 1));
  }

  // The hot path evaluates hundreds of different conditions per decision, so every call site
  // shared by them (one closure shape per operator) sees many targets; this is the number to
  // judge by.
  const mix = mixedRuleset();
  const built = mix.map(build);
  mix.forEach((c, i) => {
    for (const e of ENGINES) checkAgreement(`${c.ours} (${e})`, built[i]!.ours, built[i]![e]);
  });
  const mixCompile = await compileTasks(
    () => {
      for (const c of mix) sink ^= compileCondition(c.ours, OPTIONS).length;
    },
    () => {
      for (const c of mix) sink ^= filtrexCompile(c.filtrex, FILTREX_OPTIONS).length;
    },
  );
  const tasks: Record<string, () => void> = {};
  for (const e of ENGINES) {
    const preds = built.map((b) => b[e]);
    tasks[e] = () => {
      let n = 0;
      for (const s of MIX_SCOPES) for (const p of preds) if (p(s)) n++;
      sink ^= n;
    };
  }
  const mixEval = await run(tasks, 2000);
  rows.push(
    row(
      `mixed ruleset (${mix.length} conditions)`,
      mixCompile,
      mixEval,
      mix.length * MIX_SCOPES.length,
      mix.length,
    ),
  );

  console.table(rows);
  const result = { bench: 'expr', ...machine(), scopes: SCOPES.length, results: rows, sink: sink & 1 };
  console.log(JSON.stringify(result));
  console.log(`expr bench: wrote ${await writeResult('expr', result)}`);
}

function row(
  name: string,
  compile: Map<string, Stats>,
  evaluate: Map<string, Stats>,
  evalsPerOp: number,
  compilesPerOp: number,
): Row {
  const us = (k: string) => round(1e6 / compile.get(k)!.hz / compilesPerOp, 2);
  const mevals = (k: string) => round((evaluate.get(k)!.hz * evalsPerOp) / 1e6, 2);
  return {
    case: name,
    'compile µs: ours': us('ours'),
    'compile µs: filtrex': us('filtrex'),
    'M evals/s: ours': mevals('ours'),
    'M evals/s: closures only': mevals('closures'),
    'M evals/s: full codegen': mevals('codegen'),
    'M evals/s: filtrex': mevals('filtrex'),
    'ours / filtrex': round(mevals('ours') / mevals('filtrex'), 2),
    'ours / codegen': round(mevals('ours') / mevals('codegen'), 2),
  };
}

await main();
