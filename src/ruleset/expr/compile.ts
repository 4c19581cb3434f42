import type { ArithmeticOperator, AstNode, CallNode, PathNode, Value } from './ast.js';
import { BUILTINS } from './builtins.js';
import { ExpressionError } from './errors.js';
import { type FieldReader, FORBIDDEN_FIELDS, fieldReader } from './fields.js';
import { isKeyword, parseExpression } from './parser.js';
import {
  type CompileOptions,
  type Condition,
  type Evaluator,
  type ExprFunction,
  NOT_CONSTANT,
} from './types.js';
import {
  add,
  divide,
  equals,
  finite,
  isIn,
  lessOrEqual,
  lessThan,
  multiply,
  negate,
  remainder,
  subtract,
  toValue,
  truthy,
} from './values.js';

// Expressions compile to nested closures, specialized at compile time for the common shapes
// (a path compared with a constant, `in` a constant list, arithmetic with a constant, calls by
// arity), so evaluating one allocates nothing except in the cases docs/expressions.md lists
// (non-constant list literals outside `in`, calls with more than 3 arguments, non-integer numbers
// passed between closures). Constant subtrees are folded. The only generated
// code is the per-field readers of fields.ts, from a fixed template: see
// docs/decisions/0001-expression-language.md.

type Fn<S> = (scope: S) => Value;

type Compiled<S> =
  | { readonly constant: true; readonly value: Value }
  | {
      readonly constant: false;
      readonly fn: Fn<S>;
      /** The closure always returns a boolean (comparisons, and/or/not). */
      readonly bool: boolean;
      /** For a list literal with non-constant items: the items, so `in` can avoid the array. */
      readonly items?: readonly Compiled<S>[];
      /** For a one-field path: its parts, so a comparison can read the field without a call. */
      readonly field?: FieldRead<S>;
      /** For and/or: the flattened operands (a and b and c → [a, b, c]). */
      readonly all?: readonly Predicate<S>[];
      readonly any?: readonly Predicate<S>[];
    };

type Predicate<S> = (scope: S) => boolean;

interface FieldRead<S> {
  readonly root: (scope: S) => unknown;
  readonly read: FieldReader;
}

interface Env<S> {
  readonly source: string;
  readonly roots: ReadonlyMap<string, (scope: S) => unknown>;
  readonly functions: ReadonlyMap<string, ExprFunction<S>>;
}

/** Built-ins return Values by construction, so their results skip the toValue() check. */
const TRUSTED: ReadonlySet<ExprFunction<unknown>> = new Set(Object.values(BUILTINS));

/** Compiles an expression to a function of the scope. Throws ExpressionError. */
export function compileExpression<S>(source: string, options: CompileOptions<S>): Evaluator<S> {
  const c = compileSource(source, options);
  if (c.constant) {
    const value = c.value;
    return () => value;
  }
  return c.fn;
}

/** Compiles an expression to a predicate: the truthiness of its value. Throws ExpressionError. */
export function compileCondition<S>(source: string, options: CompileOptions<S>): Condition<S> {
  const c = compileSource(source, options);
  if (c.constant) {
    const result = truthy(c.value);
    return () => result;
  }
  return boolFn(c.fn, c.bool);
}

/**
 * Checks names, fields and arities of a parsed expression against the options, without
 * compiling it (no checkArgs). Throws ExpressionError. Exported for tools and the benchmark.
 */
export function validateExpression<S>(ast: AstNode, source: string, options: CompileOptions<S>): void {
  validate(ast, createEnv(source, options));
}

function compileSource<S>(source: string, options: CompileOptions<S>): Compiled<S> {
  const ast = parseExpression(source);
  const env = createEnv(source, options);
  validate(ast, env);
  return compileNode(ast, env);
}

function createEnv<S>(source: string, options: CompileOptions<S>): Env<S> {
  const roots = new Map<string, (scope: S) => unknown>();
  for (const [name, get] of Object.entries(options.roots)) {
    if (typeof get !== 'function') throw new TypeError(`expression root '${name}' must be a function`);
    roots.set(name, get);
  }
  const functions = new Map<string, ExprFunction<S>>(Object.entries(BUILTINS));
  for (const [name, f] of Object.entries(options.functions ?? {})) {
    if (typeof f?.call !== 'function') throw new TypeError(`expression function '${name}' has no call`);
    functions.set(name, f);
  }
  return { source, roots, functions };
}

