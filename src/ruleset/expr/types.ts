import type { Value } from './ast.js';

/** Passed to `checkArgs` in place of an argument that is not known at compile time. */
export const NOT_CONSTANT: unique symbol = Symbol('NOT_CONSTANT');

/** A function callable from expressions. S is the evaluation scope type chosen by the caller. */
export interface ExprFunction<S> {
  minArgs: number;
  maxArgs: number;
  /**
   * Called with already-evaluated arguments, never with `this` bound. Calls with up to 3
   * arguments pass them positionally (no array is allocated). Must not throw: evaluation never
   * throws. A result of `undefined` or a non-finite number is turned into null.
   */
  call: (scope: S, ...args: Value[]) => Value;
  /**
   * Optional compile-time check of the arguments that are constants (literals, or folded to
   * constants); return an error message or null. Non-constant arguments are passed as
   * NOT_CONSTANT. Called exactly once per call site, even in a branch that folding removes
   * (`false and f('x')`), so it may also record references (e.g. segment dependencies).
   */
  checkArgs?: (args: readonly (Value | typeof NOT_CONSTANT)[]) => string | null;
  /**
   * True if the result depends only on the arguments (not on the scope, clock or any state):
   * calls with constant arguments are then evaluated once at compile time. Default false.
   */
  pure?: boolean;
}

export interface CompileOptions<S> {
  /**
   * Root names usable in paths (e.g. customer, context) and how to get the object from the scope.
   * The object should be a plain object (prototype Object.prototype or null); anything else reads
   * as having no fields.
   */
  roots: Readonly<Record<string, (scope: S) => unknown>>;
  /** Extra functions; merged over the built-ins (a same-named one replaces the built-in). */
  functions?: Readonly<Record<string, ExprFunction<S>>>;
}

export type Evaluator<S> = (scope: S) => Value;
export type Condition<S> = (scope: S) => boolean;
