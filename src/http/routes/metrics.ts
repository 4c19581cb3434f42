import type { FastifyInstance } from 'fastify';
import { WorkerMetricsLink } from '../../metrics/cluster-metrics.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { ApiKeyAuth } from '../auth.js';

/**
 * Prometheus exposition (docs/metrics.md), for keys with the `metrics` scope. In a worker of an
 * OFFERLOOP_WORKERS pool, every worker's metrics (labelled `worker`) gathered through the primary.
 */
export function metricsRoutes(app: FastifyInstance, deps: { auth: ApiKeyAuth; metrics: Metrics }): void {
  const link = WorkerMetricsLink.forThisProcess(deps.metrics);
  if (link !== null) {
    app.addHook('onClose', (_instance, done) => {
      link.close();
      done();
    });
  }
  app.get(
    '/metrics',
    {
      onRequest: deps.auth.require('metrics'),
      schema: {
        summary: 'Metrics in the Prometheus text format',
        description:
          'For Prometheus: a key with the `metrics` scope as its bearer token. See docs/metrics.md.',
        tags: ['health'],
        security: [{ apiKey: [] }],
      },
    },
    async (_request, reply) => {
      const { contentType, body } = await (link ?? deps.metrics).scrape();
      return reply.type(contentType).header('cache-control', 'no-store').send(body);
    },
  );
}
