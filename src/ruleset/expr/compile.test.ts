import { describe, expect, it } from 'vitest';
import {
  type CompileOptions,
  compileCondition,
  compileExpression,
  ExpressionError,
  type ExprFunction,
  NOT_CONSTANT,
  type Value,
} from './index.js';

interface Scope {
  readonly customer?: unknown;
  readonly context?: unknown;
  readonly holdings?: ReadonlySet<string>;
}

const ROOTS: CompileOptions<Scope>['roots'] = { customer: (s) => s.customer, context: (s) => s.context };
const SEGMENTS = new Set(['high_value', 'young']);

const FUNCTIONS: Record<string, ExprFunction<Scope>> = {
  holds: {
    minArgs: 1,
    maxArgs: 1,
    call: (s, p) => typeof p === 'string' && (s.holdings?.has(p) ?? false),
  },
  inSegment: {
    minArgs: 1,
    maxArgs: 1,
    call: (_s, id) => id === 'high_value',
    checkArgs: ([id]) =>
      id === NOT_CONSTANT
        ? 'inSegment() takes a segment id written as a string literal'
        : typeof id === 'string' && SEGMENTS.has(id)
          ? null
          : `unknown segment '${String(id)}'`,
  },
};

const OPTIONS: CompileOptions<Scope> = { roots: ROOTS, functions: FUNCTIONS };

const CUSTOMER = {
  clv: 2500,
  tenureYears: 4,
  region: 'north',
  income: 5000,
  monthlyDebt: 200,
  name: 'Ada',
  empty: '',
  zero: 0,
  yes: true,
  no: false,
  nothing: null,
  tags: ['gold', 'digital'],
  noTags: [],
  nested: { deeper: { value: 7 } },
  nan: Number.NaN,
  inf: Number.POSITIVE_INFINITY,
  big: 1e308,
};
const SCOPE: Scope = {
  customer: CUSTOMER,
  context: { intent: 'complaint', channel: 'web' },
  holdings: new Set(['mortgage']),
};

const evaluate = (source: string, scope: Scope = SCOPE, options: CompileOptions<Scope> = OPTIONS): Value =>
  compileExpression(source, options)(scope);

function compileError(source: string, options: CompileOptions<Scope> = OPTIONS): ExpressionError {
  try {
    compileExpression(source, options);
  } catch (err) {
    if (err instanceof ExpressionError) return err;
    throw err;
  }
  throw new Error(`expected an ExpressionError for ${JSON.stringify(source)}`);
}

describe('examples analysts write', () => {
  it.each([
    ['customer.clv > 2000 and customer.tenureYears >= 3', true],
    ["not holds('credit-card-gold') and customer.clv >= 2500", true],
    ["customer.region in ['north', 'east']", true],
    ["context.intent == 'complaint'", true],
    ["inSegment('high_value')", true],
    ["inSegment('young')", false],
    ['customer.income * 0.3 - customer.monthlyDebt > 500', true],
    ["holds('mortgage') and 'gold' in customer.tags", true],
  ])('%s → %j', (source, expected) => {
    expect(evaluate(source)).toBe(expected);
    expect(compileCondition(source, OPTIONS)(SCOPE)).toBe(expected);
  });
});

