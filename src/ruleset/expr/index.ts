// The safe expression language of rule conditions: parse, validate, compile once to closures.
// Language reference: docs/expressions.md. Why it is ours: docs/decisions/0001-expression-language.md.

export type {
  ArithmeticOperator,
  AstNode,
  BinaryNode,
  BinaryOperator,
  CallNode,
  ComparisonOperator,
  ListNode,
  LiteralNode,
  LogicalOperator,
  PathNode,
  UnaryNode,
  UnaryOperator,
  Value,
} from './ast.js';
export { BUILTINS } from './builtins.js';
export { compileCondition, compileExpression, validateExpression } from './compile.js';
export { ExpressionError } from './errors.js';
export { MAX_SOURCE_LENGTH } from './lexer.js';
export { MAX_DEPTH, parseExpression } from './parser.js';
export {
  type CompileOptions,
  type Condition,
  type Evaluator,
  type ExprFunction,
  NOT_CONSTANT,
} from './types.js';
export { toValue, truthy } from './values.js';
