import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AstNode,
  type BinaryOperator,
  type CompileOptions,
  compileCondition,
  compileExpression,
  ExpressionError,
  type ExprFunction,
  NOT_CONSTANT,
  parseExpression,
  type Value,
} from './index.js';

// Property-based tests: random expressions (as ASTs rendered to source) over random, odd scopes.
// The compiler may only ever throw ExpressionError; evaluation never throws, always returns a
// Value, and agrees with a straightforward tree-walking reference interpreter written from the
// language reference (docs/expressions.md), independently of values.ts.

interface Scope {
  readonly customer: unknown;
  readonly context: unknown;
}

// ---------------------------------------------------------------------------------------------
// Host functions used by the generated expressions (the reference calls the same ones).

const HOST: Record<string, ExprFunction<Scope>> = {
  /** Not pure: depends on the scope. */
  echo: {
    minArgs: 0,
    maxArgs: 3,
    call: (s, a) => (a === undefined ? (typeof s.customer === 'string' ? s.customer : null) : a),
  },
  /** Pure: folded when its arguments are constant. */
  second: { minArgs: 1, maxArgs: 4, pure: true, call: (_s, _a, b) => b ?? null },
  /** checkArgs rejects constants other than 'a' and 'b'. */
  seg: {
    minArgs: 1,
    maxArgs: 1,
    call: (_s, id) => id === 'a',
    checkArgs: ([id]) =>
      id === NOT_CONSTANT || id === 'a' || id === 'b' ? null : `unknown segment '${String(id)}'`,
  },
  /** Returns raw scope data, not a Value: the compiler must sanitize it. */
  raw: { minArgs: 0, maxArgs: 0, call: (s) => s.context as Value },
};

const OPTIONS: CompileOptions<Scope> = {
  roots: { customer: (s) => s.customer, context: (s) => s.context },
  functions: HOST,
};

// ---------------------------------------------------------------------------------------------
// Reference interpreter.

const isPlainObject = (o: unknown): o is Record<string, unknown> =>
  typeof o === 'object' && o !== null && [Object.prototype, null].includes(Object.getPrototypeOf(o));

function dataValue(v: unknown): Value {
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  return listOk(v, 0) ? (v as Value) : null;
}

function listOk(v: unknown, depth: number): boolean {
  if (!Array.isArray(v) || depth > 8) return false;
  for (let i = 0; i < v.length; i++) {
    const item: unknown = v[i];
    const scalar = item === null || ['string', 'number', 'boolean'].includes(typeof item);
    if (!scalar && !listOk(item, depth + 1)) return false;
  }
  return true;
}

const isList = (v: Value): v is readonly Value[] => Array.isArray(v);
const bothNumbers = (a: Value, b: Value): [number, number] | null =>
  typeof a === 'number' && typeof b === 'number' ? [a, b] : null;

function truthyRef(v: Value): boolean {
  if (v === true) return true;
  if (typeof v === 'number') return Number.isFinite(v) && v !== 0;
  if (typeof v === 'string' || isList(v)) return v.length > 0;
  return false;
}

function arithmeticRef(op: string, a: Value, b: Value): Value {
  const n = bothNumbers(a, b);
  if (n === null) return null;
  const [x, y] = n;
  if ((op === '/' || op === '%') && y === 0) return null;
  const r = op === '+' ? x + y : op === '-' ? x - y : op === '*' ? x * y : op === '/' ? x / y : x % y;
  return Number.isFinite(r) ? r : null;
}

