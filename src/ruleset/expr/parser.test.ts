import { describe, expect, it } from 'vitest';
import type { AstNode } from './ast.js';
import { ExpressionError } from './errors.js';
import { MAX_SOURCE_LENGTH, tokenize } from './lexer.js';
import { MAX_DEPTH, parseExpression } from './parser.js';

/** The AST as a compact S-expression, to assert structure and precedence. */
function sexpr(node: AstNode): string {
  switch (node.type) {
    case 'literal':
      return JSON.stringify(node.value);
    case 'list':
      return `[${node.items.map(sexpr).join(' ')}]`;
    case 'path':
      return [node.root, ...node.segments].join('.');
    case 'call':
      return `(${node.name}()${node.args.map((a) => ` ${sexpr(a)}`).join('')})`;
    case 'unary':
      return `(${node.op} ${sexpr(node.operand)})`;
    case 'binary':
      return `(${node.op} ${sexpr(node.left)} ${sexpr(node.right)})`;
  }
}

const parse = (source: string) => sexpr(parseExpression(source));

function errorOf(source: string): ExpressionError {
  try {
    parseExpression(source);
  } catch (err) {
    if (err instanceof ExpressionError) return err;
    throw err;
  }
  throw new Error(`expected an ExpressionError for ${JSON.stringify(source)}`);
}

describe('lexer', () => {
  it('reads numbers, strings, words and operators with offsets', () => {
    const tokens = tokenize("a.b >= 1.5e3 and 'x'");
    expect(tokens.map((t) => t.kind)).toEqual([
      'word',
      'punct',
      'word',
      'punct',
      'number',
      'word',
      'string',
      'eof',
    ]);
    expect(tokens[4]).toMatchObject({ kind: 'number', value: 1500, start: 7, end: 12 });
    expect(tokens[6]).toMatchObject({ kind: 'string', value: 'x', start: 17, end: 20 });
  });

  it.each([
    ['12', 12],
    ['0.5', 0.5],
    ['1e3', 1000],
    ['1E-2', 0.01],
    ['2.5e+1', 25],
    ['007', 7],
  ])('number %s', (source, value) => {
    expect(tokenize(source)[0]).toMatchObject({ kind: 'number', value });
  });

  it.each([
    [`'it\\'s'`, "it's"],
    [`"say \\"hi\\""`, 'say "hi"'],
    [`'a\\\\b'`, 'a\\b'],
    [`'tab\\tnew\\nline\\r'`, 'tab\tnew\nline\r'],
    [`'\\u00e9t\\u00E9'`, 'été'],
    [`"it's"`, "it's"],
    [`''`, ''],
    [`'日本'`, '日本'],
  ])('string %s', (source, value) => {
    expect(tokenize(source)[0]).toMatchObject({ kind: 'string', value });
  });

  it('treats any whitespace, including newlines, as a separator', () => {
    expect(parse('customer.a\n  >\t1\r\n and\u00a0true')).toBe('(and (> customer.a 1) true)');
  });
});

describe('parser', () => {
  it.each([
    ['a or b and c', '(or a (and b c))'],
    ['a and b or c', '(or (and a b) c)'],
    ['not a and b', '(and (not a) b)'],
    ['not a == b', '(not (== a b))'],
    ['not not a', '(not (not a))'],
    ['a + b * c', '(+ a (* b c))'],
    ['a - b - c', '(- (- a b) c)'],
    ['a / b % c', '(% (/ a b) c)'],
    ['-a * b', '(* (- a) b)'],
    ['- -a', '(- (- a))'],
    ['2 - -3', '(- 2 (- 3))'],
    ['a + b < c * d', '(< (+ a b) (* c d))'],
    ['(a or b) and c', '(and (or a b) c)'],
    ['x in [1, "a", null]', '(in x [1 "a" null])'],
    ['x not in [1, 2,]', '(not in x [1 2])'],
    ['not x in y', '(not (in x y))'],
    ['[]', '[]'],
    ['f()', '(f())'],
    ['f(a, g(b))', '(f() a (g() b))'],
    ['customer.a.b.c', 'customer.a.b.c'],
    ['customer.in and context.not', '(and customer.in context.not)'],
    ['true != false', '(!= true false)'],
    ['a <= b', '(<= a b)'],
    ['a >= b', '(>= a b)'],
  ])('%s', (source, expected) => {
    expect(parse(source)).toBe(expected);
  });

  it('records spans and operator offsets', () => {
    const ast = parseExpression('  customer.clv > 10');
    expect(ast).toMatchObject({ type: 'binary', op: '>', start: 2, end: 19, opStart: 15 });
    if (ast.type !== 'binary') throw new Error('binary expected');
    expect(ast.left).toMatchObject({
      type: 'path',
      root: 'customer',
      segments: ['clv'],
      segmentStarts: [11],
    });
  });
});

