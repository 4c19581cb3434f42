import type { FastifyInstance } from 'fastify';
import type { DossierService } from '../../service/dossier-service.js';
import type { ApiKeyAuth } from '../auth.js';
import { errorResponseSchema } from '../error-handler.js';

const dossierSchema = {
  type: 'object',
  properties: {
    customerId: { type: 'string' },
    attributes: { type: 'object', additionalProperties: true },
    consent: { type: 'object', additionalProperties: { type: 'boolean' } },
    holdings: { type: 'array', items: { type: 'string' } },
    affinities: {
      type: 'array',
      items: { type: 'object', properties: { product: { type: 'string' }, score: { type: 'number' } } },
    },
    segments: {
      type: 'array',
      items: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } } },
    },
    recentContacts: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          offerId: { type: 'string' },
          campaignId: { type: 'string' },
          channel: { type: 'string' },
          outcome: { type: 'string' },
          at: { type: 'string' },
        },
      },
    },
    degraded: { type: 'boolean' },
  },
} as const;

export function customerRoutes(
  app: FastifyInstance,
  deps: { auth: ApiKeyAuth; dossiers: DossierService },
): void {
  app.get<{ Params: { id: string } }>(
    '/v1/customers/:id',
    {
      // Agents read dossiers with the same key they decide with.
      onRequest: deps.auth.require('decide'),
      schema: {
        summary:
          "The agent's dossier of a customer: attributes, holdings, affinities, segments, recent contacts",
        tags: ['customers'],
        security: [{ apiKey: [] }],
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
        },
        response: { 200: dossierSchema, '4xx': errorResponseSchema },
      },
    },
    (request) => deps.dossiers.dossier(request.params.id),
  );
}
