import type { FastifyInstance } from 'fastify';

/** Whether the server can serve decisions now, with details for operators. */
export type ReadinessCheck = () => Promise<{ ready: boolean; details: Record<string, unknown> }>;

/** Liveness and readiness: open to everybody, so load balancers and orchestrators need no key. */
export function healthRoutes(app: FastifyInstance, deps: { readiness: ReadinessCheck }): void {
  app.get('/health/live', { schema: { tags: ['health'], summary: 'The process is up' } }, async () => ({
    status: 'ok',
  }));
  app.get(
    '/health/ready',
    { schema: { tags: ['health'], summary: 'Ready to serve decisions' } },
    async (_req, reply) => {
      const { ready, details } = await deps.readiness();
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', ...details });
    },
  );
}