function orderedRef(a: Value, b: Value): boolean {
  return (typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string');
}

function inRef(x: Value, c: Value): boolean {
  if (typeof c === 'string') return typeof x === 'string' && c.includes(x);
  if (isList(c)) return !isList(x) && c.some((item) => item === x);
  return false;
}

const numbersOnly = (args: Value[]): number[] | null =>
  args.every((a) => typeof a === 'number') ? (args as number[]) : null;

const BUILTINS_REF: Record<string, (...args: Value[]) => Value> = {
  min: (...args) => {
    const n = numbersOnly(args);
    return n === null ? null : Math.min(...n);
  },
  max: (...args) => {
    const n = numbersOnly(args);
    return n === null ? null : Math.max(...n);
  },
  abs: (x) => (typeof x === 'number' ? Math.abs(x) : null),
  round: (x) => (typeof x === 'number' ? Math.round(x) : null),
  floor: (x) => (typeof x === 'number' ? Math.floor(x) : null),
  ceil: (x) => (typeof x === 'number' ? Math.ceil(x) : null),
  lower: (x) => (typeof x === 'string' ? x.toLowerCase() : null),
  upper: (x) => (typeof x === 'string' ? x.toUpperCase() : null),
  len: (x) => (typeof x === 'string' || isList(x!) ? (x as string).length : null),
  contains: (c, x) => inRef(x!, c!),
  startsWith: (s, p) => (typeof s === 'string' && typeof p === 'string' ? s.startsWith(p) : null),
  coalesce: (...args) => args.find((a) => a !== null) ?? null,
};

function reference(node: AstNode, s: Scope): Value {
  switch (node.type) {
    case 'literal':
      return node.value;
    case 'list':
      return node.items.map((i) => reference(i, s));
    case 'path': {
      let o: unknown = node.root === 'customer' ? s.customer : s.context;
      for (const k of node.segments) {
        if (!isPlainObject(o) || !Object.hasOwn(o, k)) return null;
        o = o[k];
      }
      return dataValue(o);
    }
    case 'call': {
      const args = node.args.map((a) => reference(a, s));
      const host = HOST[node.name];
      if (host) return dataValue(host.call(s, ...args));
      return BUILTINS_REF[node.name]!(...args);
    }
    case 'unary': {
      const v = reference(node.operand, s);
      if (node.op === 'not') return !truthyRef(v);
      return typeof v === 'number' ? -v : null;
    }
    case 'binary': {
      const a = reference(node.left, s);
      const b = reference(node.right, s);
      switch (node.op) {
        case 'and':
          return truthyRef(a) && truthyRef(b);
        case 'or':
          return truthyRef(a) || truthyRef(b);
        case '==':
          return !isList(a) && a === b;
        case '!=':
          return !(!isList(a) && a === b);
        case '<':
          return orderedRef(a, b) && (a as number) < (b as number);
        case '<=':
          return orderedRef(a, b) && (a as number) <= (b as number);
        case '>':
          return orderedRef(a, b) && (a as number) > (b as number);
        case '>=':
          return orderedRef(a, b) && (a as number) >= (b as number);
        case 'in':
          return inRef(a, b);
        case 'not in':
          return !inRef(a, b);
        default:
          return arithmeticRef(node.op, a, b);
      }
    }
  }
}

/** Deep equality of Values; numbers by ===, or both NaN (lists from data may hold NaN). */
function same(a: Value, b: Value): boolean {
  if (isList(a) || isList(b)) {
    return isList(a) && isList(b) && a.length === b.length && a.every((x, i) => same(x, b[i]!));
  }
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/** A result of an evaluation: a Value, with finite numbers at the top level. */
function isResult(v: unknown): boolean {
  if (typeof v === 'number') return Number.isFinite(v);
  return v === null || typeof v === 'string' || typeof v === 'boolean' || listOk(v, 0);
}

// ---------------------------------------------------------------------------------------------
// Generators. A generated node renders fully parenthesized, so parsing it gives its structure.

type Gen =
  | { t: 'lit'; v: string | number | boolean | null }
  | { t: 'list'; items: Gen[] }
  | { t: 'path'; root: string; segs: string[] }
  | { t: 'call'; name: string; args: Gen[] }
  | { t: 'un'; op: 'not' | '-'; x: Gen }
  | { t: 'bin'; op: BinaryOperator; l: Gen; r: Gen };

const FIELDS = ['a', 'b', 's', 'n', 'list', 'toString', 'valueOf', 'hasOwnProperty', 'length', 'in', 'not'];
const FORBIDDEN = ['__proto__', 'constructor', 'prototype'];
const FUNCTIONS = [
  ...[
    'min',
    'max',
    'abs',
    'round',
    'floor',
    'ceil',
    'lower',
    'upper',
    'len',
    'contains',
    'startsWith',
    'coalesce',
  ],
  ...Object.keys(HOST),
];
const OPERATORS: BinaryOperator[] = [
  'or',
  'and',
  '==',
  '!=',
  '<',
  '<=',
  '>',
  '>=',
  'in',
  'not in',
  '+',
  '-',
  '*',
  '/',
  '%',
];

// Literals and data share a small domain, so that comparisons and membership often hit.
const SMALL = [0, 1, 2, 0.5, 'a', 'b', '', true, false, null] as const;

const numberLiteral = fc
  .oneof(
    { weight: 4, arbitrary: fc.constantFrom(0, 1, 2, 0.5) },
    fc.integer({ min: 0, max: 1000 }),
    fc.double({ min: 0, max: 1e300, noNaN: true }),
    fc.constantFrom(0, 1, 2, 0.5, 1e308, 5e-324),
  )
  .map((v) => (v === 0 ? 0 : v)); // -0 renders as 0

const stringLiteral = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('', 'a', 'b', 'gold', 'A', 'ab') },
  fc.string({ maxLength: 4 }),
  fc.string({ unit: 'binary', maxLength: 3 }),
);