// ---------------------------------------------------------------------------------------------
// Validation

function validate<S>(node: AstNode, env: Env<S>): void {
  switch (node.type) {
    case 'literal':
      return;
    case 'list':
      for (const item of node.items) validate(item, env);
      return;
    case 'path':
      validatePath(node, env);
      return;
    case 'call':
      validateCall(node, env);
      for (const arg of node.args) validate(arg, env);
      return;
    case 'unary':
      validate(node.operand, env);
      return;
    case 'binary':
      validate(node.left, env);
      validate(node.right, env);
      return;
  }
}

function validatePath<S>(node: PathNode, env: Env<S>): void {
  const fail = (message: string, at: number): never => {
    throw new ExpressionError(message, env.source, at);
  };
  const roots = [...env.roots.keys()];
  if (!env.roots.has(node.root)) {
    const lower = node.root.toLowerCase();
    if (lower !== node.root && isKeyword(lower)) {
      fail(`unknown name '${node.root}'; keywords are lower-case: '${lower}'`, node.start);
    }
    if (node.segments.length > 0) {
      const guess = closest(node.root, roots);
      const hint = guess ? `did you mean '${guess}'? ` : '';
      fail(`unknown name '${node.root}'; ${hint}paths start with ${orList(roots)}`, node.start);
    }
    if (env.functions.has(node.root)) {
      fail(`'${node.root}' is a function: call it with its arguments, e.g. ${node.root}(…)`, node.start);
    }
    const uses = roots.map((r) => `${r}.${node.root}`);
    fail(`unknown name '${node.root}'${uses.length > 0 ? `; use ${orList(uses)}` : ''}`, node.start);
  }
  if (node.segments.length === 0) {
    fail(`'${node.root}' is not a value by itself: name a field, e.g. ${node.root}.someField`, node.start);
  }
  node.segments.forEach((segment, i) => {
    if (FORBIDDEN_FIELDS.has(segment)) {
      fail(`'${segment}' cannot be used as a field name`, node.segmentStarts[i] ?? node.start);
    }
  });
}

function validateCall<S>(node: CallNode, env: Env<S>): void {
  const def = env.functions.get(node.name);
  if (def === undefined) {
    const known = [...env.functions.keys()].sort();
    const guess = closest(node.name, known);
    const hint = guess ? `did you mean '${guess}'? ` : '';
    throw new ExpressionError(
      `unknown function '${node.name}'; ${hint}known functions: ${known.join(', ')}`,
      env.source,
      node.start,
    );
  }
  const n = node.args.length;
  if (n < def.minArgs || n > def.maxArgs) {
    const expected =
      def.minArgs === def.maxArgs
        ? `exactly ${def.minArgs} argument${def.minArgs === 1 ? '' : 's'}`
        : `${def.minArgs} to ${def.maxArgs} arguments`;
    throw new ExpressionError(`${node.name}() takes ${expected}, got ${n}`, env.source, node.start);
  }
}

function orList(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/** The candidate closest to `word` (case-insensitive): at most 1 edit away, 2 for longer words. */
function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = word.length > 4 ? 3 : 2;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = row;
  }
  return prev[b.length]!;
}

// ---------------------------------------------------------------------------------------------
// Compilation

const K = <S>(value: Value): Compiled<S> => ({ constant: true, value });
const dyn = <S>(fn: Fn<S>, bool: boolean): Compiled<S> => ({ constant: false, fn, bool });

function fnOf<S>(c: Compiled<S>): Fn<S> {
  if (!c.constant) return c.fn;
  const value = c.value;
  return () => value;
}

/** A closure that returns a boolean: the closure itself if it already does. */
function boolFn<S>(fn: Fn<S>, bool: boolean): (scope: S) => boolean {
  // A closure marked bool returns only true or false; the cast saves a call per evaluation.
  if (bool) return fn as (scope: S) => boolean;
  return (s) => truthy(fn(s));
}

function asBool<S>(c: Compiled<S>): Compiled<S> {
  if (c.constant) return K(truthy(c.value));
  return c.bool ? c : dyn(boolFn(c.fn, false), true);
}

