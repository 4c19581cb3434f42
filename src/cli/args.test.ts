import { describe, expect, it } from 'vitest';
import { type FlagSpecs, formatFlags, parseFlags, UsageError, wantsHelp } from './args.js';

const SPECS = {
  offers: { type: 'integer', required: true, min: 1, placeholder: 'N', description: 'offers' },
  ratio: { type: 'number', min: 0, max: 1 },
  seed: { type: 'string', default: '42' },
  out: { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  offset: { type: 'integer', default: 0 },
} as const satisfies FlagSpecs;

function usageError(argv: string[]): string {
  try {
    parseFlags(argv, SPECS);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as UsageError).message;
  }
  throw new Error(`no UsageError for ${JSON.stringify(argv)}`);
}

describe('parseFlags', () => {
  it('parses --name value, --name=value, switches and defaults', () => {
    const { flags, positionals } = parseFlags(['--offers', '20', '--ratio=0.5', '--out', 'dir', '-v'], SPECS);
    expect(flags).toEqual({ offers: 20, ratio: 0.5, seed: '42', out: 'dir', verbose: true, offset: 0 });
    expect(positionals).toEqual([]);
    const typed: number = flags.offers;
    const maybe: string | undefined = flags.out;
    const seed: string = flags.seed;
    expect([typed, maybe, seed]).toEqual([20, 'dir', '42']);
  });

  it('leaves optional flags without a default undefined and switches false', () => {
    const { flags } = parseFlags(['--offers=1'], SPECS);
    expect(flags.ratio).toBeUndefined();
    expect(flags.out).toBeUndefined();
    expect(flags.verbose).toBe(false);
    expect(parseFlags(['--offers=1', '--verbose=false'], SPECS).flags.verbose).toBe(false);
  });

  it('accepts negative numbers, exponents and digit separators as values', () => {
    expect(parseFlags(['--offers', '1', '--offset', '-5'], SPECS).flags.offset).toBe(-5);
    expect(parseFlags(['--offers', '1e3'], SPECS).flags.offers).toBe(1000);
    expect(parseFlags(['--offers', '1_000_000'], SPECS).flags.offers).toBe(1_000_000);
  });

  it('takes a negative number as a positional, and a value after = whatever it starts with', () => {
    expect(parseFlags(['--offers', '1', '-12', '-1.5e3'], SPECS).positionals).toEqual(['-12', '-1.5e3']);
    expect(parseFlags(['--offers', '1', '--out=-x'], SPECS).flags.out).toBe('-x');
    expect(parseFlags(['--offers', '1', '-'], SPECS).positionals).toEqual(['-']);
  });

  it('collects positionals, and everything after --', () => {
    const { positionals, flags } = parseFlags(['a', '--offers', '2', 'b', '--', '--out', 'x', '-5'], SPECS);
    expect(positionals).toEqual(['a', 'b', '--out', 'x', '-5']);
    expect(flags.out).toBeUndefined();
  });

  it('reports mistakes clearly', () => {
    expect(usageError([])).toBe('--offers is required');
    expect(usageError(['--offers'])).toBe('--offers needs a value');
    expect(usageError(['--offers', '--out', 'x'])).toBe('--offers needs a value');
    expect(usageError(['--offers='])).toBe('--offers needs a value');
    expect(usageError(['--offers', 'ten'])).toBe("--offers must be a number, got 'ten'");
    expect(usageError(['--offers', '12abc'])).toBe("--offers must be a number, got '12abc'");
    expect(usageError(['--offers', '2.5'])).toBe("--offers must be a whole number, got '2.5'");
    expect(usageError(['--offers', '0'])).toBe('--offers must be at least 1, got 0');
    expect(usageError(['--offers', '1', '--ratio', '1.5'])).toBe('--ratio must be at most 1, got 1.5');
    expect(usageError(['--offers', '_1'])).toBe("--offers must be a number, got '_1'");
    expect(usageError(['--offers', 'Infinity'])).toBe("--offers must be a number, got 'Infinity'");
    expect(usageError(['--offers', '1', '--nope'])).toBe('unknown option --nope');
    expect(usageError(['--offers', '1', '-x'])).toBe('unknown option -x');
    expect(usageError(['--offers', '1', '-offers'])).toBe('unknown option -offers');
    expect(usageError(['--offers', '1', '-vv'])).toBe('unknown option -vv');
    expect(usageError(['--offers', '1', '-v5'])).toBe('unknown option -v5');
    expect(usageError(['--offers', '1', '-v', '--verbose'])).toBe('--verbose is given more than once');
    expect(usageError(['--offers', '-', '--out', 'x'])).toBe('--offers needs a value');
    expect(usageError(['--offers', '1', '--offers', '2'])).toBe('--offers is given more than once');
    expect(usageError(['--offers', '1', '--verbose=yes'])).toBe(
      "--verbose is a switch and takes no value (got 'yes')",
    );
    expect(usageError(['--offers', '1', '--constructor', 'x'])).toBe('unknown option --constructor');
  });
});

describe('wantsHelp', () => {
  it('finds --help or -h before --', () => {
    expect(wantsHelp(['--offers', '1', '--help'])).toBe(true);
    expect(wantsHelp(['-h'])).toBe(true);
    expect(wantsHelp(['--', '--help'])).toBe(false);
    expect(wantsHelp(['--offers', '1'])).toBe(false);
  });
});

describe('formatFlags', () => {
  it('lists every flag with its placeholder, description and default or requirement', () => {
    const text = formatFlags(SPECS);
    const lines = text.split('\n');
    expect(lines).toHaveLength(Object.keys(SPECS).length);
    expect(lines[0]).toMatch(/^ {2}\s*--offers N\s+offers \(required\)$/);
    expect(text).toContain('--seed SEED');
    expect(text).toContain('(default 42)');
    expect(text).toContain('-v, --verbose');
  });
});