describe('values and operators', () => {
  it.each<[string, Value]>([
    // literals
    ['12', 12],
    ['0.5', 0.5],
    ['1e3', 1000],
    ["'it\\'s'", "it's"],
    ['"double"', 'double'],
    ['true', true],
    ['false', false],
    ['null', null],
    ['[1, "a", [true], null]', [1, 'a', [true], null]],
    ['[]', []],
    // paths
    ['customer.clv', 2500],
    ['customer.nested.deeper.value', 7],
    ['customer.tags', ['gold', 'digital']],
    ['customer.missing', null],
    ['customer.missing.deeper', null],
    ['customer.clv.deeper', null],
    ['customer.nested', null],
    ['customer.nan', null],
    ['customer.inf', null],
    // arithmetic
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['10 - 4 - 3', 3],
    ['7 / 2', 3.5],
    ['7 % 3', 1],
    ['-7 % 3', -1],
    ['-customer.clv', -2500],
    ['customer.clv + customer.tenureYears', 2504],
    ['1 / 0', null],
    ['customer.clv / customer.zero', null],
    ['customer.clv % 0', null],
    ['customer.big * 10', null],
    ['customer.big + customer.big', null],
    ["'a' + 'b'", null],
    ["customer.clv + '1'", null],
    ['customer.missing * 2', null],
    ['2 * customer.missing', null],
    ['-customer.name', null],
    ['true + 1', null],
    // comparisons
    ['customer.clv > 2000', true],
    ['customer.clv >= 2500', true],
    ['customer.clv < 2500', false],
    ['customer.clv <= 2500', true],
    ['2000 < customer.clv', true],
    ["'abc' < 'abd'", true],
    ["customer.name > 'Ab'", true],
    ["'B' < 'a'", true],
    ["customer.clv > '1'", false],
    ["'1' < customer.clv", false],
    ['customer.missing < 1', false],
    ['customer.missing >= 0', false],
    ['null <= null', false],
    ['true > false', false],
    ['[1] < [2]', false],
    ['customer.clv < customer.income', true],
    ['customer.income <= customer.clv', false],
    ['customer.income > customer.clv', true],
    ['customer.clv >= customer.income', false],
    ['customer.name < customer.clv', false],
    // equality
    ['customer.clv == 2500', true],
    ["customer.clv == '2500'", false],
    ["customer.clv != '2500'", true],
    ['customer.missing == null', true],
    ['customer.nothing == null', true],
    ['customer.nan == null', true],
    ['null == null', true],
    ['customer.yes == true', true],
    ['customer.zero == false', false],
    ['0 == -0', true],
    ['[1] == [1]', false],
    ['[1] != [1]', true],
    ['customer.tags == customer.tags', false],
    ['customer.tags != customer.tags', true],
    ["customer.tags == ['gold', 'digital']", false],
    ['customer.clv == customer.clv', true],
    ['customer.name != customer.region', true],
    // in
    ["'gold' in customer.tags", true],
    ["'silver' in customer.tags", false],
    ["'silver' not in customer.tags", true],
    ["customer.region in ['north', 'east']", true],
    ["customer.region not in ['north', 'east']", false],
    ['customer.missing in [null]', true],
    ['customer.missing in [1, 2]', false],
    ['customer.missing not in [1, 2]', true],
    ["'or' in 'north'", true],
    ["customer.region in 'the north pole'", true],
    ["'' in 'abc'", true],
    ["1 in '123'", false],
    ['1 in 1', false],
    ["'a' in null", false],
    ["'a' not in null", true],
    ['[1] in [[1], 1]', false],
    ['customer.tags in [customer.tags]', false],
    ['1 in [customer.clv, 1]', true],
    ['customer.clv in [customer.income, 2500]', true],
    ['customer.clv not in [customer.income, 2500]', false],
    ['customer.clv in [customer.income]', false],
    ['customer.tags in [customer.clv]', false],
    ['customer.clv in customer.tags', false],
    ['customer.name in customer.missing', false],
    ['customer.name not in customer.missing', true],
    // logic: booleans by truthiness
    ["1 and 'x'", true],
    ["0 or ''", false],
    ['customer.tags and customer.name', true],
    ['customer.noTags or customer.empty', false],
    ['customer.missing or customer.zero', false],
    ['customer.clv or customer.missing', true],
    ['not 0', true],
    ['not 1', false],
    ['not []', true],
    ['not [0]', false],
    ["not ''", true],
    ["not 'x'", false],
    ['not null', true],
    ['not customer.missing', true],
    ['not customer.clv', false],
    ['not (customer.clv > 1)', false],
  ])('%s → %j', (source, expected) => {
    expect(evaluate(source)).toEqual(expected);
  });

  it('short-circuits and/or', () => {
    let calls = 0;
    const spy: CompileOptions<Scope> = {
      roots: ROOTS,
      functions: { spy: { minArgs: 0, maxArgs: 0, call: () => ++calls > 0 } },
    };
    expect(evaluate('customer.zero and spy()', SCOPE, spy)).toBe(false);
    expect(evaluate('customer.clv or spy()', SCOPE, spy)).toBe(true);
    expect(calls).toBe(0);
    expect(evaluate('customer.clv and spy()', SCOPE, spy)).toBe(true);
    expect(calls).toBe(1);
  });

  it('conditions are the truthiness of the value, always a boolean', () => {
    const cases: [string, boolean][] = [
      ['customer.clv', true],
      ['customer.zero', false],
      ['customer.name', true],
      ['customer.empty', false],
      ['customer.tags', true],
      ['customer.noTags', false],
      ['customer.missing', false],
      ['customer.nan', false],
      ['customer.clv - 2500', false],
      ['1', true],
      ['null', false],
    ];
    for (const [source, expected] of cases) expect(compileCondition(source, OPTIONS)(SCOPE)).toBe(expected);
  });

  it('compiles and evaluates the longest flat chains without trouble', () => {
    /** `term(0) op term(1) op …`, as many terms as fit in 4000 characters. */
    const chain = (term: (i: number) => string, op: string, max = 4000) => {
      let source = term(0);
      for (let i = 1; source.length + op.length + term(i).length <= max; i++) source += op + term(i);
      return source;
    };
    const sum = chain(() => 'customer.clv', ' + ');
    const terms = sum.split('+').length;
    expect(terms).toBeGreaterThan(250);
    expect(evaluate(sum)).toBe(terms * 2500);
    const any = chain((i) => `customer.x${i} == ${i}`, ' or ');
    const last = any.split(' or ').length - 1;
    expect(evaluate(any)).toBe(false);
    expect(evaluate(any, { customer: { [`x${last}`]: last } })).toBe(true);
    expect(evaluate(chain(() => 'customer.yes', ' and '))).toBe(true);
    expect(evaluate(`${chain(() => '-customer.clv', ' * ', 3996)} > 0`)).toBe(false); // overflows to null
  });

  it('reads lists from data as they are, and lists with non-values as null', () => {
    const tags = ['a', 'b'];
    expect(evaluate('customer.tags', { customer: { tags } })).toBe(tags);
    expect(evaluate('customer.list', { customer: { list: [1, ['x', [null, true]]] } })).toEqual([
      1,
      ['x', [null, true]],
    ]);
    expect(evaluate('customer.list', { customer: { list: [1, { a: 1 }] } })).toBeNull();
    expect(evaluate('customer.list', { customer: { list: [1, undefined] } })).toBeNull();
    const holey: unknown[] = [1];
    holey[2] = 2;
    expect(evaluate('customer.list', { customer: { list: holey } })).toBeNull();
    expect(evaluate('customer.list', { customer: { list: [() => 1] } })).toBeNull();
    const selfContaining: unknown[] = [];
    selfContaining.push(selfContaining);
    expect(evaluate('customer.list', { customer: { list: selfContaining } })).toBeNull();
    expect(evaluate("'a' in customer.list", { customer: { list: selfContaining } })).toBe(false);
  });

  it('reads odd data as null: functions, symbols, bigints, dates, maps, class instances', () => {
    class Point {
      x = 1;
    }
    const odd = {
      f: () => 1,
      sym: Symbol('s'),
      big: 10n,
      date: new Date(0),
      map: new Map([['x', 1]]),
      point: new Point(),
      boxed: Object('str'),
      undef: undefined,
    };
    for (const k of Object.keys(odd)) expect(evaluate(`customer.${k}`, { customer: odd })).toBeNull();
    expect(evaluate('customer.point.x', { customer: odd })).toBeNull();
    expect(evaluate('customer.map.x', { customer: odd })).toBeNull();
    expect(evaluate('customer.date.getTime', { customer: odd })).toBeNull();
  });

  it('goes through objects without a prototype', () => {
    const bare = Object.assign(Object.create(null) as object, {
      a: Object.assign(Object.create(null) as object, { b: 3 }),
    });
    expect(evaluate('customer.a.b', { customer: bare })).toBe(3);
  });

  it('never throws at run time, whatever the scope', () => {
    const fns = [
      'customer.a.b.c > 1',
      "customer.a in ['x']",
      'customer.a * 2',
      'len(customer.a)',
      "'x' in customer.a",
    ].map((s) => compileExpression(s, OPTIONS));
    const scopes: unknown[] = [
      undefined,
      null,
      {},
      { customer: null },
      { customer: 1 },
      { customer: 'str' },
      { customer: [] },
      { customer: { a: null } },
      { customer: { a: { b: 'x' } } },
      { customer: new Proxy({}, {}) },
      { customer: Object.freeze({ a: [1] }) },
    ];
    for (const scope of scopes) {
      for (const f of fns) {
        // Roots read from the scope with optional chaining in this test: a null scope is the
        // caller's concern, but nothing inside the expression may throw.
        expect(() => f((scope ?? {}) as Scope)).not.toThrow();
      }
    }
  });
});