/** Folds when every child is constant; the closure then never touches the scope. */
function foldable<S>(children: readonly Compiled<S>[], fn: Fn<S>, bool: boolean): Compiled<S> {
  if (children.every((c) => c.constant)) return K(fn(undefined as S));
  return dyn(fn, bool);
}

function compileNode<S>(node: AstNode, env: Env<S>): Compiled<S> {
  switch (node.type) {
    case 'literal':
      return K(node.value);
    case 'list':
      return compileList(node.items, env);
    case 'path':
      return compilePath(node, env);
    case 'call':
      return compileCall(node, env);
    case 'unary': {
      const operand = compileNode(node.operand, env);
      return node.op === 'not' ? compileNot(operand) : compileNegate(operand);
    }
    case 'binary': {
      // Both sides are always compiled, even when folding drops one, so that every call's
      // checkArgs runs (it reports unknown segments and records dependencies).
      const l = compileNode(node.left, env);
      const r = compileNode(node.right, env);
      switch (node.op) {
        case 'and':
          return compileAnd(l, r);
        case 'or':
          return compileOr(l, r);
        case '==':
          return compileEquals(l, r, false);
        case '!=':
          return compileEquals(l, r, true);
        case '<':
        case '<=':
        case '>':
        case '>=':
          return compileOrder(node.op, l, r);
        case 'in':
          return compileIn(l, r, false);
        case 'not in':
          return compileIn(l, r, true);
        case '+':
        case '-':
        case '*':
        case '/':
        case '%':
          return compileArithmetic(node.op, l, r);
      }
    }
  }
}

function compileList<S>(nodes: readonly AstNode[], env: Env<S>): Compiled<S> {
  const items = nodes.map((n) => compileNode(n, env));
  if (items.every((c) => c.constant)) {
    return K(Object.freeze(items.map((c) => (c.constant ? c.value : null))));
  }
  const fns = items.map(fnOf);
  const n = fns.length;
  const fn: Fn<S> = (s) => {
    const out: Value[] = [];
    for (let i = 0; i < n; i++) out.push(fns[i]!(s));
    return out;
  };
  return { constant: false, fn, bool: false, items };
}

function compilePath<S>(node: PathNode, env: Env<S>): Compiled<S> {
  const root = env.roots.get(node.root)!;
  // Own properties of plain objects only: a path never sees inherited or prototype values, even
  // if Object.prototype is polluted (fields.ts, values.ts field()). Guarded by compile.test.ts
  // "prototype safety" and fields.test.ts.
  const readers = node.segments.map(fieldReader);
  if (readers.length === 1) {
    const read = readers[0]!;
    return { constant: false, fn: (s) => toValue(read(root(s))), bool: false, field: { root, read } };
  }
  if (readers.length === 2) {
    const [r0, r1] = readers as [FieldReader, FieldReader];
    return dyn((s) => toValue(r1(r0(root(s)))), false);
  }
  const n = readers.length;
  return dyn((s) => {
    let o: unknown = root(s);
    for (let i = 0; i < n && o !== undefined; i++) o = readers[i]!(o);
    return toValue(o);
  }, false);
}

function compileCall<S>(node: CallNode, env: Env<S>): Compiled<S> {
  const def = env.functions.get(node.name)!;
  const args = node.args.map((a) => compileNode(a, env));
  if (def.checkArgs) {
    const message = def.checkArgs(args.map((a) => (a.constant ? a.value : NOT_CONSTANT)));
    if (typeof message === 'string') {
      const at = node.args.length === 1 ? node.args[0]!.start : node.start;
      throw new ExpressionError(message, env.source, at);
    }
  }
  const f = def.call;
  const check = TRUSTED.has(def as ExprFunction<unknown>) ? (v: Value) => v : toValue;
  const fns = args.map(fnOf);
  let fn: Fn<S>;
  switch (fns.length) {
    case 0:
      fn = (s) => check(f(s));
      break;
    case 1: {
      // holds('x'), affinity('x'), inSegment('x'): pass the constant itself, not a closure call.
      const a = fns[0]!;
      const k = args[0]!;
      fn = k.constant ? (s) => check(f(s, k.value)) : (s) => check(f(s, a(s)));
      break;
    }
    case 2: {
      const a = fns[0]!;
      const b = fns[1]!;
      const k = args[1]!;
      fn = k.constant ? (s) => check(f(s, a(s), k.value)) : (s) => check(f(s, a(s), b(s)));
      break;
    }
    case 3: {
      const a = fns[0]!;
      const b = fns[1]!;
      const c = fns[2]!;
      fn = (s) => check(f(s, a(s), b(s), c(s)));
      break;
    }
    default:
      fn = (s) => {
        const values: Value[] = [];
        for (const a of fns) values.push(a(s));
        return check(f(s, ...values));
      };
  }
  return def.pure === true ? foldable(args, fn, false) : dyn(fn, false);
}

