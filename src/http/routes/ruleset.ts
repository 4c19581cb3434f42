import type { FastifyInstance } from 'fastify';
import { RulesetError } from '../../errors.js';
import type { RulesetHolder } from '../../ruleset/ruleset-holder.js';
import type { CandidateService } from '../../service/candidate-service.js';
import type { ApiKeyAuth } from '../auth.js';
import { errorResponseSchema } from '../error-handler.js';

/** A candidate's name, as a URL segment and in a decision's `candidate`. */
const CANDIDATE_NAME = '^[a-z0-9][a-z0-9_.-]{0,63}$';
/** Rules files of a directory: `*.yaml`, `*.yml`, and the mined `associations.ndjson`. */
const RULES_FILE = '^([A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}\\.ya?ml|associations\\.ndjson)$';
/** A whole rules directory in one body: the example rules are ~64 KB, mined associations more. */
const CANDIDATE_BODY_LIMIT = 8 * 1024 * 1024;

const candidateParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: CANDIDATE_NAME } },
} as const;

export function rulesetRoutes(
  app: FastifyInstance,
  deps: { auth: ApiKeyAuth; rules: RulesetHolder; candidates: CandidateService },
): void {
  app.get(
    '/v1/ruleset',
    {
      onRequest: deps.auth.require('admin'),
      schema: { tags: ['ruleset'], summary: 'The ruleset in force', security: [{ apiKey: [] }] },
    },
    async () => {
      const s = deps.rules.current;
      return {
        version: s.version,
        loadedAt: new Date(s.loadedAt).toISOString(),
        files: s.files,
        segments: s.segments.map((x) => x.id),
        campaigns: s.campaigns.map((c) => ({ id: c.id, name: c.name, objective: c.objective })),
        offers: s.offers.length,
      };
    },
  );

  app.post(
    '/v1/ruleset/reload',
    {
      onRequest: deps.auth.require('admin'),
      schema: {
        tags: ['ruleset'],
        summary: 'Reload the rules directory; a bad ruleset is rejected and the last good one keeps serving',
        security: [{ apiKey: [] }],
        response: { '4xx': errorResponseSchema },
      },
    },
    async (request) => {
      const result = await deps.rules.reload('reload', request.apiKey?.name ?? null);
      if (!result.ok) throw new RulesetError(result.problems);
      return result;
    },
  );

  app.get(
    '/v1/ruleset/history',
    {
      onRequest: deps.auth.require('admin'),
      schema: {
        tags: ['ruleset'],
        summary:
          'Every attempt to change the ruleset on this server, newest first: what loaded or was rejected, why, by whom, which files changed',
        security: [{ apiKey: [] }],
      },
    },
    async () => ({
      current: deps.rules.current.version,
      changes: deps.rules.history().map((c) => ({ ...c, at: new Date(c.at).toISOString() })),
    }),
  );

  app.post<{ Body: { version: string } }>(
    '/v1/ruleset/rollback',
    {
      onRequest: deps.auth.require('admin'),
      schema: {
        tags: ['ruleset'],
        summary:
          'Serve an earlier ruleset version on every server, until the next reload or change of the rules directory',
        security: [{ apiKey: [] }],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['version'],
          properties: { version: { type: 'string', pattern: '^[0-9a-f]{6,64}$' } },
        },
        response: { '4xx': errorResponseSchema },
      },
    },
    async (request) => deps.rules.rollback(request.body.version, request.apiKey?.name ?? 'unknown'),
  );

  app.put<{ Params: { name: string }; Body: { files: Record<string, string> } }>(
    '/v1/ruleset/candidates/:name',
    {
      onRequest: deps.auth.require('admin'),
      bodyLimit: CANDIDATE_BODY_LIMIT,
      schema: {
        tags: ['ruleset'],
        summary:
          'Upload a candidate ruleset (a rules directory, file name → text) for previews; it is checked like a reload and never goes live',
        security: [{ apiKey: [] }],
        params: candidateParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['files'],
          properties: {
            files: {
              type: 'object',
              minProperties: 1,
              maxProperties: 100,
              propertyNames: { pattern: RULES_FILE },
              additionalProperties: { type: 'string' },
            },
          },
        },
        response: { '4xx': errorResponseSchema },
      },
    },
    async (request) => {
      const files = Object.entries(request.body.files)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, text]) => ({ name, text }));
      return deps.candidates.upload(request.params.name, files, request.apiKey?.name ?? 'unknown');
    },
  );

  app.get(
    '/v1/ruleset/candidates',
    {
      onRequest: deps.auth.require('admin'),
      schema: {
        tags: ['ruleset'],
        summary: 'The candidate rulesets held for previews',
        security: [{ apiKey: [] }],
      },
    },
    async () => ({ candidates: await deps.candidates.list() }),
  );

  app.delete<{ Params: { name: string } }>(
    '/v1/ruleset/candidates/:name',
    {
      onRequest: deps.auth.require('admin'),
      schema: {
        tags: ['ruleset'],
        summary: 'Delete a candidate ruleset',
        security: [{ apiKey: [] }],
        params: candidateParams,
        response: { '4xx': errorResponseSchema },
      },
    },
    async (request, reply) => {
      await deps.candidates.delete(request.params.name);
      return reply.code(204).send();
    },
  );
}