describe('syntax errors', () => {
  it.each([
    ['', 1, 1, 'the expression is empty'],
    ['   ', 1, 4, 'the expression is empty'],
    ['a < b < c', 1, 7, 'comparisons cannot be chained'],
    ['a == b == c', 1, 8, 'comparisons cannot be chained'],
    ['a in b in c', 1, 8, 'comparisons cannot be chained'],
    ['a and', 1, 6, 'a value is missing'],
    ['(a', 1, 3, "expected ')' to close the '(' at column 1"],
    ['[a b]', 1, 4, "expected ']'"],
    ['f(a b)', 1, 5, "expected ')'"],
    ['a b', 1, 3, "unexpected 'b'"],
    ["'open", 1, 1, 'unterminated string'],
    ['"open\'', 1, 1, 'unterminated string'],
    ["'a\\q'", 1, 3, "unknown escape '\\q'"],
    ["'\\u12'", 1, 2, '\\u must be followed by 4 hex digits'],
    ['a && b', 1, 3, "use 'and' instead of '&&'"],
    ['a || b', 1, 3, "use 'or' instead of '||'"],
    ['!a', 1, 1, "use 'not' instead of '!'"],
    ['a = 1', 1, 3, "use '==' to compare"],
    ['a <> 1', 1, 3, "use '!='"],
    ['a # b', 1, 3, "unexpected character '#'"],
    ['a == ‘x’', 1, 6, 'straight quotes'],
    ['.5', 1, 1, 'a number must start with a digit'],
    ['1.', 1, 2, 'a digit must follow the decimal point'],
    ['1e', 1, 3, 'a digit must follow the exponent'],
    ['12abc', 1, 3, "unexpected 'a' after a number"],
    ['1e999', 1, 1, 'number is too large'],
    ['customer.', 1, 10, "expected a field name after '.'"],
    ['customer.1', 1, 10, "expected a field name after '.'"],
    ['customer.name.lower()', 1, 20, 'cannot be called'],
    ['a not b', 1, 3, "'not' here must be followed by 'in'"],
    ['a == not b', 1, 6, "'not' cannot be used here"],
    ['and', 1, 1, "expected a value but found 'and'"],
    ['+1', 1, 1, "unary '+' is not supported"],
    ['a AND b', 1, 3, "keywords are lower-case: 'and'"],
    [')', 1, 1, "expected a value but found ')'"],
  ])('%j → %i:%i %s', (source, line, column, message) => {
    const err = errorOf(source);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ExpressionError');
    expect(err.message).toContain(message);
    expect({ line: err.line, column: err.column }).toEqual({ line, column });
  });

  it('reports lines and columns in multi-line sources (\\n, \\r\\n, \\r)', () => {
    for (const nl of ['\n', '\r\n', '\r']) {
      const err = errorOf(`customer.a > 1${nl}and${nl}  customer.b >> 2`);
      expect({ line: err.line, column: err.column }).toEqual({ line: 3, column: 15 });
      expect(err.offset).toBe(31 + 2 * nl.length);
    }
  });

  it('points at the opening quote of a string left open on its line', () => {
    const err = errorOf("customer.a == 'x\n and true");
    expect(err).toMatchObject({ line: 1, column: 15 });
    expect(err.message).toContain('before the end of the line');
  });

  it('formats the error with a caret under the column', () => {
    const err = errorOf('customer.a >\n  customer.b &&& 1');
    expect(err.format()).toBe(
      "use 'and' instead of '&&' (line 2, column 14)\n    customer.b &&& 1\n               ^",
    );
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      message: "use 'and' instead of '&&'",
      offset: 26,
      line: 2,
      column: 14,
    });
  });

  it(`rejects sources longer than ${MAX_SOURCE_LENGTH} characters`, () => {
    const ok = `1${' + 1'.repeat((MAX_SOURCE_LENGTH - 1) / 4)}`.padEnd(MAX_SOURCE_LENGTH, ' ');
    expect(ok.length).toBe(MAX_SOURCE_LENGTH);
    expect(() => parseExpression(ok)).not.toThrow();
    expect(errorOf(`${ok} `).message).toMatch(/too long \(4001 characters; at most 4000\)/);
  });

  it('rejects a source that is not a string', () => {
    expect(errorOf(42 as unknown as string).message).toBe('an expression must be a string');
  });
});

describe('nesting depth', () => {
  const nested = (open: string, close: string, depth: number) =>
    `${open.repeat(depth)}1${close.repeat(depth)}`;

  it.each([
    ['parentheses', '(', ')', 0],
    ['lists', '[', ']', 0],
    ['calls', 'f(', ')', 1],
    ['not', 'not ', '', 0],
    ['unary minus', '-', '', 0],
  ])(`allows ${MAX_DEPTH} levels of %s and rejects ${MAX_DEPTH + 1}`, (_name, open, close, at) => {
    expect(() => parseExpression(nested(open, close, MAX_DEPTH))).not.toThrow();
    const err = errorOf(nested(open, close, MAX_DEPTH + 1));
    expect(err.message).toBe(`expression is nested too deeply (more than ${MAX_DEPTH} levels)`);
    expect(err.offset).toBe(open.length * MAX_DEPTH + at);
  });

  it('fails cleanly, not with a stack overflow, for absurd nesting', () => {
    expect(errorOf('('.repeat(3999)).message).toContain('nested too deeply');
    expect(errorOf('-'.repeat(3999)).message).toContain('nested too deeply');
  });

  it('does not count long flat chains as nesting', () => {
    const chain = Array.from({ length: 500 }, (_, i) => `a${i}`).join(' or ');
    expect(chain.length).toBeLessThanOrEqual(MAX_SOURCE_LENGTH);
    expect(() => parseExpression(chain)).not.toThrow();
  });
});