describe('built-in functions', () => {
  it.each<[string, Value]>([
    ['min(3)', 3],
    ['min(3, 1, 2)', 1],
    ['max(3, 1, 2)', 3],
    ['min(8, 7, 6, 5, 4, 3, 2, 1)', 1],
    ['max(1, 2, 3, 4, 5, 6, 7, 8)', 8],
    ['max(customer.clv, customer.income, customer.monthlyDebt, 1)', 5000],
    ['min(1, customer.missing)', null],
    ["max(1, 2, 3, 'x')", null],
    ["max('a')", null],
    ['abs(-2.5)', 2.5],
    ['abs(customer.name)', null],
    ['round(2.5)', 3],
    ['round(-2.5)', -2],
    ['floor(-1.5)', -2],
    ['ceil(1.2)', 2],
    ['ceil(null)', null],
    ['round(customer.income * 0.333)', 1665],
    ["lower('ÀbC')", 'àbc'],
    ["upper('abc')", 'ABC'],
    ['lower(1)', null],
    ['upper(customer.tags)', null],
    ["len('abc')", 3],
    ['len(customer.tags)', 2],
    ['len([])', 0],
    ['len(customer.missing)', null],
    ['len(12)', null],
    ["contains(customer.tags, 'gold')", true],
    ["contains('gold', 'ol')", true],
    ['contains(customer.tags, 1)', false],
    ['contains(1, 1)', false],
    ["startsWith(customer.name, 'A')", true],
    ["startsWith(customer.name, 'a')", false],
    ['startsWith(customer.name, 1)', null],
    ["startsWith(1, '1')", null],
    ['coalesce(customer.missing, 5)', 5],
    ['coalesce(customer.clv, 5)', 2500],
    ['coalesce(customer.zero, 5)', 0],
    ['coalesce(customer.missing, customer.nothing)', null],
    ['coalesce(null, null, null, null, null, null, null, 8)', 8],
    ["coalesce(customer.missing, customer.tags, 'x')", ['gold', 'digital']],
  ])('%s → %j', (source, expected) => {
    expect(evaluate(source)).toEqual(expected);
  });

  it('can be replaced by a same-named function from the options', () => {
    const options: CompileOptions<Scope> = {
      roots: ROOTS,
      functions: { len: { minArgs: 0, maxArgs: 0, call: () => 42 } },
    };
    expect(evaluate('len()', SCOPE, options)).toBe(42);
    expect(compileError("len('x')", options).message).toBe('len() takes exactly 0 arguments, got 1');
  });
});

