import type { FastifyInstance } from 'fastify';
import { CHANNELS } from '../../domain/channel.js';
import type { WhatIfRequest, WhatIfService } from '../../service/what-if-service.js';
import type { ApiKeyAuth } from '../auth.js';
import { errorResponseSchema } from '../error-handler.js';

/** Contacts one run may simulate: ten million customers, each decided twice. */
const MAX_VOLUME = 10_000_000;

const requestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['channel', 'volume'],
  properties: {
    candidate: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      description: 'A candidate ruleset (PUT /v1/ruleset/candidates/:name); absent: the live ruleset alone.',
    },
    channel: { type: 'string', enum: CHANNELS },
    volume: {
      type: 'integer',
      minimum: 1,
      maximum: MAX_VOLUME,
      description:
        'Contacts to simulate: a stable sample of about this many customers of the population (all of them when it is larger).',
    },
    limit: {
      type: 'integer',
      minimum: 1,
      maximum: 20,
      description: "Offers per contact; default: the server's.",
    },
  },
} as const;

/**
 * What-ifs on the loaded population (docs/what-if.md). Admin scope: a run spends a server's CPU on
 * up to millions of decisions, and runs the candidates that only admin keys may see.
 */
export function whatIfRoutes(app: FastifyInstance, deps: { auth: ApiKeyAuth; whatIf: WhatIfService }): void {
  app.post<{ Body: WhatIfRequest }>(
    '/v1/what-if',
    {
      onRequest: deps.auth.require('admin'),
      schema: {
        tags: ['ruleset'],
        summary:
          'Start a what-if: a candidate ruleset and the live one over a sample of the population, side by side (202; one at a time per server)',
        security: [{ apiKey: [] }],
        body: requestSchema,
        response: { '4xx': errorResponseSchema },
      },
    },
    async (request, reply) => reply.code(202).send(await deps.whatIf.start(request.body)),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/what-if/:id',
    {
      onRequest: deps.auth.require('admin'),
      schema: {
        tags: ['ruleset'],
        summary:
          "A what-if's progress (done of total customers), and its report once done; any server answers (runs are shared through Redis for a day)",
        security: [{ apiKey: [] }],
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', maxLength: 64 } },
        },
        response: { '4xx': errorResponseSchema },
      },
    },
    async (request) => deps.whatIf.find(request.params.id),
  );
}
