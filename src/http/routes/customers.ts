import type { FastifyInstance } from 'fastify';
import { CONTACT_OUTCOMES } from '../../domain/contact.js';
import type { ProfileRecord } from '../../domain/profile.js';
import { type ProfilePatch, profilePatchSchema } from '../../domain/profile-patch.js';
import { profileRecordSchema } from '../../domain/profile-schema.js';
import { BadRequestError } from '../../errors.js';
import { parseDate } from '../../ruleset/time.js';
import type { DossierService } from '../../service/dossier-service.js';
import type { ErasureService } from '../../service/erasure-service.js';
import type { JourneyService } from '../../service/journey-service.js';
import type { ProfileService } from '../../service/profile-service.js';
import type { ApiKeyAuth } from '../auth.js';
import { errorResponseSchema } from '../error-handler.js';

const stageRef = {
  type: 'object',
  properties: { id: { type: 'string' }, name: { type: 'string' } },
} as const;

/** One step of a journey (src/service/journey-service.ts JourneyStep). */
const journeyStepSchema = {
  type: 'object',
  properties: {
    at: { type: 'string' },
    kind: { type: 'string', enum: ['offer', 'reaction', 'outcome', 'identified', 'stage'] },
    type: { type: 'string' },
    channel: { type: 'string' },
    placement: { type: 'string' },
    offerId: { type: 'string' },
    campaignId: { type: 'string' },
    campaignName: { type: 'string' },
    offerName: { type: 'string' },
    productId: { type: 'string' },
    anonymousId: { type: 'string' },
    from: { type: ['string', 'null'] },
    to: { type: ['string', 'null'] },
    cause: { type: 'string' },
  },
} as const;

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
    relationship: {
      type: 'object',
      description:
        'What outcomes taught: the lifecycle stage (recorded when an outcome last changed the profile; when none is, the ruleset’s stage judged now, without `since`), its last transitions newest first, and the relationship value.',
      properties: {
        stage: {
          type: ['object', 'null'],
          properties: {
            ...stageRef.properties,
            since: { type: ['string', 'null'] },
            source: { type: 'string', enum: ['recorded', 'judged'] },
          },
        },
        transitions: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              at: { type: 'string' },
              from: { ...stageRef, type: ['object', 'null'] },
              to: { ...stageRef, type: ['object', 'null'] },
              cause: { type: 'string', description: 'e.g. `purchase of savings-plus (event ord-1)`' },
            },
          },
        },
        lifetimeRevenue: { type: 'number' },
        purchases: { type: 'integer' },
        productsHeld: { type: 'integer' },
        firstPurchaseAt: { type: ['string', 'null'] },
        lastPurchaseAt: { type: ['string', 'null'] },
      },
    },
    recentContacts: {
      type: 'array',
      description:
        'Newest first: offers shown and reactions to them, conversions, purchases and cancels (offers a control group withheld are left out). `productId`: the product of the offer or of the outcome; an outcome credited to no offer has `offerId` "".',
      items: {
        type: 'object',
        properties: {
          offerId: { type: 'string' },
          campaignId: { type: 'string' },
          channel: { type: 'string' },
          outcome: { type: 'string', enum: CONTACT_OUTCOMES.filter((o) => o !== 'held_out') },
          productId: { type: 'string' },
          at: { type: 'string' },
        },
      },
    },
    journey: {
      type: 'array',
      description:
        'The newest 10 steps of the journey (GET /v1/customers/:id/journey), newest first: offers shown, reactions, outcomes (leads among them), identity links, stage changes with the names of their stages (`fromName`, `toName`).',
      items: {
        ...journeyStepSchema,
        properties: {
          ...journeyStepSchema.properties,
          fromName: { type: 'string' },
          toName: { type: 'string' },
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

const journeySchema = {
  type: 'object',
  properties: {
    customerId: { type: 'string' },
    resolvedFrom: { type: ['string', 'null'] },
    steps: {
      type: 'array',
      items: journeyStepSchema,
    },
    next: { type: ['string', 'null'], description: 'The `before` of the next page; null on the last.' },
  },
} as const;

export function customerRoutes(
  app: FastifyInstance,
  deps: {
    auth: ApiKeyAuth;
    dossiers: DossierService;
    profileUpdates: ProfileService;
    journeys: JourneyService;
    erasure: ErasureService;
  },
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
        summary:
          'Erase a person everywhere (GDPR Art. 17): profile, contact history, learned facts, identity links and their ids, phone number, calls, journey, feedback log entries and records, spool lines; a tombstone keeps bulk loads from bringing them back',
        description:
          'Answers once a second sweep (after OFFERLOOP_ERASURE_SETTLE_MS, on Redis) found what was in flight. `erased`: a profile existed. Log entries that aggregates still need keep a pseudonym instead of the id (docs/decisions/0009-erasure.md). A later PUT of the id begins a new relationship.',
        tags: ['customers'],
        security: [{ apiKey: [] }],
        params: idParams,
        response: {
          200: { type: 'object', properties: { erased: { type: 'boolean' } } },
          '4xx': errorResponseSchema,
        },
      },
    },
    (request) => deps.erasure.erase(request.params.id),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/customers/:id/export',
    {
      // The privacy officer's scope: everything held about one person, which no other system needs.
      onRequest: deps.auth.require('privacy'),
      schema: {
        summary:
          'Everything held about a person (GDPR Art. 15): profile, learned facts, contact history, identity links, journey, phone number, calls in progress, adviser’s book, trigger pushes waiting for or dead-lettered by a webhook, feedback log entries and decision records, this server’s spool lines',
        tags: ['customers'],
        security: [{ apiKey: [] }],
        params: idParams,
        response: {
          200: { type: 'object', additionalProperties: true },
          '4xx': errorResponseSchema,
        },
      },
    },
    (request) => deps.erasure.export(request.params.id),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/customers/:id',
    {
      // Agents read dossiers with the same key they decide with.
      onRequest: deps.auth.require('decide'),
      schema: {
        summary:
          "The agent's dossier of a customer: attributes, holdings, relationship (lifecycle stage, transitions, value), affinities, segments, associations, recent contacts, the newest steps of the journey",
        tags: ['customers'],
        security: [{ apiKey: [] }],
        params: idParams,
        response: { 200: dossierSchema, '4xx': errorResponseSchema },
      },
    },
    (request) => deps.dossiers.dossier(request.params.id),
  );

  app.get<{ Params: { id: string }; Querystring: { limit?: number; before?: string } }>(
    '/v1/customers/:id/journey',
    {
      onRequest: deps.auth.require('decide'),
      schema: {
        summary:
          "A person's journey across channels and linked ids, newest first: offers shown, reactions, outcomes, identity links, stage transitions",
        description:
          'Paged: pass the answer’s `next` as `before` for older steps. Bounded by what the contact history keeps per person (the newest 100 contacts, for as long as contact policy and attribution look back).',
        tags: ['customers'],
        security: [{ apiKey: [] }],
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
            before: {
              type: 'string',
              pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})$',
              description: 'Steps older than this (ISO 8601): the `next` of the previous page.',
            },
          },
        },
        response: { 200: journeySchema, '4xx': errorResponseSchema },
      },
    },
    (request) => {
      const { before } = request.query;
      const beforeMs = before === undefined ? null : parseDate(before);
      if (beforeMs === null && before !== undefined)
        throw new BadRequestError(`querystring.before is not a valid date: '${before}'`);
      return deps.journeys.journey(request.params.id, { limit: request.query.limit ?? 50, before: beforeMs });
    },
  );
}
