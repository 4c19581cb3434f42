import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  aggregateWorkerMetrics,
  type Channel,
  expositionOf,
  MetricsUnavailableError,
  mergeWorkers,
  type Pool,
  type PoolWorker,
  WorkerMetricsLink,
} from './cluster-metrics.js';
import { Metrics } from './metrics.js';

/** A pool of workers in one process: each worker's channel and the primary's view, over emitters. */
/**
 * A primary and `count` workers over in-process channels. A worker's scrape waits `linkTimeoutMs`
 * for the primary: longer than the primary's collection timeout of each test, as in production
 * (3 s against 2 s), so a busy machine cannot make a healthy pool look unavailable.
 */
function fakePool(count: number, linkTimeoutMs = 5_000) {
  const primary = new EventEmitter();
  const links: WorkerMetricsLink[] = [];
  const metrics: Metrics[] = [];
  const workers: (PoolWorker & { connected: boolean })[] = [];
  for (let i = 0; i < count; i++) {
    const toWorker = new EventEmitter();
    const worker = {
      connected: true,
      send: (m: unknown) => {
        // IPC is asynchronous and copies (JSON).
        const copy = JSON.parse(JSON.stringify(m));
        if (worker.connected) setImmediate(() => toWorker.emit('message', copy));
        return true;
      },
      isConnected: () => worker.connected,
    };
    const channel: Channel = {
      send: (m) => setImmediate(() => primary.emit('message', worker, JSON.parse(JSON.stringify(m)))),
      on: (e, l) => toWorker.on(e, l),
      off: (e, l) => toWorker.off(e, l),
    };
    workers.push(worker);
    metrics.push(new Metrics());
    links.push(WorkerMetricsLink.start(metrics[i]!, channel, String(i), linkTimeoutMs));
  }
  const pool: Pool = {
    on: (e, l) => primary.on(e, l),
    off: (e, l) => primary.off(e, l),
    workers: () => workers,
  };
  return { pool, links, metrics, workers };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe('mergeWorkers', () => {
  it("labels every worker's samples and keeps each family once", async () => {
    const family = (value: number) => ({
      name: 'offerloop_decisions_total',
      help: 'h',
      type: 'counter',
      aggregator: 'sum',
      values: [{ labels: { channel: 'web' }, value }],
    });
    const merged = mergeWorkers([
      { worker: '0', metrics: [family(2)] },
      { worker: '1', metrics: [family(3)] },
    ]);
    expect(merged).toHaveLength(1);
    const text = await expositionOf(merged);
    expect(text).toContain('# TYPE offerloop_decisions_total counter');
    expect(text).toContain('offerloop_decisions_total{channel="web",worker="0"} 2');
    expect(text).toContain('offerloop_decisions_total{channel="web",worker="1"} 3');
  });
});

describe('a worker pool', () => {
  it("answers a scrape on any worker with every worker's metrics, histograms included", async () => {
    const { pool, links, metrics } = fakePool(3);
    // Every worker answers: the timeout is only a bound, generous so that a busy machine cannot
    // make a worker's answer look missing (it costs nothing when all answer).
    const stop = aggregateWorkerMetrics(pool, 4_000);
    await tick();
    metrics[0]!.httpResponse('POST', '/v1/decisions', 200, performance.now());
    metrics[2]!.httpResponse('POST', '/v1/decisions', 200, performance.now());
    metrics[2]!.httpResponse('POST', '/v1/decisions', 200, performance.now());
    metrics[0]!.watchLearning(() => ({ failures: 0, modelAgeSeconds: null }));
    const { body, contentType } = await links[1]!.scrape();
    expect(contentType).toMatch(/^text\/plain/);
    const count = (w: string) =>
      `offerloop_http_request_duration_seconds_count{method="POST",route="/v1/decisions",status_code="200",worker="${w}"}`;
    expect(body).toContain(`${count('0')} 1`);
    expect(body).toContain(`${count('2')} 2`);
    expect(body).toContain('le="+Inf",worker="2"} 2');
    // One HELP and TYPE per family, whatever the number of workers.
    expect(body.match(/# TYPE process_resident_memory_bytes /g)).toHaveLength(1);
    expect(body).toContain('process_resident_memory_bytes{worker="1"}');
    // NaN crossed IPC as JSON (null) and is NaN again, not +Inf.
    expect(body).toContain('offerloop_learning_model_age_seconds{worker="0"} Nan');
    stop();
    for (const l of links) l.close();
  });

  it('leaves out a worker that does not answer', async () => {
    const { pool, links, metrics } = fakePool(2);
    // The silent worker costs the whole timeout; the answering one must arrive within it, even on a
    // machine running two test files at once (1 s was missed there once).
    const stop = aggregateWorkerMetrics(pool, 3_000);
    await tick();
    metrics[0]!.decisions.decided({
      channel: 'web',
      engine: { offers: [], heldOut: [], explored: false },
    } as never);
    // Worker 1 is still connected, but no longer answers.
    links[1]!.close();
    const { body } = await links[0]!.scrape();
    expect(body).toContain('offerloop_decisions_total{channel="web",worker="0"} 1');
    expect(body).not.toContain('worker="1"');
    stop();
    links[0]!.close();
  });

  it('without a primary that aggregates, each worker answers for itself', async () => {
    const { links, metrics } = fakePool(2);
    await tick();
    metrics[1]!.decisions.decided({
      channel: 'web',
      engine: { offers: [], heldOut: [], explored: false },
    } as never);
    const { body } = await links[1]!.scrape();
    expect(body).toContain('offerloop_decisions_total{channel="web"} 1');
    for (const l of links) l.close();
  });

  it('fails the scrape (503) when the primary stops answering', async () => {
    const { pool, links } = fakePool(1, 500);
    const stop = aggregateWorkerMetrics(pool, 100);
    await tick();
    stop();
    await expect(links[0]!.scrape()).rejects.toThrow(MetricsUnavailableError);
    links[0]!.close();
  });
});
