import { type ParseArgsConfig, parseArgs } from 'node:util';

/**
 * The command-line flags of the offerloop commands, read with Node's parseArgs: `--name value`,
 * `--name=value`, boolean `--flag`, `--` ends the flags. Numbers are checked (integer, range) with
 * messages a user can act on. Errors are thrown as UsageError; a command prints the message and its
 * usage and exits with code 2.
 */

export type FlagType = 'string' | 'number' | 'integer' | 'boolean';

export interface FlagSpec {
  readonly type: FlagType;
  /** Shown by formatFlags(), e.g. 'number of offers'. */
  readonly description?: string;
  /** Placeholder for the value in formatFlags(), e.g. 'N'. */
  readonly placeholder?: string;
  readonly required?: boolean;
  readonly default?: string | number | boolean;
  /** Inclusive bounds for number and integer flags. */
  readonly min?: number;
  readonly max?: number;
  /** A one-letter alias, used as `-x`. */
  readonly short?: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

type ValueOf<F extends FlagSpec> = F['type'] extends 'boolean'
  ? boolean
  : F['type'] extends 'string'
    ? string
    : number;

/** The parsed values: booleans are always present; others when required, defaulted or given. */
export type FlagValues<S extends FlagSpecs> = {
  -readonly [K in keyof S]: S[K]['type'] extends 'boolean'
    ? boolean
    : S[K] extends { required: true }
      ? ValueOf<S[K]>
      : S[K] extends { default: string | number | boolean }
        ? ValueOf<S[K]>
        : ValueOf<S[K]> | undefined;
};

export interface ParsedArgs<S extends FlagSpecs> {
  flags: FlagValues<S>;
  positionals: string[];
}

/** A mistake in the command line; the message says which flag and why. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function parseValue(name: string, spec: FlagSpec, raw: string): string | number {
  if (spec.type === 'string') return raw;
  // Digit groups as in `1_000_000`; an underscore anywhere else makes the value invalid.
  const text = /^[+-]?\d+(_\d+)+$/.test(raw) ? raw.replaceAll('_', '') : raw;
  const value = NUMBER.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(value)) throw new UsageError(`--${name} must be a number, got '${raw}'`);
  if (spec.type === 'integer' && !Number.isSafeInteger(value)) {
    throw new UsageError(`--${name} must be a whole number, got '${raw}'`);
  }
  if (spec.min !== undefined && value < spec.min) {
    throw new UsageError(`--${name} must be at least ${spec.min}, got ${raw}`);
  }
  if (spec.max !== undefined && value > spec.max) {
    throw new UsageError(`--${name} must be at most ${spec.max}, got ${raw}`);
  }
  return value;
}

/** Node's parseArgs options for `specs`: numbers are read as strings and checked here. */
function nodeOptions(specs: FlagSpecs): ParseArgsConfig['options'] {
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = {
      type: spec.type === 'boolean' ? 'boolean' : 'string',
      ...(spec.short === undefined ? {} : { short: spec.short }),
    };
  }
  return options;
}

/**
 * Parses `argv` (without the node and command words) against `specs`; throws UsageError. Node's
 * parseArgs splits the words (non-strict, so that its tokens reach the checks below, which give
 * the messages: `--flag=false`, negative numbers as values and positionals, one flag given twice).
 */