function compileNot<S>(c: Compiled<S>): Compiled<S> {
  if (c.constant) return K(!truthy(c.value));
  const f = c.fn;
  return c.bool ? dyn((s) => f(s) !== true, true) : dyn((s) => !truthy(f(s)), true);
}

function compileNegate<S>(c: Compiled<S>): Compiled<S> {
  if (c.constant) return K(negate(c.value));
  const f = c.fn;
  return dyn((s) => {
    const v = f(s);
    return typeof v === 'number' ? -v : null;
  }, false);
}

// and/or fold a constant side even when the other is not constant: `x and false` is false.
// Chains are flattened (a and b and c is one closure over [a, b, c]): fewer nested calls.
function compileAnd<S>(l: Compiled<S>, r: Compiled<S>): Compiled<S> {
  if (l.constant) return truthy(l.value) ? asBool(r) : K(false);
  if (r.constant) return truthy(r.value) ? asBool(l) : K(false);
  const all = [...(l.all ?? [boolFn(l.fn, l.bool)]), ...(r.all ?? [boolFn(r.fn, r.bool)])];
  return { constant: false, fn: every(all), bool: true, all };
}

function compileOr<S>(l: Compiled<S>, r: Compiled<S>): Compiled<S> {
  if (l.constant) return truthy(l.value) ? K(true) : asBool(r);
  if (r.constant) return truthy(r.value) ? K(true) : asBool(l);
  const any = [...(l.any ?? [boolFn(l.fn, l.bool)]), ...(r.any ?? [boolFn(r.fn, r.bool)])];
  return { constant: false, fn: some(any), bool: true, any };
}

function every<S>(ps: readonly Predicate<S>[]): Predicate<S> {
  const [a, b, c, d] = ps as [Predicate<S>, Predicate<S>, Predicate<S>, Predicate<S>];
  switch (ps.length) {
    case 2:
      return (s) => a(s) && b(s);
    case 3:
      return (s) => a(s) && b(s) && c(s);
    case 4:
      return (s) => a(s) && b(s) && c(s) && d(s);
    default: {
      const n = ps.length;
      return (s) => {
        for (let i = 0; i < n; i++) if (!ps[i]!(s)) return false;
        return true;
      };
    }
  }
}

function some<S>(ps: readonly Predicate<S>[]): Predicate<S> {
  const [a, b, c, d] = ps as [Predicate<S>, Predicate<S>, Predicate<S>, Predicate<S>];
  switch (ps.length) {
    case 2:
      return (s) => a(s) || b(s);
    case 3:
      return (s) => a(s) || b(s) || c(s);
    case 4:
      return (s) => a(s) || b(s) || c(s) || d(s);
    default: {
      const n = ps.length;
      return (s) => {
        for (let i = 0; i < n; i++) if (ps[i]!(s)) return true;
        return false;
      };
    }
  }
}

function compileEquals<S>(l: Compiled<S>, r: Compiled<S>, negated: boolean): Compiled<S> {
  if (l.constant && r.constant) return K(equals(l.value, r.value) !== negated);
  if (l.constant || r.constant) {
    const k = l.constant ? l.value : r.constant ? r.value : null;
    const f = l.constant ? fnOf(r) : fnOf(l);
    // A list equals nothing, so comparing with a constant list is decided at compile time.
    if (k !== null && typeof k === 'object') return K(negated);
    // k is a scalar: === with it is exactly equals(), lists included (never ===).
    const c = l.constant ? r : l;
    const read = c.constant ? undefined : c.field;
    if (read !== undefined) {
      const { root, read: field } = read;
      return negated
        ? dyn((s) => toValue(field(root(s))) !== k, true)
        : dyn((s) => toValue(field(root(s))) === k, true);
    }
    return negated ? dyn((s) => f(s) !== k, true) : dyn((s) => f(s) === k, true);
  }
  const a = l.fn;
  const b = r.fn;
  return negated ? dyn((s) => !equals(a(s), b(s)), true) : dyn((s) => equals(a(s), b(s)), true);
}