describe('host functions', () => {
  it('are called with the scope and evaluated arguments, for any arity', () => {
    const seen: unknown[][] = [];
    const options: CompileOptions<Scope> = {
      roots: ROOTS,
      functions: {
        f: {
          minArgs: 0,
          maxArgs: 5,
          call: (scope, ...args) => {
            seen.push([scope === SCOPE, ...args]);
            return args.length;
          },
        },
      },
    };
    for (const [source, args] of [
      ['f()', []],
      ['f(customer.clv)', [2500]],
      ["f('k')", ['k']],
      ['f(customer.clv, 1 + 1)', [2500, 2]],
      ['f(1, customer.name)', [1, 'Ada']],
      ['f(1, 2, customer.region)', [1, 2, 'north']],
      ['f(1, 2, 3, customer.zero, [4])', [1, 2, 3, 0, [4]]],
    ] as const) {
      seen.length = 0;
      expect(evaluate(source, SCOPE, options)).toBe(args.length);
      expect(seen).toEqual([[true, ...args]]);
    }
  });

  it('have results outside the Value type read as null', () => {
    const raw = (v: unknown): ExprFunction<Scope> => ({ minArgs: 0, maxArgs: 0, call: () => v as Value });
    const options: CompileOptions<Scope> = {
      roots: ROOTS,
      functions: {
        undef: raw(undefined),
        nan: raw(Number.NaN),
        inf: raw(Number.NEGATIVE_INFINITY),
        obj: raw({ a: 1 }),
        fn: raw(() => 1),
        list: raw([1, {}]),
        ok: raw([1, 'x']),
      },
    };
    for (const name of ['undef', 'nan', 'inf', 'obj', 'fn', 'list']) {
      expect(evaluate(`${name}()`, SCOPE, options)).toBeNull();
    }
    expect(evaluate('ok()', SCOPE, options)).toEqual([1, 'x']);
  });

  it('run checkArgs with constants and NOT_CONSTANT, and report its message at the argument', () => {
    const err = compileError("customer.clv > 1 and inSegment('nope')");
    expect(err.message).toBe("unknown segment 'nope'");
    expect(err.column).toBe(32);
    expect(compileError('inSegment(customer.segment)').message).toBe(
      'inSegment() takes a segment id written as a string literal',
    );
    expect(compileError('inSegment(1 + 1)').message).toBe("unknown segment '2'");
    expect(evaluate("inSegment('high_value')")).toBe(true);
  });

  it('run checkArgs once per call site, even in branches that folding removes', () => {
    const checked: unknown[] = [];
    const options: CompileOptions<Scope> = {
      roots: ROOTS,
      functions: {
        seg: {
          minArgs: 1,
          maxArgs: 2,
          call: () => true,
          checkArgs: (args) => {
            checked.push(args);
            return null;
          },
        },
      },
    };
    compileCondition("false and seg('a') or true or seg(customer.x, 'b')", options);
    expect(checked).toEqual([['a'], [NOT_CONSTANT, 'b']]);
    expect(compileError("false and inSegment('nope')").message).toBe("unknown segment 'nope'");
  });
});

