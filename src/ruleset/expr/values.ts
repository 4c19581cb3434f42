import type { Value } from './ast.js';

// The run-time semantics of the language, shared by the compiler and constant folding. Every
// function here is total: no input makes it throw, and none reads through a prototype.
// docs/expressions.md describes these rules for analysts; compile.test.ts and the reference
// interpreter in expr.property.test.ts pin them.

const OBJECT_PROTOTYPE = Object.prototype;
const getPrototypeOf = Object.getPrototypeOf;
const hasOwn = Object.hasOwn;
const isArray = Array.isArray;

/** Lists nested deeper than this in data read as null (also stops self-containing arrays). */
const MAX_LIST_DEPTH = 8;

/**
 * An own property of a plain object (one made by `{}`, JSON.parse or Object.create(null); not an
 * array, map, date or class instance), else undefined. Never returns an inherited value.
 * fields.ts generates per-name copies of these steps; keep the two in step (fields.test.ts).
 */
export function field(o: unknown, key: string): unknown {
  if (typeof o !== 'object' || o === null) return undefined;
  // Load first: absent keys (the common miss) cost one lookup, and the optimizing compiler then
  // knows the object's map, which lets it fold the prototype check below.
  const v = (o as Record<string, unknown>)[key];
  if (v === undefined) return undefined;
  const proto: unknown = getPrototypeOf(o);
  if (proto !== OBJECT_PROTOTYPE && proto !== null) return undefined;
  return inheritable(key) && !hasOwn(o, key) ? undefined : v;
}

/**
 * Whether a plain object could inherit `key`: only if Object.prototype has it (toString, or a
 * polluted key). Object.hasOwn is then needed; for any other key the value read is own, which
 * skips a costly call on the hot path. Guarded by compile.test.ts "prototype safety".
 */
function inheritable(key: string): boolean {
  return key in OBJECT_PROTOTYPE;
}

/**
 * Data as a Value: strings, booleans and finite numbers as they are, lists whose items are all
 * Values (checked, not copied); everything else (undefined, NaN, ±Infinity, objects, functions,
 * symbols, bigints, holes) reads as null.
 */
export function toValue(v: unknown): Value {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return v - v === 0 ? v : null;
    case 'object':
      return v !== null && isValueList(v, 0) ? v : null;
    default:
      return null;
  }
}

function isValueList(v: object, depth: number): v is readonly Value[] {
  if (!isArray(v) || depth > MAX_LIST_DEPTH) return false;
  for (let i = 0; i < v.length; i++) {
    const item: unknown = v[i];
    const t = typeof item;
    if (t === 'string' || t === 'number' || t === 'boolean' || item === null) continue;
    if (t === 'object' && isValueList(item as object, depth + 1)) continue;
    return false;
  }
  return true;
}

/** A finite number as is; NaN and ±Infinity become null. */
export function finite(n: number): number | null {
  return n - n === 0 ? n : null;
}

/** true, non-zero finite numbers, non-empty strings and non-empty lists. */
export function truthy(v: Value): boolean {
  switch (typeof v) {
    case 'boolean':
      return v;
    case 'number':
      return v !== 0 && v - v === 0;
    case 'string':
      return v.length > 0;
    default:
      return v !== null && v.length > 0;
  }
}

/** Strict equality of scalars; a list is equal to nothing, not even itself. */
export function equals(a: Value, b: Value): boolean {
  return a === b && (a === null || typeof a !== 'object');
}

export function lessThan(a: Value, b: Value): boolean {
  if (typeof a === 'number') return typeof b === 'number' && a < b;
  if (typeof a === 'string') return typeof b === 'string' && a < b;
  return false;
}

export function lessOrEqual(a: Value, b: Value): boolean {
  if (typeof a === 'number') return typeof b === 'number' && a <= b;
  if (typeof a === 'string') return typeof b === 'string' && a <= b;
  return false;
}

/** `x in list`: an item strictly equal to x; `s in string`: substring; anything else false. */
export function isIn(x: Value, container: Value): boolean {
  if (typeof container === 'string') return typeof x === 'string' && container.includes(x);
  if (container === null || typeof container !== 'object') return false;
  if (x !== null && typeof x === 'object') return false;
  for (let i = 0; i < container.length; i++) if (container[i] === x) return true;
  return false;
}

export function add(a: Value, b: Value): Value {
  return typeof a === 'number' && typeof b === 'number' ? finite(a + b) : null;
}

export function subtract(a: Value, b: Value): Value {
  return typeof a === 'number' && typeof b === 'number' ? finite(a - b) : null;
}

export function multiply(a: Value, b: Value): Value {
  return typeof a === 'number' && typeof b === 'number' ? finite(a * b) : null;
}

export function divide(a: Value, b: Value): Value {
  return typeof a === 'number' && typeof b === 'number' && b !== 0 ? finite(a / b) : null;
}

export function remainder(a: Value, b: Value): Value {
  return typeof a === 'number' && typeof b === 'number' && b !== 0 ? finite(a % b) : null;
}

export function negate(a: Value): Value {
  return typeof a === 'number' ? -a : null;
}
