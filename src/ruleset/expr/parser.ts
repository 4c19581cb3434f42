import type { AstNode, BinaryOperator, ComparisonOperator } from './ast.js';
import { ExpressionError, lineColumn } from './errors.js';
import { type Token, tokenize } from './lexer.js';

/** Maximum nesting of parentheses, lists, calls and prefix operators. */
export const MAX_DEPTH = 64;

const KEYWORDS: ReadonlySet<string> = new Set(['and', 'or', 'not', 'in', 'true', 'false', 'null']);
const COMPARISONS: ReadonlySet<string> = new Set(['==', '!=', '<', '<=', '>', '>=']);

/**
 * Parses an expression into an AST. Syntax only: names, functions and arities are checked by the
 * compiler. Throws ExpressionError with the position of the first problem.
 *
 * Precedence, low to high: or, and, not, comparisons (== != < <= > >= in, not in; not
 * chainable), + -, * / %, unary -, primaries.
 */
export function parseExpression(source: string): AstNode {
  return new Parser(source, tokenize(source)).parseAll();
}

export function isKeyword(word: string): boolean {
  return KEYWORDS.has(word);
}

class Parser {
  private pos = 0;
  private depth = 0;

  constructor(
    private readonly source: string,
    private readonly tokens: readonly Token[],
  ) {}

  parseAll(): AstNode {
    if (this.peek().kind === 'eof') this.fail('the expression is empty', this.peek().start);
    const node = this.parseOr();
    const next = this.peek();
    if (next.kind === 'word' && next.text !== next.text.toLowerCase() && isKeyword(next.text.toLowerCase())) {
      this.fail(
        `unexpected '${next.text}'; keywords are lower-case: '${next.text.toLowerCase()}'`,
        next.start,
      );
    }
    if (next.kind !== 'eof') {
      this.fail(`unexpected ${describe(next)}; expected an operator such as 'and' or 'or'`, next.start);
    }
    return node;
  }

  private parseOr(): AstNode {
    let left = this.parseAnd();
    while (this.isWord('or')) {
      const op = this.next();
      const right = this.parseAnd();
      left = binary('or', left, right, op.start);
    }
    return left;
  }

  private parseAnd(): AstNode {
    let left = this.parseNot();
    while (this.isWord('and')) {
      const op = this.next();
      const right = this.parseNot();
      left = binary('and', left, right, op.start);
    }
    return left;
  }

  private parseNot(): AstNode {
    if (this.isWord('not')) {
      const op = this.next();
      this.enter(op.start);
      const operand = this.parseNot();
      this.depth--;
      return { type: 'unary', op: 'not', operand, start: op.start, end: operand.end };
    }
    return this.parseComparison();
  }

  private parseComparison(): AstNode {
    const left = this.parseAdditive();
    const op = this.comparisonAhead();
    if (op === null) return left;
    const opToken = this.next();
    if (op === 'not in') this.next();
    const right = this.parseAdditive();
    const node = binary(op, left, right, opToken.start);
    const again = this.comparisonAhead();
    if (again !== null) {
      this.fail(
        `comparisons cannot be chained: write 'a ${op} b and b ${again} c', or use parentheses`,
        this.peek().start,
      );
    }
    return node;
  }

  /** The comparison operator at the current token, if any (`not in` spans two tokens). */
  private comparisonAhead(): ComparisonOperator | null {
    const t = this.peek();
    if (t.kind === 'punct' && COMPARISONS.has(t.text)) return t.text as ComparisonOperator;
    if (t.kind !== 'word') return null;
    if (t.text === 'in') return 'in';
    if (t.text === 'not') {
      const after = this.tokens[this.pos + 1];
      if (after?.kind === 'word' && after.text === 'in') return 'not in';
      this.fail(
        "'not' here must be followed by 'in'; to negate a condition put 'not' in front of it",
        t.start,
      );
    }
    return null;
  }