describe('constant folding', () => {
  function counting() {
    const counts = { root: 0, pure: 0, impure: 0 };
    const options: CompileOptions<Scope> = {
      roots: {
        customer: (s) => {
          counts.root++;
          return s.customer;
        },
      },
      functions: {
        pure: {
          minArgs: 1,
          maxArgs: 1,
          pure: true,
          call: (_s, x) => {
            counts.pure++;
            return x;
          },
        },
        impure: {
          minArgs: 1,
          maxArgs: 1,
          call: (_s, x) => {
            counts.impure++;
            return x;
          },
        },
      },
    };
    return { counts, options };
  }

  it('evaluates constant subtrees once, at compile time', () => {
    const { counts, options } = counting();
    const f = compileExpression("pure(1 + 2 * 3) > 6 and lower('X') == 'x' and max(1, 2) in [2, 3]", options);
    expect(counts.pure).toBe(1);
    expect(f(SCOPE)).toBe(true);
    expect(f(SCOPE)).toBe(true);
    expect(counts).toEqual({ root: 0, pure: 1, impure: 0 });
  });

  it('does not fold functions that are not declared pure', () => {
    const { counts, options } = counting();
    const f = compileExpression('impure(1) == 1', options);
    expect(counts.impure).toBe(0);
    f(SCOPE);
    f(SCOPE);
    expect(counts.impure).toBe(2);
  });

  it.each<[string, Value]>([
    ['false and customer.clv', false],
    ['customer.clv and false', false],
    ['true or customer.clv', true],
    ['customer.clv or 1', true],
    ['customer.clv == [1]', false],
    ['customer.clv != [1]', true],
    ["customer.clv < 'a' and customer.clv > null", false],
    ['customer.clv > null', false],
    ['customer.clv in 5', false],
    ['customer.clv not in null', true],
    ["customer.clv + 'a'", null],
    ['customer.clv / 0', null],
    ['customer.clv % 0', null],
    ["'a' - customer.clv", null],
  ])('decides %s at compile time (→ %j) without reading data', (source, expected) => {
    const { counts, options } = counting();
    expect(compileExpression(source, options)(SCOPE)).toEqual(expected);
    expect(counts.root).toBe(0);
  });

  it('keeps the non-constant side of and/or, as a boolean', () => {
    const { counts, options } = counting();
    expect(compileExpression('true and customer.name', options)(SCOPE)).toBe(true);
    expect(compileExpression('false or customer.empty', options)(SCOPE)).toBe(false);
    expect(counts.root).toBe(2);
  });

  it('returns constant lists frozen', () => {
    const v = evaluate('[1, [2]]');
    expect(Object.isFrozen(v)).toBe(true);
  });
});

