import { field } from './values.js';

// Field readers: `o => own property K of plain object o, else undefined`, one per field name.
//
// Why generated: a closure or helper shared by all paths does its property load from one call
// site, which sees every field name and becomes megamorphic; a function per name keeps the load
// monomorphic. A benchmark measured both in 2026-11 ("closures only" vs "ours": 1.6x on the mixed
// ruleset); decision in docs/decisions/0001-expression-language.md.
//
// Why safe: the source is a fixed template; the only inserted text is JSON.stringify(name), and
// only for a name that matches IDENTIFIER (the lexer's rule for a field name, checked again
// here) and is not a forbidden one, so it can only ever be a plain string literal. Anything else,
// or a runtime that disallows code generation (node --disallow-code-generation-from-strings, a
// CSP), gets the equivalent closure over values.ts field(). fields.test.ts checks both agree.

export type FieldReader = (o: unknown) => unknown;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Field names that would reach into JavaScript internals; rejected even though reads are own-only. */
export const FORBIDDEN_FIELDS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
/** Enough for any ruleset; beyond it readers are still correct, just not shared. */
const MAX_CACHED = 4096;

const cache = new Map<string, FieldReader>();
let codegen: boolean | undefined;

/** The reader of field `name`, shared by every path that reads that name. */
export function fieldReader(name: string): FieldReader {
  const cached = cache.get(name);
  if (cached !== undefined) return cached;
  const reader = createFieldReader(name, codegenAllowed());
  if (cache.size < MAX_CACHED) cache.set(name, reader);
  return reader;
}

/** Exported for tests and the benchmark: a fresh reader, generated or not. */
export function createFieldReader(name: string, generate: boolean): FieldReader {
  if (generate && IDENTIFIER.test(name) && !FORBIDDEN_FIELDS.has(name)) {
    try {
      return generated(JSON.stringify(name));
    } catch {
      codegen = false;
    }
  }
  return (o) => field(o, name);
}

/** Benchmark switch: false makes every new reader a plain closure (and forgets cached ones). */
export function setFieldCodegen(enabled: boolean): void {
  codegen = enabled && canGenerate();
  cache.clear();
}

function codegenAllowed(): boolean {
  codegen ??= canGenerate();
  return codegen;
}

function canGenerate(): boolean {
  try {
    return generated('"probe"')({ probe: 1 }) === 1;
  } catch {
    return false;
  }
}

/** `key` is a JSON string literal of a checked identifier. Same steps as values.ts field(). */
function generated(key: string): FieldReader {
  const source = `"use strict";
return function readField(o) {
  if (typeof o !== "object" || o === null) return undefined;
  var v = o[${key}];
  if (v === undefined) return undefined;
  var proto = getPrototypeOf(o);
  if (proto !== objectPrototype && proto !== null) return undefined;
  return ${key} in objectPrototype && !hasOwn(o, ${key}) ? undefined : v;
};`;
  const make = new Function('getPrototypeOf', 'objectPrototype', 'hasOwn', source) as (
    getPrototypeOf: (o: object) => unknown,
    objectPrototype: object,
    hasOwn: (o: object, key: string) => boolean,
  ) => FieldReader;
  return make(Object.getPrototypeOf, Object.prototype, Object.hasOwn);
}
