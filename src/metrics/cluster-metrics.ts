import cluster from 'node:cluster';
import { type Metric, Registry } from 'prom-client';
import { OfferloopError } from '../errors.js';
import type { Metrics } from './metrics.js';

// With OFFERLOOP_WORKERS > 1 the workers share the port, so a scrape lands on any one of them: its
// counters alone would jump between workers' values from scrape to scrape. Instead the worker that
// is asked gets every worker's metrics through the primary, each sample labelled `worker`, and
// answers with all of them. Messages (IPC, JSON):
//
//   worker → primary   hello                   at start: is anyone aggregating?
//   primary → worker   aggregating             yes (no answer: the primary does not; each worker
//                                              answers for itself, as a lone server does)
//   worker → primary   scrape {id}             Prometheus asked this worker
//   primary → workers  collect {id}            every live worker, the asking one included
//   workers → primary  collected {id, worker, metrics}
//   primary → worker   exposition {id, body}   the merged text

const PREFIX = 'offerloop:metrics:';
const HELLO = `${PREFIX}hello`;
const AGGREGATING = `${PREFIX}aggregating`;
const SCRAPE = `${PREFIX}scrape`;
const COLLECT = `${PREFIX}collect`;
const COLLECTED = `${PREFIX}collected`;
const EXPOSITION = `${PREFIX}exposition`;

/** How long the primary waits for the workers' metrics; a worker that did not answer is left out. */
const COLLECT_TIMEOUT_MS = 2_000;
/** How long a worker waits for the merged exposition (more than the primary waits for the others). */
const SCRAPE_TIMEOUT_MS = 3_000;

/** A metric as prom-client's getMetricsAsJSON() gives it (and its registry formats it). */
export interface MetricJson {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator?: string;
  readonly values: readonly {
    readonly value: number;
    readonly labels: Readonly<Record<string, string | number>>;
    readonly metricName?: string;
  }[];
}

interface Message {
  readonly type: string;
  readonly id?: number;
  readonly worker?: string;
  readonly metrics?: MetricJson[];
  readonly body?: string;
}

const isMessage = (m: unknown): m is Message =>
  typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';

/** Every worker's metrics with a `worker` label on each sample, merged family by family. */
export function mergeWorkers(
  perWorker: readonly { worker: string; metrics: readonly MetricJson[] }[],
): MetricJson[] {
  const merged = new Map<string, { json: MetricJson; values: MetricJson['values'][number][] }>();
  for (const { worker, metrics } of perWorker) {
    for (const m of metrics) {
      let family = merged.get(m.name);
      if (family === undefined) {
        family = { json: m, values: [] };
        merged.set(m.name, family);
      }
      for (const v of m.values) {
        // IPC carries JSON, where NaN (a gauge that does not know, e.g. the stream lag) became null.
        const value = typeof v.value === 'number' ? v.value : Number.NaN;
        family.values.push({ ...v, value, labels: { ...v.labels, worker } });
      }
    }
  }
  return [...merged.values()].map(({ json, values }) => ({ ...json, values }));
}

/** The text exposition of merged metrics, formatted by prom-client's own registry. */
export async function expositionOf(metrics: readonly MetricJson[]): Promise<string> {
  const registry = new Registry();
  for (const m of metrics) {
    // The registry formats whatever get() returns; these are plain objects, not prom-client classes.
    registry.registerMetric({ name: m.name, get: async () => m, reset() {} } as unknown as Metric);
  }
  return registry.metrics();
}

/** What the primary needs of node:cluster (a test passes a fake). */
export interface Pool {
  on(event: 'message', listener: (worker: PoolWorker, message: unknown) => void): unknown;
  off(event: 'message', listener: (worker: PoolWorker, message: unknown) => void): unknown;
  workers(): PoolWorker[];
}
export interface PoolWorker {
  send(message: unknown): boolean;
  isConnected(): boolean;
}

const nodePool: Pool = {
  on: (event, listener) => cluster.on(event, listener),
  off: (event, listener) => cluster.off(event, listener),
  workers: () => Object.values(cluster.workers ?? {}).filter((w) => w !== undefined),
};

/**
 * In the primary of a worker pool: answers the workers' scrapes with every worker's metrics.
 * Call before forking. Answers a function that stops it.
 */
