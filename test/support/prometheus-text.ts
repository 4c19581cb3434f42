/** One sample of a Prometheus text exposition (version 0.0.4). */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  /** Metric family → its `# TYPE`. */
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/y;

/**
 * A strict reader of the text format, for tests: every line is a comment, blank, or a sample that
 * parses; anything else throws, naming the line. Values: numbers, NaN (any case), +Inf, -Inf.
 */
export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (type) types.set(type[1]!, type[2]!);
      else if (!/^# HELP \S+ /.test(line)) throw new Error(`line ${i + 1}: bad comment: ${line}`);
      return;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`line ${i + 1}: not a sample: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < body.length) {
      const start = LABEL.lastIndex;
      const l = LABEL.exec(body);
      if (!l || LABEL.lastIndex === start) throw new Error(`line ${i + 1}: bad labels: ${line}`);
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1]!, labels, value: numberOf(m[3]!, line) });
  });
  return { types, samples };
}

function numberOf(raw: string, line: string): number {
  // Prometheus parses values with Go's ParseFloat, which takes NaN in any case (prom-client writes Nan).
  if (raw.toLowerCase() === 'nan') return Number.NaN;
  if (raw === '+Inf') return Number.POSITIVE_INFINITY;
  if (raw === '-Inf') return Number.NEGATIVE_INFINITY;
  const n = Number(raw);
  if (raw === '' || Number.isNaN(n)) throw new Error(`bad value in: ${line}`);
  return n;
}

/** The samples of one name whose labels include `where`. */
export function samplesOf(
  e: Exposition,
  name: string,
  where: Readonly<Record<string, string>> = {},
): readonly Sample[] {
  return e.samples.filter(
    (s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v),
  );
}

/** The sum of those samples' values (0 if none). */
export function sumOf(e: Exposition, name: string, where: Readonly<Record<string, string>> = {}): number {
  return samplesOf(e, name, where).reduce((sum, s) => sum + s.value, 0);
}

/** The metric families a sample name belongs to: itself, or without a _bucket/_sum/_count suffix. */
export function familyOf(e: Exposition, sampleName: string): string | undefined {
  if (e.types.has(sampleName)) return sampleName;
  const base = sampleName.replace(/_(bucket|sum|count)$/, '');
  return e.types.has(base) ? base : undefined;
}
