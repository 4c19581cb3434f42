import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { CHANNELS } from '../../domain/channel.js';
import { mediaTypeOf, SELECTION_FORMATS } from '../../service/selection-rows.js';
import type { SelectionRequest, SelectionService } from '../../service/selection-service.js';
import type { ApiKeyAuth } from '../auth.js';
import { errorResponseSchema } from '../error-handler.js';

const requestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['campaign', 'channel'],
  properties: {
    campaign: {
      type: 'string',
      minLength: 1,
      maxLength: 128,
      description: 'A campaign of the rules in force.',
    },
    channel: {
      type: 'string',
      enum: CHANNELS,
      description: 'The outbound channel the list is for (email); the campaign must have offers on it.',
    },
    limit: {
      type: 'integer',
      minimum: 1,
      maximum: 100_000_000,
      description: 'Customers to contact at most (treated); absent: as many as the rules allow.',
    },
    offers: {
      type: 'integer',
      minimum: 1,
      maximum: 20,
      description: 'Offers of the campaign per contact (1).',
    },
    format: { type: 'string', enum: SELECTION_FORMATS, description: 'How the list is written (csv).' },
    withControl: {
      type: 'boolean',
      description:
        "Also list the control group's rows (group control: not to be sent); default: treated only.",
    },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', maxLength: 64 } },
} as const;

/**
 * Outbound selections (docs/outbound.md). Admin scope: a selection makes real decisions for up to
 * the whole population, spending the campaign's caps and budget as a launch would.
 */
export function selectionRoutes(
  app: FastifyInstance,
  deps: { auth: ApiKeyAuth; selections: SelectionService },
): void {
  app.post<{ Body: SelectionRequest }>(
    '/v1/selections',
    {
      onRequest: deps.auth.require('admin'),
      schema: {
        tags: ['channels'],
        summary:
          "Start an outbound selection: a campaign's target list over the population, each row a real decision (202; one at a time per server)",
        security: [{ apiKey: [] }],
        body: requestSchema,
        response: { '4xx': errorResponseSchema },
      },
    },
    async (request, reply) => reply.code(202).send(await deps.selections.start(request.body)),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/selections/:id',
    {
      onRequest: deps.auth.require('admin'),
      schema: {
        tags: ['channels'],
        summary:
          "A selection's progress: customers read of the population, decided, treated, control, passed over",
        security: [{ apiKey: [] }],
        params: idParams,
        response: { '4xx': errorResponseSchema },
      },
    },
    async (request) => deps.selections.get(request.params.id),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/selections/:id/rows',
    {
      onRequest: deps.auth.require('admin'),
      schema: {
        tags: ['channels'],
        summary: "A finished selection's list, streamed as CSV or NDJSON (409 while it runs)",
        security: [{ apiKey: [] }],
        params: idParams,
        response: { '4xx': errorResponseSchema },
      },
    },
    async (request, reply) => {
      const { lines, format } = deps.selections.list(request.params.id);
      return reply.type(mediaTypeOf(format)).send(Readable.from(lines));
    },
  );
}
