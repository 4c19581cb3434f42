import type { FastifyInstance } from 'fastify';

/** Whether the server can serve decisions now, with details for operators. */
export type ReadinessCheck = () => Promise<{
  ready: boolean;
  /** Serving, but with less than the full data (e.g. Redis unreachable: memory tier and anonymous profiles). */
  degraded: boolean;
  details: Record<string, unknown>;
}>;

/** Liveness and readiness: open to everybody, so load balancers and orchestrators need no key. */
export function healthRoutes(app: FastifyInstance, deps: { readiness: ReadinessCheck }): void {
  app.get('/health/live', { schema: { tags: ['health'], summary: 'The process is up' } }, async () => ({
    status: 'ok',
  }));
  app.get(
    '/health/ready',
    { schema: { tags: ['health'], summary: 'Ready to serve decisions' } },
    async (_req, reply) => {
      const { ready, degraded, details } = await deps.readiness();
      // Degraded stays 200: taking every node out of the load balancer while Redis is away would
      // turn a degraded service into none.
      const status = !ready ? 'not_ready' : degraded ? 'degraded' : 'ready';
      return reply.code(ready ? 200 : 503).send({ status, ...details });
    },
  );
}