describe('prototype safety', () => {
  it('rejects __proto__, constructor and prototype as field names', () => {
    for (const field of ['__proto__', 'constructor', 'prototype']) {
      const err = compileError(`customer.a.${field}.x == 1`);
      expect(err.message).toBe(`'${field}' cannot be used as a field name`);
      expect(err.column).toBe(12);
    }
  });

  it('never reads inherited properties', () => {
    expect(evaluate('customer.toString', { customer: {} })).toBeNull();
    expect(evaluate('context.toString', SCOPE)).toBeNull();
    expect(evaluate('customer.hasOwnProperty', SCOPE)).toBeNull();
    expect(evaluate('customer.valueOf', SCOPE)).toBeNull();
    expect(evaluate('customer.length', { customer: [1, 2] })).toBeNull();
    expect(evaluate('customer.tags.length', SCOPE)).toBeNull();
    expect(evaluate('customer.name.length', SCOPE)).toBeNull();
    expect(evaluate('customer.x', { customer: Object.create({ x: 1 }) })).toBeNull();
  });

  it('ignores a "__proto__" key from JSON.parse and what it points to', () => {
    const customer = JSON.parse('{"__proto__": {"x": 1, "isAdmin": true}, "y": 2}') as unknown;
    expect(evaluate('customer.x', { customer })).toBeNull();
    expect(evaluate('customer.isAdmin', { customer })).toBeNull();
    expect(evaluate('customer.y', { customer })).toBe(2);
    const nested = JSON.parse('{"a": {"__proto__": {"x": 1}}}') as unknown;
    expect(evaluate('customer.a.x', { customer: nested })).toBeNull();
  });

  it('is immune to a polluted Object.prototype', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.polluted = 'yes';
    try {
      expect(evaluate('customer.polluted', { customer: {} })).toBeNull();
      expect(evaluate("customer.nested.polluted == 'yes'", SCOPE)).toBe(false);
      expect(evaluate("'yes' in [customer.polluted]", { customer: {} })).toBe(false);
    } finally {
      delete proto.polluted;
    }
  });
});

describe('name errors', () => {
  it.each([
    ['clv > 1', 1, "unknown name 'clv'; use customer.clv or context.clv"],
    ['customer.a > 1 and foo.bar', 20, "unknown name 'foo'; paths start with customer or context"],
    [
      'cusomer.clv > 1',
      1,
      "unknown name 'cusomer'; did you mean 'customer'? paths start with customer or context",
    ],
    ['customer > 1', 1, "'customer' is not a value by itself: name a field, e.g. customer.someField"],
    ['holds > 1', 1, "'holds' is a function: call it with its arguments, e.g. holds(…)"],
    ['customer.a == TRUE', 15, "unknown name 'TRUE'; keywords are lower-case: 'true'"],
    ["hold('x')", 1, "unknown function 'hold'; did you mean 'holds'? known functions: abs, ceil, coalesce"],
    [
      'nope(1)',
      1,
      "unknown function 'nope'; known functions: abs, ceil, coalesce, contains, floor, holds, inSegment",
    ],
    ['customer(1)', 1, "unknown function 'customer'"],
    ['holds()', 1, 'holds() takes exactly 1 argument, got 0'],
    ["holds('a', 'b')", 1, 'holds() takes exactly 1 argument, got 2'],
    ['min()', 1, 'min() takes 1 to 8 arguments, got 0'],
    ['max(1, 2, 3, 4, 5, 6, 7, 8, 9)', 1, 'max() takes 1 to 8 arguments, got 9'],
    ['1 + abs(1, 2)', 5, 'abs() takes exactly 1 argument, got 2'],
    ['coalesce(1)', 1, 'coalesce() takes 2 to 8 arguments, got 1'],
  ])('%s → column %i: %s', (source, column, message) => {
    const err = compileError(source);
    expect(err.message).toContain(message);
    expect(err.column).toBe(column);
  });

  it('reports syntax errors before name errors', () => {
    expect(compileError('foo +').message).toContain('a value is missing');
  });

  it('rejects options that are not functions, as a programming error', () => {
    const bad = { roots: { customer: 1 } } as unknown as CompileOptions<Scope>;
    expect(() => compileExpression('customer.a', bad)).toThrow(TypeError);
  });
});