export function parseFlags<const S extends FlagSpecs>(argv: readonly string[], specs: S): ParsedArgs<S> {
  const { tokens } = parseArgs({
    args: [...argv],
    options: nodeOptions(specs),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const values: Record<string, string | number | boolean | undefined> = {};
  const positionals: string[] = [];
  // A word Node split into several short options (`-12`, `-hv`) yields a token each; one is enough.
  let lastShortWord = -1;

  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value);
      continue;
    }
    if (token.kind === 'option-terminator') continue;
    const name = token.name;
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!token.rawName.startsWith('--')) {
      if (token.index === lastShortWord) continue;
      lastShortWord = token.index;
      const word = argv[token.index]!;
      // A negative number is a positional, not a bundle of short options.
      if (NUMBER.test(word)) {
        positionals.push(word);
        continue;
      }
      // Only `-x` alone: no bundles (`-hv`), no attached values (`-n5`).
      if (word.length !== 2 || spec?.short !== word.slice(1)) throw new UsageError(`unknown option ${word}`);
    }
    if (spec === undefined) throw new UsageError(`unknown option --${name}`);
    if (values[name] !== undefined) throw new UsageError(`--${name} is given more than once`);

    if (spec.type === 'boolean') {
      const inline = token.inlineValue ? token.value : undefined;
      if (inline === undefined || inline === 'true') values[name] = true;
      else if (inline === 'false') values[name] = false;
      else throw new UsageError(`--${name} is a switch and takes no value (got '${inline}')`);
      continue;
    }
    const raw = token.value;
    // Node takes the next word as the value whatever it is: a flag is not a value, a negative number is.
    if (raw === undefined || raw === '' || (!token.inlineValue && raw.startsWith('-') && !NUMBER.test(raw))) {
      throw new UsageError(`--${name} needs a value`);
    }
    values[name] = parseValue(name, spec, raw);
  }

  for (const [name, spec] of Object.entries(specs)) {
    if (values[name] !== undefined) continue;
    if (spec.type === 'boolean') values[name] = spec.default === true;
    else if (spec.required) throw new UsageError(`--${name} is required`);
    else if (spec.default !== undefined) values[name] = spec.default;
  }

  return { flags: values as FlagValues<S>, positionals };
}

/** True when argv asks for help (`--help` or `-h` before any `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/**
 * How every subcommand starts: `--help` prints its usage (exit code 0); otherwise `parse` reads the
 * arguments, and a UsageError it throws is printed with the usage (exit code 2). Returns what
 * `parse` returned, or that exit code.
 */
export function parseCommand<T extends object>(
  argv: readonly string[],
  command: { readonly name: string; readonly usage: string },
  io: CliIo,
  parse: () => T,
): T | number {
  if (wantsHelp(argv)) {
    io.stdout.write(command.usage);
    return 0;
  }
  try {
    return parse();
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`offerloop ${command.name}: ${err.message}\n\n${command.usage}`);
    return 2;
  }
}

/** Flags that take no positional arguments; `check` adds the command's own rules (throws UsageError). */
export function flagsOnly<const S extends FlagSpecs>(argv: readonly string[], specs: S): FlagValues<S> {
  const { flags, positionals } = parseFlags(argv, specs);
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  return flags;
}

/** The options section of a usage text, one flag per line, aligned. */
export function formatFlags(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const value = spec.type === 'boolean' ? '' : ` ${spec.placeholder ?? name.toUpperCase()}`;
    const left = `${spec.short === undefined ? '    ' : `-${spec.short}, `}--${name}${value}`;
    const notes: string[] = [];
    if (spec.description !== undefined) notes.push(spec.description);
    if (spec.required) notes.push('(required)');
    else if (spec.default !== undefined && spec.type !== 'boolean') notes.push(`(default ${spec.default})`);
    return [left, notes.join(' ')] as const;
  });
  const width = Math.max(0, ...rows.map(([left]) => left.length));
  return rows.map(([left, note]) => `  ${left.padEnd(width)}  ${note}`.trimEnd()).join('\n');
}

/** A flag's value among those allowed, typed as one of them; a UsageError naming the flag otherwise. */
export function oneOf<const T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}, got '${value}'`);
}

/** Where a command writes: process.stdout/stderr in production, buffers in tests. */
export interface CliOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface CliIo {
  readonly stdout: CliOutput;
  readonly stderr: CliOutput;
}

export const processIo: CliIo = { stdout: process.stdout, stderr: process.stderr };
