import type { Metric, Registry } from 'prom-client';

/**
 * Counters and histograms for the request path, exposed through a prom-client Registry.
 *
 * prom-client's own Counter and Histogram hash the label set into a string and validate it on every
 * inc/observe, even through a `labels()` child: 61 ns per counter inc and 411 ns per histogram
 * observation (npm run bench:engine, 2026-11-23), several of each per decision. Here a caller resolves a
 * series once (by label values) and keeps it; an observation is then a few array writes (2.6 and
 * 7 ns). The
 * registry only ever calls `get()` at scrape time, with the result shape of prom-client's own
 * metrics, so the exposition (and prom-client's cluster aggregation) treats these like its own.
 */

/** A sample as prom-client's registry formats it. */
interface Sample {
  readonly metricName?: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

interface MetricSnapshot {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly values: Sample[];
  readonly aggregator: 'sum';
}

/** One labelled counter: callers keep it and call inc() on the hot path. */
export class CounterSeries {
  value = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}

  inc(by = 1): void {
    this.value += by;
  }
}

/** One labelled histogram: bucket counts (not cumulative; the last one is +Inf), sum and count. */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: Float64Array,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

interface FamilyOptions<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
}

/** What the two families share: series by label values, created on first use and kept. */
abstract class Family<L extends string, S extends { readonly labels: Readonly<Record<string, string>> }> {
  readonly name: string;
  readonly help: string;
  private readonly labelNames: readonly L[];
  protected readonly all = new Map<string, S>();

  constructor(options: FamilyOptions<L>) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
  }

  /** The series of these label values (in labelNames order). Callers resolve it once and keep it. */
  series(...values: string[]): S {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name} takes labels ${this.labelNames.join(', ')}`);
    }
    // '\u0000' never occurs in a label value we use (routes, channels, campaign ids, codes).
    const key = values.join('\u0000');
    let series = this.all.get(key);
    if (series === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => {
        labels[name] = values[i]!;
      });
      series = this.create(labels);
      this.all.set(key, series);
    }
    return series;
  }

  /** Registers with a prom-client registry, which only calls get() (and reset()). */
  registerIn(registry: Registry): this {
    // prom-client types registerMetric for its own classes; at run time it needs name, help and get().
    registry.registerMetric(this as unknown as Metric);
    return this;
  }

  protected abstract create(labels: Readonly<Record<string, string>>): S;
}

export class CounterFamily<L extends string> extends Family<L, CounterSeries> {
  readonly type = 'counter';

  protected create(labels: Readonly<Record<string, string>>): CounterSeries {
    return new CounterSeries(labels);
  }

  async get(): Promise<MetricSnapshot> {
    const values: Sample[] = [];
    for (const s of this.all.values()) values.push({ labels: s.labels, value: s.value });
    return { name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' };
  }

  reset(): void {
    for (const s of this.all.values()) s.value = 0;
  }
}

export class HistogramFamily<L extends string> extends Family<L, HistogramSeries> {
  readonly type = 'histogram';
  private readonly bounds: Float64Array;

  constructor(options: FamilyOptions<L> & { readonly buckets: readonly number[] }) {
    super(options);
    const sorted = [...options.buckets].sort((a, b) => a - b);
    if (sorted.length === 0 || sorted.some((b, i) => !Number.isFinite(b) || b === sorted[i - 1])) {
      throw new Error(`${options.name}: buckets must be distinct finite numbers`);
    }
    this.bounds = Float64Array.from(sorted);
  }

  protected create(labels: Readonly<Record<string, string>>): HistogramSeries {
    return new HistogramSeries(labels, this.bounds);
  }

  async get(): Promise<MetricSnapshot> {
    const values: Sample[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.all.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ metricName: bucket, labels: { ...s.labels, le }, value: cumulative });
      });
      values.push({ metricName: bucket, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }

  reset(): void {
    for (const s of this.all.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
