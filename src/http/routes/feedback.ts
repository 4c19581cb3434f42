import type { FastifyInstance } from 'fastify';
import { FEEDBACK_STATUSES, FEEDBACK_TYPES } from '../../feedback/feedback-event.js';
import type { FeedbackInput, FeedbackService } from '../../service/feedback-service.js';
import type { ApiKeyAuth } from '../auth.js';
import { errorResponseSchema } from '../error-handler.js';

const id = { type: 'string', minLength: 1, maxLength: 128 } as const;

export const feedbackEventSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['eventId', 'decisionId', 'offerId', 'customerId', 'type'],
  properties: {
    eventId: { ...id, description: 'Idempotency key: an event sent twice is counted once.' },
    decisionId: id,
    offerId: { type: 'string', pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$' },
    customerId: id,
    type: { type: 'string', enum: FEEDBACK_TYPES },
    value: { type: 'number', description: 'Revenue of a conversion.' },
    timestamp: {
      type: 'string',
      description: 'When it happened (ISO 8601 with a zone); default: when the server received it.',
      pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})$',
      example: '2026-11-22T12:00:05Z',
    },
  },
} as const;

export const receiptSchema = {
  type: 'object',
  properties: {
    accepted: { type: 'integer' },
    queued: { type: 'integer' },
    duplicates: { type: 'integer' },
    rejected: { type: 'integer' },
    results: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          eventId: { type: 'string' },
          status: { type: 'string', enum: FEEDBACK_STATUSES },
          reason: { type: 'string' },
        },
      },
    },
  },
} as const;

export function feedbackRoutes(
  app: FastifyInstance,
  deps: { auth: ApiKeyAuth; feedback: FeedbackService; maxBatch: number },
): void {
  app.post<{ Body: { events: FeedbackInput[] } }>(
    '/v1/feedback',
    {
      onRequest: deps.auth.require('feedback'),
      // A full batch is larger than a decision request: room for maxBatch events of ~1 KB.
      bodyLimit: deps.maxBatch * 1024,
      schema: {
        summary: 'Record reactions to offers (a batch; idempotent by eventId)',
        description:
          'Answers 202 once every event is durable, with each event’s status: accepted, queued (kept in this server’s spool while Redis is unreachable), duplicate, unknown_decision, unknown_offer, too_late or conflict.',
        tags: ['feedback'],
        security: [{ apiKey: [] }],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['events'],
          properties: {
            events: { type: 'array', minItems: 1, maxItems: deps.maxBatch, items: feedbackEventSchema },
          },
        },
        response: { 202: receiptSchema, '4xx': errorResponseSchema },
      },
    },
    async (request, reply) => {
      const receipt = await deps.feedback.record(request.body.events);
      return reply.code(202).send(receipt);
    },
  );
}
