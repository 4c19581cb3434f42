import type { FastifyInstance } from 'fastify';
import type { ProfileRecord } from '../../domain/profile.js';
import { type ProfilePatch, profilePatchSchema } from '../../domain/profile-patch.js';
import { profileRecordSchema } from '../../domain/profile-schema.js';
import type { DossierService } from '../../service/dossier-service.js';
import type { ProfileService } from '../../service/profile-service.js';
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
    associations: {
      type: 'array',
      description:
        'Products not held that mined associations suggest, best first: the confidence, lift and support of the best rule that fires, and the holdings it fires on (`because`).',
      items: {
        type: 'object',
        properties: {
          product: { type: 'string' },
          confidence: { type: 'number' },
          lift: { type: 'number' },
          support: { type: 'number' },
          because: { type: 'array', items: { type: 'string' } },
        },
      },
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

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

const { id: _id, ...recordWithoutId } = profileRecordSchema.properties;
const profileBodySchema = { ...profileRecordSchema, required: [], properties: recordWithoutId } as const;

const storedSchema = {
  type: 'object',
  properties: { customerId: { type: 'string' }, holdings: { type: 'array', items: { type: 'string' } } },
} as const;

export function customerRoutes(
  app: FastifyInstance,
  deps: { auth: ApiKeyAuth; dossiers: DossierService; profileUpdates: ProfileService },
): void {
  const admin = { onRequest: deps.auth.require('admin') };
  const stored = (p: { id: string; holdings: ReadonlySet<string> }) => ({
    customerId: p.id,
    holdings: [...p.holdings],
  });

  app.put<{ Params: { id: string }; Body: Omit<ProfileRecord, 'id'> }>(
    '/v1/customers/:id',
    {
      ...admin,
      schema: {
        summary: 'Create or replace a customer profile (attributes, consent, holdings, affinities)',
        tags: ['customers'],
        security: [{ apiKey: [] }],
        params: idParams,
        body: profileBodySchema,
        response: { 200: storedSchema, '4xx': errorResponseSchema },
      },
    },
    async (request) => stored(await deps.profileUpdates.replace(request.params.id, request.body)),
  );

  app.patch<{ Params: { id: string }; Body: ProfilePatch }>(
    '/v1/customers/:id',
    {
      ...admin,
      schema: {
        summary:
          'Change part of a profile, e.g. a new product held: attributes and consent merge (null removes), holdings add/remove, affinities replace',
        tags: ['customers'],
        security: [{ apiKey: [] }],
        params: idParams,
        body: profilePatchSchema,
        response: { 200: storedSchema, '4xx': errorResponseSchema },
      },
    },
    async (request) => stored(await deps.profileUpdates.patch(request.params.id, request.body)),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/customers/:id',
    {
      ...admin,
      schema: {
        summary: 'Erase a customer everywhere: profile, affinities and contact history',
        tags: ['customers'],
        security: [{ apiKey: [] }],
        params: idParams,
        response: {
          200: { type: 'object', properties: { erased: { type: 'boolean' } } },
          '4xx': errorResponseSchema,
        },
      },
    },
    (request) => deps.profileUpdates.erase(request.params.id),
  );

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
        params: idParams,
        response: { 200: dossierSchema, '4xx': errorResponseSchema },
      },
    },
    (request) => deps.dossiers.dossier(request.params.id),
  );
}
