import type { FastifyInstance } from 'fastify';
import { CHANNELS } from '../../domain/channel.js';
import type { DecideCommand, DecisionService } from '../../service/decision-service.js';
import type { ApiKeyAuth } from '../auth.js';
import { decisionJson } from '../decision-json.js';
import { errorResponseSchema } from '../error-handler.js';

const contextValue = {
  anyOf: [
    { type: ['string', 'number', 'boolean', 'null'] },
    { type: 'array', maxItems: 32, items: { type: ['string', 'number'] } },
  ],
} as const;

export const decisionRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['customerId', 'channel'],
  properties: {
    customerId: { type: 'string', minLength: 1, maxLength: 128, example: 'cust-42' },
    channel: { type: 'string', enum: CHANNELS },
    placement: { type: 'string', pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$', example: 'home-hero' },
    limit: { type: 'integer', minimum: 1, maximum: 20 },
    context: {
      type: 'object',
      maxProperties: 32,
      propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' },
      additionalProperties: contextValue,
      example: { intent: 'card_issue' },
    },
    explain: { type: 'boolean' },
    candidate: {
      type: 'string',
      pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$',
      description:
        'With preview: run on this candidate ruleset (PUT /v1/ruleset/candidates/{name}), not the live one.',
    },
    preview: {
      type: 'boolean',
      description: 'What the customer would get, changing nothing: no contact, cap or log; no decision id.',
    },
  },
} as const;

const offerSchema = {
  type: 'object',
  properties: {
    offerId: { type: 'string' },
    campaignId: { type: 'string' },
    productId: { type: 'string' },
    name: { type: 'string' },
    rank: { type: 'integer' },
    score: { type: 'number' },
    propensity: { type: 'number' },
    probability: { type: 'number' },
    reasons: { type: 'array', items: { type: 'string' } },
    creative: { type: 'object', additionalProperties: true },
  },
} as const;

export const decisionResponseSchema = {
  type: 'object',
  properties: {
    decisionId: { type: ['string', 'null'], description: 'Null for a preview, which is not logged.' },
    customerId: { type: 'string' },
    customerKnown: { type: 'boolean' },
    channel: { type: 'string' },
    placement: { type: ['string', 'null'] },
    rulesetVersion: { type: 'string' },
    arm: {
      type: 'string',
      enum: ['champion', 'challenger'],
      description:
        'Only while a champion/challenger test runs: the arm the customer is in (the challenger decides on its own ruleset).',
    },
    decidedAt: { type: 'string' },
    degraded: { type: 'boolean' },
    offers: { type: 'array', items: offerSchema },
    preview: { type: 'boolean', description: 'Only on a preview: nothing was recorded.' },
    suppressed: {
      type: 'array',
      description: 'Only with explain: true. Candidates not shown and why.',
      items: {
        type: 'object',
        properties: {
          offerId: { type: 'string' },
          campaignId: { type: 'string' },
          reason: { type: 'string' },
        },
      },
    },
  },
} as const;

export function decisionRoutes(
  app: FastifyInstance,
  deps: { auth: ApiKeyAuth; decisions: DecisionService },
): void {
  app.post<{ Body: DecideCommand }>(
    '/v1/decisions',
    {
      onRequest: deps.auth.require('decide'),
      schema: {
        summary: 'Decide the next best offers for a customer on a channel',
        tags: ['decisions'],
        security: [{ apiKey: [] }],
        body: decisionRequestSchema,
        response: { 200: decisionResponseSchema, '4xx': errorResponseSchema },
      },
    },
    async (request, reply) => {
      const decision = await deps.decisions.decide(request.body);
      return reply.type('application/json; charset=utf-8').send(decisionJson(decision));
    },
  );
}