const literal: fc.Arbitrary<Gen> = fc
  .oneof(numberLiteral, stringLiteral, fc.boolean(), fc.constant(null))
  .map((v) => ({ t: 'lit', v }));

const field = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom(...FIELDS) },
  { weight: 1, arbitrary: fc.constantFrom(...FORBIDDEN) },
);
const root = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom('customer', 'context') },
  { weight: 1, arbitrary: fc.constantFrom('other', 'min', 'Customer') },
);
const path: fc.Arbitrary<Gen> = fc
  .oneof(
    { weight: 12, arbitrary: fc.tuple(root, fc.tuple(field)) },
    { weight: 6, arbitrary: fc.tuple(root, fc.array(field, { minLength: 2, maxLength: 3 })) },
    { weight: 1, arbitrary: fc.tuple(root, fc.constant<string[]>([])) },
  )
  .map(([r, segs]) => ({ t: 'path', root: r, segs }));

const { node: genNode } = fc.letrec<{ node: Gen; composite: Gen }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'medium', maxDepth: 5 },
    { weight: 2, arbitrary: literal },
    { weight: 2, arbitrary: path },
    { weight: 5, arbitrary: tie('composite') },
  ),
  composite: fc.oneof(
    fc.record({ t: fc.constant('list' as const), items: fc.array(tie('node'), { maxLength: 3 }) }),
    fc.record({
      t: fc.constant('call' as const),
      name: fc.oneof(
        { weight: 30, arbitrary: fc.constantFrom(...FUNCTIONS) },
        { weight: 1, arbitrary: fc.constant('nope') },
      ),
      args: fc.array(tie('node'), { maxLength: 3 }),
    }),
    fc.record({
      t: fc.constant('un' as const),
      op: fc.constantFrom('not' as const, '-' as const),
      x: tie('node'),
    }),
    fc.record({
      t: fc.constant('bin' as const),
      op: fc.constantFrom(...OPERATORS),
      l: tie('node'),
      r: tie('node'),
    }),
    fc.record({
      t: fc.constant('bin' as const),
      op: fc.constantFrom(...OPERATORS),
      l: tie('node'),
      r: tie('node'),
    }),
  ),
}));

