import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { collectDefaultMetrics, type Metric, Registry } from 'prom-client';

/** How often the event-loop monitor samples; the smallest delay it can see. */
const RESOLUTION_MS = 10;
const QUANTILES = [0.5, 0.9, 0.99, 1] as const;

/**
 * `offerloop_event_loop_delay_seconds`: how late the event loop ran a timer, as a Prometheus
 * summary. The quantiles (1: the maximum) cover the time since the previous scrape; `_sum` and
 * `_count` are cumulative, so `rate(_sum) / rate(_count)` is the mean over any range. Node's
 * monitor reports the interval between its samples, resolution included; the resolution is taken
 * off, so an idle loop reads ~0, not 10 ms (prom-client's `nodejs_eventloop_lag_*` include it).
 */
export class EventLoopDelaySummary {
  readonly name = 'offerloop_event_loop_delay_seconds';
  readonly help = 'How late the event loop ran a timer (quantiles since the previous scrape; 1 = max).';
  readonly type = 'summary';
  private readonly monitor: IntervalHistogram;
  private sum = 0;
  private count = 0;

  constructor() {
    this.monitor = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.monitor.enable();
  }

  async get() {
    const m = this.monitor;
    const n = m.count;
    const delay = (ns: number) => Math.max(0, ns / 1e9 - RESOLUTION_MS / 1000);
    const values: { metricName?: string; labels: Record<string, number>; value: number }[] = QUANTILES.map(
      (q) => ({
        labels: { quantile: q },
        value: n === 0 ? Number.NaN : delay(q === 1 ? m.max : m.percentile(q * 100)),
      }),
    );
    if (n > 0) {
      this.sum += n * delay(m.mean);
      this.count += n;
    }
    m.reset();
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.count });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' as const };
  }

  reset(): void {
    this.monitor.reset();
  }
}

let shared: Registry | undefined;

/**
 * The process's own metrics: prom-client's defaults (CPU, memory, heap, GC, handles, its event-loop
 * lag) and the event-loop delay summary. One set per process, however many servers it builds
 * (tests build dozens): each would otherwise add its own GC observer and event-loop timer for good.
 */
export function processMetrics(): readonly Metric[] {
  if (shared === undefined) {
    shared = new Registry();
    collectDefaultMetrics({ register: shared });
    // prom-client types registerMetric for its own classes; at run time it needs name, help and get().
    shared.registerMetric(new EventLoopDelaySummary() as unknown as Metric);
  }
  return shared.getMetricsAsArray() as unknown as readonly Metric[];
}
