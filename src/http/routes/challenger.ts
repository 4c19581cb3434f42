import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ForbiddenError } from '../../errors.js';
import type { ChallengerService } from '../../service/challenger-service.js';
import type { ApiKeyAuth } from '../auth.js';
import { errorResponseSchema } from '../error-handler.js';

/** As a candidate's name in routes/ruleset.ts. */
const CANDIDATE_NAME = '^[a-z0-9][a-z0-9_.-]{0,63}$';
const date = (what: string) =>
  ({ type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: what, example: '2025-06-01' }) as const;

/** The test is shown to analysts (report) as well as to admins, who change it. */
function requireReportOrAdmin(request: FastifyRequest): void {
  const scopes = request.apiKey?.scopes;
  if (scopes === undefined || !(scopes.has('report') || scopes.has('admin')))
    throw new ForbiddenError('report');
}

/**
 * Champion/challenger (service/challenger-service.ts): start a test of a candidate ruleset on a
 * share of customers, see it, stop it, promote it; and the report comparing the arms.
 */
export function challengerRoutes(
  app: FastifyInstance,
  deps: { auth: ApiKeyAuth; challenger: ChallengerService },
): void {
  app.put<{ Body: { candidate: string; share: number } }>(
    '/v1/ruleset/challenger',
    {
      onRequest: deps.auth.require('admin'),
      schema: {
        tags: ['ruleset'],
        summary:
          'Start a champion/challenger test: the candidate decides for a stable share of customers on every server (replaces a test running)',
        security: [{ apiKey: [] }],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['candidate', 'share'],
          properties: {
            candidate: {
              type: 'string',
              pattern: CANDIDATE_NAME,
              description: 'A candidate ruleset uploaded before.',
            },
            share: { type: 'number', minimum: 0, maximum: 1, description: 'The share of customers, 0 to 1.' },
          },
        },
        response: { '4xx': errorResponseSchema },
      },
    },
    async (request) =>
      deps.challenger.start(request.body.candidate, request.body.share, request.apiKey?.name ?? 'unknown'),
  );

  app.get(
    '/v1/ruleset/challenger',
    {
      onRequest: deps.auth.require(null),
      schema: {
        tags: ['ruleset'],
        summary: 'The champion/challenger test running, or `{"challenger": null}` (scope report or admin)',
        security: [{ apiKey: [] }],
        response: { '4xx': errorResponseSchema },
      },
    },
    async (request) => {
      requireReportOrAdmin(request);
      return { challenger: await deps.challenger.current() };
    },
  );

  app.delete(
    '/v1/ruleset/challenger',
    {
      onRequest: deps.auth.require('admin'),
      schema: {
        tags: ['ruleset'],
        summary: 'End the champion/challenger test: every customer is decided on the ruleset in force',
        security: [{ apiKey: [] }],
        response: { '4xx': errorResponseSchema },
      },
    },
    async (_request, reply) => {
      await deps.challenger.stop();
      return reply.code(204).send();
    },
  );

  app.post(
    '/v1/ruleset/challenger/promote',
    {
      onRequest: deps.auth.require('admin'),
      schema: {
        tags: ['ruleset'],
        summary:
          "Serve the challenger's files as the ruleset on every server (history cause `promote`, until the next reload) and end the test",
        security: [{ apiKey: [] }],
        response: { '4xx': errorResponseSchema },
      },
    },
    async (request) => deps.challenger.promote(request.apiKey?.name ?? 'unknown'),
  );

  app.get<{ Querystring: { from?: string; to?: string } }>(
    '/v1/reports/challenger',
    {
      onRequest: deps.auth.require('report'),
      schema: {
        tags: ['reports'],
        summary:
          'Champion against challenger per customer: customers reached, conversion rate and revenue per customer, accept rate, and the difference with a 95% interval, in total and per campaign',
        security: [{ apiKey: [] }],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: date('First day (UTC), inclusive. Default: 29 days before `to`.'),
            to: date('Last day (UTC), inclusive. Default: today.'),
          },
        },
        response: { '4xx': errorResponseSchema },
      },
    },
    async (request) => deps.challenger.report(request.query),
  );
}