function renderString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r')}'`;
}

/** Fully parenthesized source; `ws` goes between tokens (never inside a string literal). */
function render(g: Gen, ws = ' '): string {
  const r = (x: Gen) => render(x, ws);
  switch (g.t) {
    case 'lit':
      return typeof g.v === 'string' ? renderString(g.v) : String(g.v);
    case 'list':
      return `[${g.items.map(r).join(`,${ws}`)}]`;
    case 'path':
      return [g.root, ...g.segs].join('.');
    case 'call':
      return `${g.name}(${g.args.map(r).join(`,${ws}`)})`;
    case 'un':
      return g.op === 'not' ? `(not${ws}${r(g.x)})` : `(-${r(g.x)})`;
    case 'bin':
      return `(${r(g.l)}${ws}${g.op.replace(' ', ws)}${ws}${r(g.r)})`;
  }
}

function toGen(n: AstNode): Gen {
  switch (n.type) {
    case 'literal':
      return { t: 'lit', v: n.value };
    case 'list':
      return { t: 'list', items: n.items.map(toGen) };
    case 'path':
      return { t: 'path', root: n.root, segs: [...n.segments] };
    case 'call':
      return { t: 'call', name: n.name, args: n.args.map(toGen) };
    case 'unary':
      return { t: 'un', op: n.op, x: toGen(n.operand) };
    case 'binary':
      return { t: 'bin', op: n.op, l: toGen(n.left), r: toGen(n.right) };
  }
}

// Scopes full of odd values: NaN, ±Infinity, -0, huge numbers, own "__proto__" keys, objects
// without or with foreign prototypes, sparse arrays, maps, dates, bigints, functions.
const key = fc.constantFrom(...FIELDS, ...FORBIDDEN);
const scalar = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(0, -0, 1, 1e308, -1e308, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
  fc.constantFrom('', 'a', 'b', 'gold', 'A'),
  fc.string({ maxLength: 3 }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
);
/** [1, <hole>, 3] */
function sparse(): unknown[] {
  const a: unknown[] = [1];
  a[2] = 3;
  return a;
}
const special = fc.constantFrom<unknown>(
  JSON.parse('{"__proto__": {"a": 1, "s": "x"}, "b": 2}'),
  Object.create({ a: 1, s: 'inherited' }),
  Object.assign(Object.create(null) as object, { a: 1, n: 2 }),
  () => 1,
  Symbol('s'),
  10n,
  new Map([['a', 1]]),
  new Date(0),
  sparse(),
);
const { data, obj } = fc.letrec<{ data: unknown; obj: unknown; arr: unknown }>((tie) => ({
  data: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    { weight: 6, arbitrary: fc.constantFrom(...SMALL) },
    { weight: 2, arbitrary: fc.array(fc.constantFrom(...SMALL), { maxLength: 4 }) },
    { weight: 4, arbitrary: tie('obj') },
    scalar,
    special,
    tie('obj'),
    tie('arr'),
    fc.anything({
      key,
      maxDepth: 2,
      withNullPrototype: true,
      withSparseArray: true,
      withBoxedValues: true,
      withMap: true,
      withSet: true,
      withDate: true,
      withBigInt: true,
      withTypedArray: true,
    }),
  ),
  // Object.fromEntries defines "__proto__" as an own key, like JSON.parse does.
  obj: fc.array(fc.tuple(key, tie('data')), { maxLength: 8 }).map((entries) => Object.fromEntries(entries)),
  arr: fc.array(tie('data'), { maxLength: 4 }),
}));
const scopeArb: fc.Arbitrary<Scope> = fc.record({
  customer: fc.oneof({ weight: 5, arbitrary: obj }, data),
  context: fc.oneof({ weight: 5, arbitrary: obj }, data),
});

// Well-typed expressions over well-typed data (with a few odd values): these exercise the
// specialized closures (constant operands, `in` a constant list, calls by arity) with inputs
// that make comparisons and membership actually hit, which random untyped trees rarely do.
const lit = (v: string | number | boolean | null): Gen => ({ t: 'lit', v });
const at = (r: string, ...segs: string[]): Gen => ({ t: 'path', root: r, segs });
const bin = (op: BinaryOperator, l: Gen, r: Gen): Gen => ({ t: 'bin', op, l, r });
const call = (name: string, ...args: Gen[]): Gen => ({ t: 'call', name, args });
const anyRoot = fc.constantFrom('customer', 'context');
const numLeaf: fc.Arbitrary<Gen> = fc.oneof(
  fc.constantFrom(0, 1, 2, 3, 0.5, 1e308).map(lit),
  fc.tuple(anyRoot, fc.constantFrom('n', 'm', 'missing')).map(([r, f]) => at(r, f)),
  fc.constant(at('customer', 'deep', 'n')),
);
const strLeaf: fc.Arbitrary<Gen> = fc.oneof(
  fc.constantFrom('', 'a', 'b', 'ab', 'B').map(lit),
  fc.tuple(anyRoot, fc.constantFrom('s', 't')).map(([r, f]) => at(r, f)),
);
const ORDER: BinaryOperator[] = ['==', '!=', '<', '<=', '>', '>='];
const typedArb = fc.letrec<{ num: Gen; str: Gen; bool: Gen; list: Gen }>((tie) => ({
  num: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    { weight: 3, arbitrary: numLeaf },
    fc
      .tuple(fc.constantFrom<BinaryOperator>('+', '-', '*', '/', '%'), tie('num'), tie('num'))
      .map(([op, l, r]) => bin(op, l, r)),
    tie('num').map((x): Gen => ({ t: 'un', op: '-', x })),
    fc.tuple(fc.constantFrom('abs', 'round', 'floor', 'ceil'), tie('num')).map(([f, x]) => call(f, x)),
    fc
      .tuple(fc.constantFrom('min', 'max', 'coalesce'), fc.array(tie('num'), { minLength: 2, maxLength: 5 }))
      .map(([f, xs]) => call(f, ...xs)),
    fc.tuple(fc.constantFrom('len'), fc.oneof(tie('str'), tie('list'))).map(([f, x]) => call(f, x)),
  ),
  str: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    { weight: 3, arbitrary: strLeaf },
    fc.tuple(fc.constantFrom('lower', 'upper'), tie('str')).map(([f, x]) => call(f, x)),
    fc.tuple(tie('str'), tie('str')).map(([a, b]) => call('coalesce', a, b)),
  ),
  list: fc.oneof(
    fc.array(fc.oneof(numLeaf, strLeaf), { maxLength: 4 }).map((items): Gen => ({ t: 'list', items })),
    fc
      .array(fc.constantFrom(0, 1, 2, 'a', 'b', null).map(lit), { maxLength: 4 })
      .map((items): Gen => ({ t: 'list', items })),
    anyRoot.map((r) => at(r, 'list')),
  ),
  bool: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    fc.tuple(fc.constantFrom(...ORDER), tie('num'), tie('num')).map(([op, l, r]) => bin(op, l, r)),
    fc.tuple(fc.constantFrom(...ORDER), tie('str'), tie('str')).map(([op, l, r]) => bin(op, l, r)),
    fc
      .tuple(fc.constantFrom<BinaryOperator>('in', 'not in'), fc.oneof(tie('num'), tie('str')), tie('list'))
      .map(([op, l, r]) => bin(op, l, r)),
    fc
      .tuple(fc.constantFrom<BinaryOperator>('in', 'not in'), tie('str'), tie('str'))
      .map(([op, l, r]) => bin(op, l, r)),
    fc
      .tuple(fc.constantFrom<BinaryOperator>('and', 'or'), tie('bool'), tie('bool'))
      .map(([op, l, r]) => bin(op, l, r)),
    tie('bool').map((x): Gen => ({ t: 'un', op: 'not', x })),
    fc.constantFrom('a', 'b').map((id) => call('seg', lit(id))),
    fc.tuple(tie('str'), tie('str')).map(([a, b]) => call('startsWith', a, b)),
    fc.tuple(tie('list'), fc.oneof(tie('num'), tie('str'))).map(([a, b]) => call('contains', a, b)),
    fc.oneof(numLeaf, strLeaf).map((x) => bin('==', x, lit(null))),
  ),
}));
const typedData = (depth: number): fc.Arbitrary<Record<string, unknown>> =>
  fc.record(
    {
      n: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(0, 1, 2, 3, 0.5, -1) }, scalar),
      m: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(0, 1, 2, 3, 1e308) }, scalar),
      s: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('', 'a', 'b', 'ab', 'B') }, scalar),
      t: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('a', 'b', 'ba') }, scalar),
      list: fc.oneof(
        { weight: 8, arbitrary: fc.array(fc.constantFrom(0, 1, 2, 'a', 'b', null), { maxLength: 4 }) },
        data,
      ),
      ...(depth > 0 ? { deep: typedData(depth - 1) } : {}),
    },
    { requiredKeys: [] },
  );
const typedScope: fc.Arbitrary<Scope> = fc.record({ customer: typedData(1), context: typedData(0) });

function tryCompile(source: string): ((s: Scope) => Value) | null {
  try {
    return compileExpression(source, OPTIONS);
  } catch (err) {
    if (err instanceof ExpressionError) return null;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------

describe('properties', () => {
  it('parsing the rendering of an AST gives the AST back', () => {
    fc.assert(
      fc.property(genNode, (g) => {
        expect(toGen(parseExpression(render(g)))).toEqual(g);
      }),
      { numRuns: 1000 },
    );
  });

  it('compiles or throws ExpressionError; evaluation never throws, returns a Value and matches the reference', () => {
    let compiled = 0;
    let total = 0;
    fc.assert(
      fc.property(genNode, fc.array(scopeArb, { minLength: 1, maxLength: 4 }), (g, scopes) => {
        total++;
        const source = render(g);
        const evaluate = tryCompile(source);
        if (evaluate === null) return;
        compiled++;
        const condition = compileCondition(source, OPTIONS);
        const ast = parseExpression(source);
        for (const scope of scopes) {
          const v = evaluate(scope);
          expect(isResult(v), `${source} → ${String(v)}`).toBe(true);
          const expected = reference(ast, scope);
          if (!same(v, expected)) {
            expect.fail(`${source}: compiled ${JSON.stringify(v)}, reference ${JSON.stringify(expected)}`);
          }
          expect(condition(scope)).toBe(truthyRef(expected));
        }
      }),
      { numRuns: 3000 },
    );
    // The generator must mostly produce valid expressions, or this property proves little.
    expect(compiled / total).toBeGreaterThan(0.3);
  });

  it('well-typed expressions compile, and match the reference on well-typed data', () => {
    fc.assert(
      fc.property(typedArb.bool, fc.array(typedScope, { minLength: 1, maxLength: 4 }), (g, scopes) => {
        const source = render(g);
        const evaluate = compileExpression(source, OPTIONS);
        const ast = parseExpression(source);
        for (const scope of scopes) {
          const v = evaluate(scope);
          const expected = reference(ast, scope);
          if (!same(v, expected)) {
            expect.fail(`${source}: compiled ${JSON.stringify(v)}, reference ${JSON.stringify(expected)}`);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('never yields anything from Object.prototype, whatever the path and data', () => {
    const inherited = new Set<unknown>(
      Object.getOwnPropertyNames(Object.prototype).map((k) => Reflect.get(Object.prototype, k)),
    );
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...FIELDS), { minLength: 1, maxLength: 3 }),
        scopeArb,
        (segs, scope) => {
          const v = compileExpression(`customer.${segs.join('.')}`, OPTIONS)(scope);
          expect(isResult(v)).toBe(true);
          if (v !== null) expect(inherited.has(v)).toBe(false);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('random text into the compiler throws nothing but ExpressionError, and what compiles evaluates', () => {
    const tokens = [
      ...[
        'customer',
        'context',
        '.',
        'a',
        's',
        'list',
        '(',
        ')',
        '[',
        ']',
        ',',
        '==',
        '!=',
        '<',
        '<=',
        '>',
        '>=',
      ],
      ...['not', 'in', 'and', 'or', 'true', 'false', 'null', '1', '0', '1e3', '2.5', "'x'", '"y"', '-', '+'],
      ...[
        '*',
        '/',
        '%',
        'min',
        'len',
        'seg',
        'echo',
        'coalesce',
        ' ',
        '\n',
        '!',
        '&&',
        "'",
        '"',
        '\\',
        '.5',
        '__proto__',
      ],
    ];
    const soup = fc.array(fc.constantFrom(...tokens), { maxLength: 25 });
    const text = fc.oneof(
      soup.map((t) => t.join(' ')),
      soup.map((t) => t.join('')),
      fc.string({ maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
    );
    fc.assert(
      fc.property(text, scopeArb, (source, scope) => {
        const evaluate = tryCompile(source);
        if (evaluate !== null) expect(isResult(evaluate(scope))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('whitespace between tokens does not change the meaning', () => {
    fc.assert(
      fc.property(genNode, fc.constantFrom(' ', '\n', '\t', '\r\n  '), (g, ws) => {
        const spaced = render(g, ws);
        expect(toGen(parseExpression(spaced))).toEqual(g);
      }),
      { numRuns: 300 },
    );
  });
});