type OrderOperator = '<' | '<=' | '>' | '>=';
const FLIPPED: Readonly<Record<OrderOperator, OrderOperator>> = {
  '<': '>',
  '<=': '>=',
  '>': '<',
  '>=': '<=',
};

function order(op: OrderOperator, a: Value, b: Value): boolean {
  switch (op) {
    case '<':
      return lessThan(a, b);
    case '<=':
      return lessOrEqual(a, b);
    case '>':
      return lessThan(b, a);
    case '>=':
      return lessOrEqual(b, a);
  }
}

function compileOrder<S>(op: OrderOperator, l: Compiled<S>, r: Compiled<S>): Compiled<S> {
  if (l.constant && r.constant) return K(order(op, l.value, r.value));
  if (r.constant) return orderWithConstant(op, l, r.value);
  if (l.constant) return orderWithConstant(FLIPPED[op], r, l.value);
  const a = l.fn;
  const b = r.fn;
  switch (op) {
    case '<':
      return dyn((s) => lessThan(a(s), b(s)), true);
    case '<=':
      return dyn((s) => lessOrEqual(a(s), b(s)), true);
    case '>':
      return dyn((s) => {
        const x = a(s);
        return lessThan(b(s), x);
      }, true);
    case '>=':
      return dyn((s) => {
        const x = a(s);
        return lessOrEqual(b(s), x);
      }, true);
  }
}

/** `c op k` for a constant k: only a value of k's type can compare true. */
function orderWithConstant<S>(op: OrderOperator, c: Compiled<S>, k: Value): Compiled<S> {
  const f = fnOf(c);
  const read = c.constant ? undefined : c.field;
  if (typeof k === 'number' && read !== undefined) {
    // The most common condition, `customer.clv > 2000`: one closure, no call for the path.
    const { root, read: field } = read;
    switch (op) {
      case '<':
        return dyn((s) => {
          const v = toValue(field(root(s)));
          return typeof v === 'number' && v < k;
        }, true);
      case '<=':
        return dyn((s) => {
          const v = toValue(field(root(s)));
          return typeof v === 'number' && v <= k;
        }, true);
      case '>':
        return dyn((s) => {
          const v = toValue(field(root(s)));
          return typeof v === 'number' && v > k;
        }, true);
      case '>=':
        return dyn((s) => {
          const v = toValue(field(root(s)));
          return typeof v === 'number' && v >= k;
        }, true);
    }
  }
  if (typeof k === 'number') {
    switch (op) {
      case '<':
        return dyn((s) => {
          const v = f(s);
          return typeof v === 'number' && v < k;
        }, true);
      case '<=':
        return dyn((s) => {
          const v = f(s);
          return typeof v === 'number' && v <= k;
        }, true);
      case '>':
        return dyn((s) => {
          const v = f(s);
          return typeof v === 'number' && v > k;
        }, true);
      case '>=':
        return dyn((s) => {
          const v = f(s);
          return typeof v === 'number' && v >= k;
        }, true);
    }
  }
  if (typeof k !== 'string') return K(false);
  // A string k: lessThan and lessOrEqual check the type (only a string compares with it), each type
  // in a branch of its own there, so a string comparison costs no more than one written out here.
  switch (op) {
    case '<':
      return dyn((s) => lessThan(f(s), k), true);
    case '<=':
      return dyn((s) => lessOrEqual(f(s), k), true);
    case '>':
      return dyn((s) => lessThan(k, f(s)), true);
    case '>=':
      return dyn((s) => lessOrEqual(k, f(s)), true);
  }
}

