/** Every value an expression can produce. Lists from data are returned as they are (not copied). */
export type Value = string | number | boolean | null | readonly Value[];

export type ComparisonOperator = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in';
export type ArithmeticOperator = '+' | '-' | '*' | '/' | '%';
export type LogicalOperator = 'and' | 'or';
export type BinaryOperator = LogicalOperator | ComparisonOperator | ArithmeticOperator;
export type UnaryOperator = 'not' | '-';

/** Offsets are 0-based UTF-16 positions in the source: `start` inclusive, `end` exclusive. */
interface Span {
  readonly start: number;
  readonly end: number;
}

export interface LiteralNode extends Span {
  readonly type: 'literal';
  readonly value: string | number | boolean | null;
}

export interface ListNode extends Span {
  readonly type: 'list';
  readonly items: readonly AstNode[];
}

/**
 * `root.a.b`, or a bare name (no segments). The parser accepts any name; the compiler checks the
 * root against the options and rejects forbidden segments, so tools can parse without options.
 */
export interface PathNode extends Span {
  readonly type: 'path';
  readonly root: string;
  readonly segments: readonly string[];
  /** Offset of each segment's name, for error positions. */
  readonly segmentStarts: readonly number[];
}

export interface CallNode extends Span {
  readonly type: 'call';
  readonly name: string;
  readonly args: readonly AstNode[];
}

export interface UnaryNode extends Span {
  readonly type: 'unary';
  readonly op: UnaryOperator;
  readonly operand: AstNode;
}

export interface BinaryNode extends Span {
  readonly type: 'binary';
  readonly op: BinaryOperator;
  readonly left: AstNode;
  readonly right: AstNode;
  /** Offset of the operator token. */
  readonly opStart: number;
}

export type AstNode = LiteralNode | ListNode | PathNode | CallNode | UnaryNode | BinaryNode;
