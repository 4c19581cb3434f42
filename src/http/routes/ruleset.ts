import type { FastifyInstance } from 'fastify';
import { RulesetError } from '../../errors.js';
import type { RulesetHolder } from '../../ruleset/ruleset-holder.js';
import type { ApiKeyAuth } from '../auth.js';
import { errorResponseSchema } from '../error-handler.js';

export function rulesetRoutes(app: FastifyInstance, deps: { auth: ApiKeyAuth; rules: RulesetHolder }): void {
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
    async () => {
      const result = await deps.rules.reload();
      if (!result.ok) throw new RulesetError(result.problems);
      return result;
    },
  );
}
