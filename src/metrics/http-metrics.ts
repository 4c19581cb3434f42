import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { Metrics } from './metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** performance.now() when the request arrived, for the latency histogram. */
    metricsStartedAt: number;
  }
}

/**
 * Times every request, labelled with its route pattern (`/v1/customers/:customerId`, never the URL:
 * customer ids are no label values). Must be installed before any other hook or route, so that the
 * time includes authentication, load shedding and every other onRequest hook.
 */
export function installHttpMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.decorateRequest('metricsStartedAt', 0);
  // Callback hooks: an async hook costs a promise per request.
  app.addHook('onRequest', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    request.metricsStartedAt = performance.now();
    done();
  });
  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const startedAt = request.metricsStartedAt;
    // 0: the request never went through onRequest; there is nothing to time it from.
    if (startedAt !== 0)
      metrics.httpResponse(request.method, request.routeOptions.url, reply.statusCode, startedAt);
    done();
  });
}
