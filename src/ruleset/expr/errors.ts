/**
 * A problem in an expression's source, found while compiling it. Never thrown at evaluation time.
 *
 * `message` is the reason only, without a position: the ruleset loader maps `line`/`column` into
 * the YAML file and prints its own position (see ruleset/compile.ts). Use `format()` for a
 * stand-alone report with the position and a caret under the offending character.
 */
export class ExpressionError extends Error {
  override readonly name = 'ExpressionError';
  /** 0-based offset into the source, in UTF-16 code units. */
  readonly offset: number;
  /** 1-based line within the source. */
  readonly line: number;
  /** 1-based column within that line, in UTF-16 code units. */
  readonly column: number;
  readonly source: string;

  constructor(message: string, source: string, offset: number) {
    super(message);
    const at = Math.max(0, Math.min(offset, source.length));
    const { line, column } = lineColumn(source, at);
    this.offset = at;
    this.line = line;
    this.column = column;
    this.source = source;
  }

  /** `reason (line L, column C)` followed by the source line and a caret under the column. */
  format(): string {
    const lineText = this.source.split(/\r\n|\r|\n/)[this.line - 1] ?? '';
    const pad = lineText.slice(0, this.column - 1).replace(/[^\t]/g, ' ');
    return `${this.message} (line ${this.line}, column ${this.column})\n  ${lineText}\n  ${pad}^`;
  }

  toJSON(): { message: string; offset: number; line: number; column: number } {
    return { message: this.message, offset: this.offset, line: this.line, column: this.column };
  }
}

/** 1-based line and column of `offset`; `\n`, `\r\n` and a lone `\r` each end a line. */
export function lineColumn(source: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c === 10 || (c === 13 && source.charCodeAt(i + 1) !== 10)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}
