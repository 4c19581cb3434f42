import type { Value } from './ast.js';
import type { ExprFunction } from './types.js';
import { finite, isIn } from './values.js';

// Built-in functions: pure, total, and null on arguments of the wrong type. Parameters are
// positional (no rest array) so that a call allocates nothing; see compile.ts `compileCall`.

const num = (v: Value | undefined): v is number => typeof v === 'number';

function unaryNumber(f: (x: number) => number): ExprFunction<unknown> {
  return { minArgs: 1, maxArgs: 1, pure: true, call: (_s, x) => (num(x) ? finite(f(x)) : null) };
}

/** min/max: 1 to 8 numbers. The 1-3 argument cases allocate nothing. */
function extremum(pick: (x: number, best: number) => boolean): ExprFunction<unknown> {
  // Missing trailing arguments arrive as undefined; no Value is undefined, so that marks the end.
  const call = (
    _s: unknown,
    a: Value,
    b?: Value,
    c?: Value,
    d?: Value,
    e?: Value,
    f?: Value,
    g?: Value,
    h?: Value,
  ): Value => {
    if (!num(a)) return null;
    if (b === undefined) return a;
    if (!num(b)) return null;
    let best = pick(b, a) ? b : a;
    if (c === undefined) return best;
    if (!num(c)) return null;
    if (pick(c, best)) best = c;
    if (d === undefined) return best;
    if (!num(d)) return null;
    if (pick(d, best)) best = d;
    if (e === undefined) return best;
    if (!num(e)) return null;
    if (pick(e, best)) best = e;
    if (f === undefined) return best;
    if (!num(f)) return null;
    if (pick(f, best)) best = f;
    if (g === undefined) return best;
    if (!num(g)) return null;
    if (pick(g, best)) best = g;
    if (h === undefined) return best;
    if (!num(h)) return null;
    return pick(h, best) ? h : best;
  };
  return { minArgs: 1, maxArgs: 8, pure: true, call };
}

export const BUILTINS: Readonly<Record<string, ExprFunction<unknown>>> = {
  min: extremum((x, best) => x < best),
  max: extremum((x, best) => x > best),
  abs: unaryNumber(Math.abs),
  round: unaryNumber(Math.round),
  floor: unaryNumber(Math.floor),
  ceil: unaryNumber(Math.ceil),
  lower: {
    minArgs: 1,
    maxArgs: 1,
    pure: true,
    call: (_s, x) => (typeof x === 'string' ? x.toLowerCase() : null),
  },
  upper: {
    minArgs: 1,
    maxArgs: 1,
    pure: true,
    call: (_s, x) => (typeof x === 'string' ? x.toUpperCase() : null),
  },
  len: {
    minArgs: 1,
    maxArgs: 1,
    pure: true,
    call: (_s, x) => (typeof x === 'string' || (x !== null && typeof x === 'object') ? x.length : null),
  },
  contains: { minArgs: 2, maxArgs: 2, pure: true, call: (_s, container, x) => isIn(x, container) },
  startsWith: {
    minArgs: 2,
    maxArgs: 2,
    pure: true,
    call: (_s, s, prefix) =>
      typeof s === 'string' && typeof prefix === 'string' ? s.startsWith(prefix) : null,
  },
  coalesce: {
    minArgs: 2,
    maxArgs: 8,
    pure: true,
    // Missing trailing arguments are undefined, which ?? skips like null.
    call: (_s, a, b, c, d, e, f, g, h) => a ?? b ?? c ?? d ?? e ?? f ?? g ?? h ?? null,
  },
};