function compileIn<S>(l: Compiled<S>, r: Compiled<S>, negated: boolean): Compiled<S> {
  if (r.constant) {
    const container = r.value;
    if (l.constant) return K(isIn(l.value, container) !== negated);
    const f = l.fn;
    if (typeof container === 'string') {
      return dyn((s) => {
        const v = f(s);
        return (typeof v === 'string' && container.includes(v)) !== negated;
      }, true);
    }
    if (container === null || typeof container !== 'object') return K(negated);
    // Set.has is SameValueZero: the same as === here, since values are never NaN and lists
    // (never equal to anything) are left out of the set.
    const set = new Set<Value>();
    for (const item of container) if (item === null || typeof item !== 'object') set.add(item);
    const read = l.field;
    if (read !== undefined) {
      const { root, read: field } = read;
      return negated
        ? dyn((s) => !set.has(toValue(field(root(s)))), true)
        : dyn((s) => set.has(toValue(field(root(s)))), true);
    }
    return negated ? dyn((s) => !set.has(f(s)), true) : dyn((s) => set.has(f(s)), true);
  }
  if (r.items !== undefined) {
    // `x in [a, b]` with non-constant items: compare item by item, without building the list.
    const x = fnOf(l);
    const items = r.items.map(fnOf);
    const n = items.length;
    return dyn((s) => {
      const v = x(s);
      if (v !== null && typeof v === 'object') return negated;
      for (let i = 0; i < n; i++) if (items[i]!(s) === v) return !negated;
      return negated;
    }, true);
  }
  const a = fnOf(l);
  const b = r.fn;
  return negated ? dyn((s) => !isIn(a(s), b(s)), true) : dyn((s) => isIn(a(s), b(s)), true);
}

function compileArithmetic<S>(op: ArithmeticOperator, l: Compiled<S>, r: Compiled<S>): Compiled<S> {
  if (l.constant && r.constant) return K(arithmetic(op, l.value, r.value));
  if (r.constant) return arithmeticWithConstant(op, l, r.value);
  if (l.constant) {
    const k = l.value;
    if (typeof k !== 'number') return K(null);
    const f = r.fn;
    switch (op) {
      case '+':
      case '*':
        // k + x and k * x are x + k and x * k: both commute exactly for doubles.
        return arithmeticWithConstant(op, r, k);
      case '-':
        return dyn((s) => {
          const v = f(s);
          return typeof v === 'number' ? finite(k - v) : null;
        }, false);
      case '/':
        return dyn((s) => divide(k, f(s)), false);
      case '%':
        return dyn((s) => remainder(k, f(s)), false);
    }
  }
  const a = l.fn;
  const b = r.fn;
  switch (op) {
    case '+':
      return dyn((s) => add(a(s), b(s)), false);
    case '-':
      return dyn((s) => subtract(a(s), b(s)), false);
    case '*':
      return dyn((s) => multiply(a(s), b(s)), false);
    case '/':
      return dyn((s) => divide(a(s), b(s)), false);
    case '%':
      return dyn((s) => remainder(a(s), b(s)), false);
  }
}

/** `c op k` for a constant k: null unless both are numbers, and for a division by zero. */
function arithmeticWithConstant<S>(op: ArithmeticOperator, c: Compiled<S>, k: Value): Compiled<S> {
  if (typeof k !== 'number' || ((op === '/' || op === '%') && k === 0)) return K(null);
  const f = fnOf(c);
  switch (op) {
    case '+':
      return dyn((s) => {
        const v = f(s);
        return typeof v === 'number' ? finite(v + k) : null;
      }, false);
    case '-':
      return dyn((s) => {
        const v = f(s);
        return typeof v === 'number' ? finite(v - k) : null;
      }, false);
    case '*':
      return dyn((s) => {
        const v = f(s);
        return typeof v === 'number' ? finite(v * k) : null;
      }, false);
    case '/':
      return dyn((s) => {
        const v = f(s);
        return typeof v === 'number' ? finite(v / k) : null;
      }, false);
    case '%':
      return dyn((s) => {
        const v = f(s);
        return typeof v === 'number' ? finite(v % k) : null;
      }, false);
  }
}

function arithmetic(op: ArithmeticOperator, a: Value, b: Value): Value {
  switch (op) {
    case '+':
      return add(a, b);
    case '-':
      return subtract(a, b);
    case '*':
      return multiply(a, b);
    case '/':
      return divide(a, b);
    case '%':
      return remainder(a, b);
  }
}