  private parseAdditive(): AstNode {
    let left = this.parseMultiplicative();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'punct' || (t.text !== '+' && t.text !== '-')) return left;
      this.next();
      const right = this.parseMultiplicative();
      left = binary(t.text, left, right, t.start);
    }
  }

  private parseMultiplicative(): AstNode {
    let left = this.parseUnary();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'punct' || (t.text !== '*' && t.text !== '/' && t.text !== '%')) return left;
      this.next();
      const right = this.parseUnary();
      left = binary(t.text, left, right, t.start);
    }
  }

  private parseUnary(): AstNode {
    const t = this.peek();
    if (t.kind === 'punct' && t.text === '-') {
      this.next();
      this.enter(t.start);
      const operand = this.parseUnary();
      this.depth--;
      return { type: 'unary', op: '-', operand, start: t.start, end: operand.end };
    }
    if (t.kind === 'punct' && t.text === '+') {
      this.fail("unary '+' is not supported; write the number without it", t.start);
    }
    return this.parsePrimary();
  }

  private parsePrimary(): AstNode {
    const t = this.next();
    switch (t.kind) {
      case 'number':
      case 'string':
        return { type: 'literal', value: t.value, start: t.start, end: t.end };
      case 'punct':
        if (t.text === '(') {
          this.enter(t.start);
          const inner = this.parseOr();
          this.expect(')', t);
          this.depth--;
          return inner;
        }
        if (t.text === '[') return this.parseList(t);
        return this.fail(`expected a value but found ${describe(t)}`, t.start);
      case 'word':
        return this.parseWord(t);
      case 'eof':
        return this.fail('unexpected end of expression; a value is missing', t.start);
    }
  }

  private parseWord(t: Token & { kind: 'word' }): AstNode {
    switch (t.text) {
      case 'true':
        return { type: 'literal', value: true, start: t.start, end: t.end };
      case 'false':
        return { type: 'literal', value: false, start: t.start, end: t.end };
      case 'null':
        return { type: 'literal', value: null, start: t.start, end: t.end };
      case 'and':
      case 'or':
      case 'in':
        return this.fail(`expected a value but found '${t.text}'`, t.start);
      case 'not':
        return this.fail("'not' cannot be used here; put the negated condition in parentheses", t.start);
    }
    const open = this.peek();
    if (open.kind === 'punct' && open.text === '(') return this.parseCall(t);
    const segments: string[] = [];
    const segmentStarts: number[] = [];
    let end = t.end;
    for (;;) {
      const dot = this.peek();
      if (dot.kind !== 'punct' || dot.text !== '.') break;
      this.next();
      const field = this.next();
      if (field.kind !== 'word') {
        this.fail(`expected a field name after '.' but found ${describe(field)}`, field.start);
      }
      segments.push(field.text);
      segmentStarts.push(field.start);
      end = field.end;
    }
    const after = this.peek();
    if (segments.length > 0 && after.kind === 'punct' && after.text === '(') {
      const name = segments[segments.length - 1];
      this.fail(
        `'${this.source.slice(t.start, end)}' cannot be called; functions take their subject as an argument, e.g. ${name}(x)`,
        after.start,
      );
    }
    return { type: 'path', root: t.text, segments, segmentStarts, start: t.start, end };
  }

  private parseCall(name: Token & { kind: 'word' }): AstNode {
    const open = this.next();
    this.enter(open.start);
    const args: AstNode[] = [];
    if (!this.isPunct(')')) {
      for (;;) {
        args.push(this.parseOr());
        if (!this.isPunct(',')) break;
        this.next();
      }
    }
    const close = this.expect(')', open);
    this.depth--;
    return { type: 'call', name: name.text, args, start: name.start, end: close.end };
  }

  private parseList(open: Token): AstNode {
    this.enter(open.start);
    const items: AstNode[] = [];
    while (!this.isPunct(']')) {
      items.push(this.parseOr());
      if (!this.isPunct(',')) break;
      this.next(); // a trailing comma is allowed: [a, b,]
    }
    const close = this.expect(']', open);
    this.depth--;
    return { type: 'list', items, start: open.start, end: close.end };
  }

  private enter(at: number): void {
    if (++this.depth > MAX_DEPTH)
      this.fail(`expression is nested too deeply (more than ${MAX_DEPTH} levels)`, at);
  }

  private expect(text: ')' | ']', open: Token): Token {
    const t = this.peek();
    if (t.kind === 'punct' && t.text === text) return this.next();
    const where = lineColumnText(this.source, open.start);
    const hint = t.kind === 'eof' ? '' : '; a comma or an operator may be missing';
    return this.fail(
      `expected '${text}' to close the '${open.kind === 'punct' ? open.text : '('}' at ${where} but found ${describe(t)}${hint}`,
      t.start,
    );
  }

  private peek(): Token {
    return this.tokens[this.pos]!;
  }

  private next(): Token {
    const t = this.tokens[this.pos]!;
    if (t.kind !== 'eof') this.pos++;
    return t;
  }

  private isWord(text: string): boolean {
    const t = this.peek();
    return t.kind === 'word' && t.text === text;
  }

  private isPunct(text: string): boolean {
    const t = this.peek();
    return t.kind === 'punct' && t.text === text;
  }

  private fail(message: string, at: number): never {
    throw new ExpressionError(message, this.source, at);
  }
}

function binary(op: BinaryOperator, left: AstNode, right: AstNode, opStart: number): AstNode {
  return { type: 'binary', op, left, right, opStart, start: left.start, end: right.end };
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'the end of the expression';
    case 'number':
      return `the number ${t.value}`;
    case 'string':
      return `the string ${JSON.stringify(t.value)}`;
    case 'word':
      return `'${t.text}'`;
    case 'punct':
      return `'${t.text}'`;
  }
}

function lineColumnText(source: string, offset: number): string {
  const { line, column } = lineColumn(source, offset);
  return line === 1 ? `column ${column}` : `line ${line}, column ${column}`;
}
