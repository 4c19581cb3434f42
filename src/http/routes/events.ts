import type { FastifyInstance } from 'fastify';
import { EVENT_STATUSES, type EventInput, type TriggerService } from '../../service/trigger-service.js';
import type { WebhookOutbox } from '../../store/webhook-outbox.js';
import type { ApiKeyAuth } from '../auth.js';
import { errorResponseSchema } from '../error-handler.js';
import { decisionRequestSchema } from './decisions.js';

const id = { type: 'string', minLength: 1, maxLength: 128 } as const;

/** One event from any system; its attributes are what trigger conditions read as `event.<name>`. */
export const eventSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['eventId', 'type', 'customerId'],
  properties: {
    eventId: { ...id, description: 'The same id triggers at most once.', example: 'evt-9f2c' },
    type: {
      type: 'string',
      pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$',
      description: 'page.viewed, app.opened, cart.abandoned, transaction.large, or one of your own.',
      example: 'cart.abandoned',
    },
    customerId: { ...id, example: 'cust-42' },
    at: {
      type: 'string',
      pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2})$',
      description: 'When it happened (ISO date-time with a zone); default: on arrival.',
      example: '2026-11-22T10:00:00Z',
    },
    attributes: { ...decisionRequestSchema.properties.context, example: { cartValue: 180 } },
  },
} as const;

/** Most events in one request (or one WebSocket `events` message). */
export const MAX_EVENTS = 100;

export const eventBatchSchema = {
  type: 'array',
  minItems: 1,
  maxItems: MAX_EVENTS,
  items: eventSchema,
} as const;

const receiptSchema = {
  type: 'object',
  properties: {
    results: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          eventId: { type: 'string' },
          status: { type: 'string', enum: EVENT_STATUSES },
          triggerId: { type: 'string' },
          decisionId: { type: 'string' },
          offers: { type: 'array', items: { type: 'string' } },
          adviserId: { type: ['string', 'null'] },
          sessions: { type: 'integer', description: 'Sessions on this server that got the push.' },
          webhooks: { type: 'integer', description: 'Webhook deliveries queued.' },
        },
      },
    },
  },
} as const;

/** Real-time events from any system: each may fire a trigger of the rules (docs/channels.md). */
export function eventRoutes(
  app: FastifyInstance,
  deps: { auth: ApiKeyAuth; triggers: TriggerService; outbox: WebhookOutbox },
): void {
  app.post<{ Body: { events: EventInput[] } }>(
    '/v1/events',
    {
      onRequest: deps.auth.require('decide'),
      schema: {
        summary: 'Real-time events (page.viewed, cart.abandoned, …): each may fire a trigger',
        description:
          'Each event is matched against the triggers of the rules (event type and condition); a trigger decides on its channel (contact policy applies, the decision is recorded) and pushes the result to the customer’s WebSocket subscribers, their adviser and webhooks. Per event: triggered, no_trigger, suppressed (the contact policy leaves no room), no_offer, duplicate (the id triggered already), unknown_customer. See docs/channels.md.',
        tags: ['channels'],
        security: [{ apiKey: [] }],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['events'],
          properties: { events: eventBatchSchema },
        },
        response: { 200: receiptSchema, '4xx': errorResponseSchema },
      },
    },
    async (request) => ({ results: await deps.triggers.record(request.body.events) }),
  );
  app.get<{ Querystring: { limit: number } }>(
    '/v1/webhooks/dead-letters',
    {
      onRequest: deps.auth.require('admin'),
      schema: {
        summary: 'Webhook deliveries that failed every try, newest first (with the last error)',
        tags: ['channels'],
        security: [{ apiKey: [] }],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        },
        response: { '4xx': errorResponseSchema },
      },
    },
    async (request) => ({
      pending: await deps.outbox.pending(),
      deadLetters: await deps.outbox.deadLetters(request.query.limit),
    }),
  );
}
