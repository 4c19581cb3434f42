import { ExpressionError } from './errors.js';

export const MAX_SOURCE_LENGTH = 4000;

export type Token =
  | { readonly kind: 'number'; readonly value: number; readonly start: number; readonly end: number }
  | { readonly kind: 'string'; readonly value: string; readonly start: number; readonly end: number }
  /** A name or a keyword; the parser decides (after a `.` a keyword is a plain field name). */
  | { readonly kind: 'word'; readonly text: string; readonly start: number; readonly end: number }
  | { readonly kind: 'punct'; readonly text: Punct; readonly start: number; readonly end: number }
  | { readonly kind: 'eof'; readonly start: number; readonly end: number };

export type Punct =
  | '('
  | ')'
  | '['
  | ']'
  | ','
  | '.'
  | '=='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | '+'
  | '-'
  | '*'
  | '/'
  | '%';

const SINGLE: Readonly<Record<string, Punct>> = {
  '(': '(',
  ')': ')',
  '[': '[',
  ']': ']',
  ',': ',',
  '.': '.',
  '+': '+',
  '-': '-',
  '*': '*',
  '/': '/',
  '%': '%',
};

/** Characters analysts type by habit from other languages, and what to write instead. */
const HINTS: Readonly<Record<string, string>> = {
  '&': "use 'and' instead of '&&'",
  '|': "use 'or' instead of '||'",
  '!': "use 'not' instead of '!'",
  '=': "use '==' to compare",
  '‘': 'use straight quotes (\' or ") around strings',
  '’': 'use straight quotes (\' or ") around strings',
  '“': 'use straight quotes (\' or ") around strings',
  '”': 'use straight quotes (\' or ") around strings',
  '^': "'^' is not supported; use '*' to multiply",
  '?': "'?' is not supported; use coalesce(a, b) for a default value",
  '{': "'{' is not supported; lists are written [a, b]",
  '}': "'}' is not supported; lists are written [a, b]",
  ';': "';' is not supported; combine conditions with 'and' / 'or'",
};

const ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  n: '\n',
  t: '\t',
  r: '\r',
};

const isDigit = (c: number) => c >= 48 && c <= 57;
const isWordStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
const isWordPart = (c: number) => isWordStart(c) || isDigit(c);
const isSpace = (ch: string) => /\s/.test(ch);

/** Splits the source into tokens; the last one is `eof`. Throws ExpressionError. */
export function tokenize(source: string): Token[] {
  if (typeof source !== 'string') throw new ExpressionError('an expression must be a string', '', 0);
  if (source.length > MAX_SOURCE_LENGTH) {
    throw new ExpressionError(
      `expression is too long (${source.length} characters; at most ${MAX_SOURCE_LENGTH})`,
      source,
      MAX_SOURCE_LENGTH,
    );
  }
  const fail = (message: string, at: number): never => {
    throw new ExpressionError(message, source, at);
  };
  const tokens: Token[] = [];
  const n = source.length;
  let i = 0;
  while (i < n) {
    const ch = source[i]!;
    const c = source.charCodeAt(i);
    if (isSpace(ch)) {
      i++;
      continue;
    }
    const start = i;
    if (isDigit(c) || (c === 46 && isDigit(source.charCodeAt(i + 1)) && !followsValue(tokens))) {
      if (c === 46) fail(`a number must start with a digit: write 0${source.slice(i, i + 4)}…`, start);
      i = scanNumber(source, i, fail);
      const value = Number(source.slice(start, i));
      if (!Number.isFinite(value)) fail('number is too large', start);
      tokens.push({ kind: 'number', value, start, end: i });
      continue;
    }
    if (isWordStart(c)) {
      while (i < n && isWordPart(source.charCodeAt(i))) i++;
      tokens.push({ kind: 'word', text: source.slice(start, i), start, end: i });
      continue;
    }
    if (ch === "'" || ch === '"') {
      const { value, end } = scanString(source, i, fail);
      i = end;
      tokens.push({ kind: 'string', value, start, end });
      continue;
    }
    const two = source.slice(i, i + 2);
    if (two === '==' || two === '!=' || two === '<=' || two === '>=') {
      i += 2;
      tokens.push({ kind: 'punct', text: two, start, end: i });
      continue;
    }
    if (two === '<>') fail("use '!=' for 'not equal'", start);
    if (ch === '<' || ch === '>') {
      i++;
      tokens.push({ kind: 'punct', text: ch, start, end: i });
      continue;
    }
    const single = Object.hasOwn(SINGLE, ch) ? SINGLE[ch] : undefined;
    if (single !== undefined) {
      i++;
      tokens.push({ kind: 'punct', text: single, start, end: i });
      continue;
    }
    const hint = Object.hasOwn(HINTS, ch) ? HINTS[ch] : undefined;
    const shown = String.fromCodePoint(source.codePointAt(i) ?? c);
    fail(hint ?? `unexpected character '${shown}'`, start);
  }
  tokens.push({ kind: 'eof', start: n, end: n });
  return tokens;
}

/** True if the previous token ends a value, so a following `.` is a field access, not `.5`. */
function followsValue(tokens: readonly Token[]): boolean {
  const last = tokens[tokens.length - 1];
  if (last === undefined) return false;
  return last.kind === 'word' || (last.kind === 'punct' && (last.text === ')' || last.text === ']'));
}

function scanNumber(source: string, i: number, fail: (message: string, at: number) => never): number {
  const n = source.length;
  while (i < n && isDigit(source.charCodeAt(i))) i++;
  if (source.charCodeAt(i) === 46 && isDigit(source.charCodeAt(i + 1))) {
    i++;
    while (i < n && isDigit(source.charCodeAt(i))) i++;
  } else if (source.charCodeAt(i) === 46 && !isWordStart(source.charCodeAt(i + 1))) {
    fail("a digit must follow the decimal point (write 1.0, not '1.')", i);
  }
  const e = source.charCodeAt(i);
  if (e === 101 || e === 69) {
    let j = i + 1;
    const sign = source.charCodeAt(j);
    if (sign === 43 || sign === 45) j++;
    if (!isDigit(source.charCodeAt(j))) fail('a digit must follow the exponent', j);
    while (j < n && isDigit(source.charCodeAt(j))) j++;
    i = j;
  }
  if (i < n && (isWordPart(source.charCodeAt(i)) || source.charCodeAt(i) === 46)) {
    fail(`unexpected '${source[i]}' after a number`, i);
  }
  return i;
}

function scanString(
  source: string,
  start: number,
  fail: (message: string, at: number) => never,
): { value: string; end: number } {
  const quote = source[start];
  let value = '';
  let i = start + 1;
  for (;;) {
    if (i >= source.length) return fail(`unterminated string: add the closing ${quote}`, start);
    const ch = source[i]!;
    if (ch === quote) return { value, end: i + 1 };
    if (ch === '\n' || ch === '\r') {
      return fail(`unterminated string: add the closing ${quote} before the end of the line`, start);
    }
    if (ch === '\\') {
      const next = source[i + 1];
      if (next === 'u') {
        const hex = source.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('\\u must be followed by 4 hex digits', i);
        value += String.fromCharCode(Number.parseInt(hex, 16));
        i += 6;
        continue;
      }
      const escaped = next !== undefined && Object.hasOwn(ESCAPES, next) ? ESCAPES[next] : undefined;
      if (escaped === undefined) {
        fail(`unknown escape '\\${next ?? ''}' (known: \\\\ \\' \\" \\n \\t \\r \\uXXXX)`, i);
      }
      value += escaped;
      i += 2;
      continue;
    }
    value += ch;
    i++;
  }
}
