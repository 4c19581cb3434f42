import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { ApiKeyAuth } from './http/auth.js';
import { installErrorHandling } from './http/error-handler.js';
import { installLoadShedding, limitConnections, OverloadGuard } from './http/overload.js';
import { adviserRoutes } from './http/routes/advisers.js';
import { bannerRoutes } from './http/routes/banners.js';
import { challengerRoutes } from './http/routes/challenger.js';
import { customerRoutes } from './http/routes/customers.js';
import { decisionRoutes } from './http/routes/decisions.js';
import { eventRoutes } from './http/routes/events.js';
import { feedbackRoutes } from './http/routes/feedback.js';
import { healthRoutes } from './http/routes/health.js';
import { identityRoutes } from './http/routes/identities.js';
import { interactionRoutes } from './http/routes/interactions.js';
import { learningRoutes } from './http/routes/learning.js';
import { metricsRoutes } from './http/routes/metrics.js';
import { reportRoutes } from './http/routes/reports.js';
import { rulesetRoutes } from './http/routes/ruleset.js';
import { selectionRoutes } from './http/routes/selections.js';
import { webRoutes } from './http/routes/web.js';
import { whatIfRoutes } from './http/routes/what-if.js';
import { validatorCompiler } from './http/validation.js';
import { installHttpMetrics } from './metrics/http-metrics.js';
import type { Services } from './services.js';
import { WsGateway } from './ws/ws-gateway.js';

/** Builds the HTTP app from a config and the services; does not listen (tests use inject). */
export async function buildServer(
  config: Pick<Config, 'http' | 'auth' | 'feedback' | 'ws' | 'learning' | 'data'>,
  services: Services,
  log: Logger,
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // Request lines carry customer ids; we log outcomes that matter, not every request.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request (it costs more than the rest of a decision's bookkeeping);
    // the few request logs we write carry the request id themselves.
    childLoggerFactory: (logger) => logger,
    bodyLimit: config.http.bodyLimit,
    // Header and URL limits: a request line longer than this is not one of ours.
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    trustProxy: trustProxyOf(config.http.trustProxy),
    // A client has this long to send a whole request (slow senders hold a connection for nothing);
    // Node checks every CONNECTIONS_CHECK_MS, not at its default of 30 s.
    requestTimeout: config.http.requestTimeoutMs,
    http: {
      requestTimeout: config.http.requestTimeoutMs,
      headersTimeout: config.http.requestTimeoutMs,
      connectionsCheckingInterval: CONNECTIONS_CHECK_MS,
    },
    keepAliveTimeout: config.http.keepAliveTimeoutMs,
    // A socket silent this long with a request in progress is dead (decisions answer within
    // OFFERLOOP_DECISION_TIMEOUT_MS). WebSockets are not affected: ws clears the timeout on upgrade.
    connectionTimeout: CONNECTION_TIMEOUT_MS,
  });
  // First: its onRequest hook times everything after it.
  installHttpMetrics(app, services.metrics);
  // In front of Fastify: a shed request must cost as little as possible (src/http/overload.ts).
  const overload = new OverloadGuard(config.http.maxEventLoopDelayMs);
  installLoadShedding(app, overload);
  const connections = limitConnections(app, config.http.maxConnections);
  services.metrics.watchOverload(() => ({ ...overload.status(), connectionsDropped: connections.dropped }));
  app.decorateRequest('apiKey', null);
  // Node's server.close() closes idle keep-alive connections once, when closing starts; one busy at
  // that moment goes idle after its response and would hold the close for the keep-alive timeout.
  // Sweep again until the server has closed. Guarded by feedback-durability.int.test.ts (SIGTERM).
  app.addHook('preClose', (done) => {
    const sweep = setInterval(() => app.server.closeIdleConnections(), 50).unref();
    app.server.once('close', () => clearInterval(sweep));
    done();
  });
  // The API speaks JSON only; a text body is a client mistake (415), not a string to validate.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(validatorCompiler());
  installErrorHandling(app);

  // The services' limiter: on Redis, a key's limit holds across servers.
  const auth = new ApiKeyAuth(config.auth.keys, services.rateLimiter);
  // First: @fastify/websocket must see every route that is added after it.
  const gateway = await WsGateway.register(app, {
    auth,
    decisions: services.decisions,
    feedback: services.feedback,
    identities: services.identities,
    triggers: services.triggers,
    hub: services.hub,
    config: config.ws,
    log,
  });
  services.metrics.watchWebSockets(() => gateway.sessionCount);
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Offerloop',
        description: 'Real-time next-best-offer engine. Send `Authorization: Bearer <key>`.',
        version: '0.1.0',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiHooks: config.http.publicDocs ? {} : { onRequest: auth.require(null) },
  });

  healthRoutes(app, {
    readiness: async () => {
      const readiness = await services.readiness();
      return {
        ...readiness,
        details: {
          ...readiness.details,
          websocketSessions: gateway.sessionCount,
          // Which process answered: with OFFERLOOP_WORKERS > 1, each worker answers for itself.
          pid: process.pid,
          overload: { ...overload.status(), connectionsDropped: connections.dropped },
        },
      };
    },
  });
  decisionRoutes(app, { auth, decisions: services.decisions });
  feedbackRoutes(app, { auth, feedback: services.feedback, maxBatch: config.feedback.maxBatch });
  customerRoutes(app, {
    auth,
    dossiers: services.dossiers,
    profileUpdates: services.profileUpdates,
    journeys: services.journeys,
    erasure: services.erasure,
  });
  identityRoutes(app, { auth, identities: services.identities });
  rulesetRoutes(app, { auth, rules: services.rules, candidates: services.candidates });
  challengerRoutes(app, { auth, challenger: services.challenger });
  interactionRoutes(app, { auth, calls: services.calls });
  eventRoutes(app, { auth, triggers: services.triggers, outbox: services.webhookOutbox });
  adviserRoutes(app, { auth, advisers: services.advisers });
  reportRoutes(app, { auth, reports: services.reports });
  whatIfRoutes(app, { auth, whatIf: services.whatIf });
  selectionRoutes(app, { auth, selections: services.selections });
  learningRoutes(app, { auth, learning: services.learning, config: config.learning });
  metricsRoutes(app, { auth, metrics: services.metrics });
  bannerRoutes(app, {
    auth,
    banners: services.banners,
    feedback: services.feedback,
    keys: config.auth.keys,
  });
  webRoutes(app, { demoAssets: config.data.demo });
  return app;
}

/** How often Node looks for requests past OFFERLOOP_REQUEST_TIMEOUT_MS. */
const CONNECTIONS_CHECK_MS = 1000;
const CONNECTION_TIMEOUT_MS = 60_000;

/** Fastify takes a number of trusted hops at run time, but its types want this function for it. */
function trustProxyOf(setting: boolean | number): boolean | ((address: string, hop: number) => boolean) {
  return typeof setting === 'number' ? (_address, hop) => hop < setting : setting;
}
