import type { FastifyInstance } from 'fastify';
import { CHANNELS } from '../../domain/channel.js';
import { FEEDBACK_STATUSES, FEEDBACK_TYPES, OUTCOME_TYPES } from '../../feedback/feedback-event.js';
import type { FeedbackInput, FeedbackReceipt, FeedbackService } from '../../service/feedback-service.js';
import type { ApiKeyAuth } from '../auth.js';
import { errorResponseSchema } from '../error-handler.js';

const id = { type: 'string', minLength: 1, maxLength: 128 } as const;

const EVENT_TYPES = [...FEEDBACK_TYPES, ...OUTCOME_TYPES];

/**
 * One event: a reaction to an offer of a decision (`decisionId`, `offerId`), or a business outcome
 * for a customer and a product without a decision (`purchase`, `cancel`: `productId`).
 */
export const feedbackEventSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['eventId', 'customerId', 'type'],
  // The type is checked first, so that an unknown one is named as such and not as a missing field.
  allOf: [
    { properties: { type: { enum: EVENT_TYPES } } },
    {
      if: { properties: { type: { enum: OUTCOME_TYPES } } },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else, never awaited
      then: { properties: { decisionId: false, offerId: false } },
      else: { required: ['decisionId', 'offerId'], properties: { productId: false, source: false } },
    },
    {
      if: { properties: { type: { enum: ['purchase', 'cancel'] } } },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else, never awaited
      then: { required: ['productId'] },
    },
    {
      if: { properties: { type: { const: 'lead' } } },
      else: { properties: { attributes: false } },
    },
  ],
  properties: {
    eventId: { ...id, description: 'Idempotency key: an event sent twice is counted once.' },
    decisionId: { ...id, description: 'The decision reacted to (reactions only).' },
    offerId: { type: 'string', pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$', description: 'Reactions only.' },
    customerId: id,
    type: { type: 'string', enum: EVENT_TYPES },
    productId: {
      ...id,
      description: 'The product bought or cancelled (outcomes only), or a lead’s product of interest.',
    },
    channel: {
      type: 'string',
      enum: CHANNELS,
      description: 'Where an outcome happened, when on one of our channels.',
    },
    source: { ...id, description: 'The system reporting an outcome, e.g. order-system.' },
    attributes: {
      type: 'object',
      maxProperties: 20,
      propertyNames: { pattern: '^[A-Za-z][A-Za-z0-9_]{0,63}$' },
      additionalProperties: {
        anyOf: [{ type: 'string', maxLength: 256 }, { type: 'number' }, { type: 'boolean' }],
      },
      description:
        'A lead’s contact data (name, e-mail, phone…): written to the person’s profile, never to the feedback log.',
    },
    value: { type: 'number', description: 'Revenue of a conversion or a purchase.' },
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
        summary: 'Record reactions to offers and business outcomes (a batch; idempotent by eventId)',
        description:
          'Reactions (impression, click, accept, reject, dismiss, convert) name their decision and offer; outcomes (purchase, cancel) name a customer and a product, and are credited to the customer’s recent decisions. Answers 202 once every event is durable, with each event’s status: accepted, queued (kept in this server’s spool while Redis is unreachable), duplicate, unknown_decision, unknown_offer, too_late, conflict, unknown_product, unknown_customer or erased (the customer was erased: nothing is recorded).',
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
    (request, reply) =>
      deps.feedback
        .record(request.body.events)
        .then((receipt) => reply.code(202).type(JSON_TYPE).send(receiptJson(receipt))),
  );
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** Printable ASCII but `"` and `\\`: a string JSON writes as it is, between quotes. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const jsonString = (s: string): string => (PLAIN.test(s) ? `"${s}"` : JSON.stringify(s));

/**
 * The receipt as receiptSchema writes it (the serializer Fastify would compile from it), a result
 * at a time: a batch's hundred results are most of a feedback request's answer.
 */
export function receiptJson(r: FeedbackReceipt): string {
  let json = `{"accepted":${r.accepted},"queued":${r.queued},"duplicates":${r.duplicates},"rejected":${r.rejected},"results":[`;
  for (let i = 0; i < r.results.length; i++) {
    const { eventId, status, reason } = r.results[i]!;
    if (i > 0) json += ',';
    json += `{"eventId":${jsonString(eventId)},"status":"${status}"`;
    json += reason === undefined ? '}' : `,"reason":${jsonString(reason)}}`;
  }
  return `${json}]}`;
}