export function aggregateWorkerMetrics(pool: Pool = nodePool, timeoutMs = COLLECT_TIMEOUT_MS): () => void {
  let nextId = 0;
  const waiting = new Map<number, (m: Message) => void>();
  const collect = async (): Promise<string> => {
    const id = ++nextId;
    const workers = pool.workers().filter((w) => w.isConnected());
    const answers: { worker: string; metrics: MetricJson[] }[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        waiting.delete(id);
        resolve();
      }
      waiting.set(id, (m) => {
        answers.push({ worker: m.worker ?? '?', metrics: m.metrics ?? [] });
        if (answers.length === workers.length) done();
      });
      for (const w of workers) w.send({ type: COLLECT, id });
      if (workers.length === 0) done();
    });
    answers.sort((a, b) => a.worker.localeCompare(b.worker, 'en', { numeric: true }));
    return expositionOf(mergeWorkers(answers));
  };
  const listener = (from: PoolWorker, message: unknown): void => {
    if (!isMessage(message) || !message.type.startsWith(PREFIX)) return;
    if (message.type === HELLO) from.send({ type: AGGREGATING });
    else if (message.type === COLLECTED && message.id !== undefined) waiting.get(message.id)?.(message);
    else if (message.type === SCRAPE) {
      void collect().then(
        (body) => from.isConnected() && from.send({ type: EXPOSITION, id: message.id, body }),
        () => from.isConnected() && from.send({ type: EXPOSITION, id: message.id }),
      );
    }
  };
  pool.on('message', listener);
  return () => pool.off('message', listener);
}

/** A worker's IPC channel to the primary (a test passes a fake). */
export interface Channel {
  send(message: unknown): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

/** The metrics of the other workers did not arrive: Prometheus records a failed scrape. */
export class MetricsUnavailableError extends OfferloopError {
  constructor() {
    super('metrics_unavailable', 503, "the other workers' metrics did not arrive in time");
  }
}

/**
 * A worker's side: answers the primary's collect requests, and scrapes through the primary once
 * it said it aggregates (before that, and without a primary that does, the worker's own metrics).
 */
export class WorkerMetricsLink {
  private aggregated = false;
  private nextId = 0;
  private readonly waiting = new Map<number, (body: string | undefined) => void>();
  private readonly listener = (message: unknown): void => {
    if (!isMessage(message) || !message.type.startsWith(PREFIX)) return;
    if (message.type === AGGREGATING) this.aggregated = true;
    else if (message.type === COLLECT) {
      void this.metrics.registry.getMetricsAsJSON().then((metrics) => {
        this.channel.send({ type: COLLECTED, id: message.id, worker: this.worker, metrics });
      });
    } else if (message.type === EXPOSITION && message.id !== undefined) {
      this.waiting.get(message.id)?.(message.body);
    }
  };

  private constructor(
    private readonly metrics: Metrics,
    private readonly channel: Channel,
    private readonly worker: string,
    private readonly timeoutMs: number,
  ) {}

  /** In a worker of a pool: a link; anywhere else: null (a lone server answers for itself). */
  static forThisProcess(metrics: Metrics): WorkerMetricsLink | null {
    if (!cluster.isWorker || process.send === undefined) return null;
    const worker = process.env.OFFERLOOP_WORKER_INDEX ?? String(cluster.worker?.id ?? process.pid);
    return WorkerMetricsLink.start(metrics, process as unknown as Channel, worker);
  }

  static start(metrics: Metrics, channel: Channel, worker: string, timeoutMs = SCRAPE_TIMEOUT_MS) {
    const link = new WorkerMetricsLink(metrics, channel, worker, timeoutMs);
    channel.on('message', link.listener);
    channel.send({ type: HELLO });
    return link;
  }

  /** The exposition to answer Prometheus with. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    if (!this.aggregated) return this.metrics.scrape();
    const id = ++this.nextId;
    const body = await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => finish(undefined), this.timeoutMs);
      const finish = (b: string | undefined) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(b);
      };
      this.waiting.set(id, finish);
      this.channel.send({ type: SCRAPE, id });
    });
    if (body === undefined) throw new MetricsUnavailableError();
    return { contentType: this.metrics.registry.contentType, body };
  }

  close(): void {
    this.channel.off('message', this.listener);
    for (const finish of this.waiting.values()) finish(undefined);
  }
}
