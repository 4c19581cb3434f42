import type { FastifyInstance } from 'fastify';
import type { CallEvent, CallService } from '../../service/call-service.js';
import type { ApiKeyAuth } from '../auth.js';
import { errorResponseSchema } from '../error-handler.js';
import { decisionRequestSchema } from './decisions.js';

const callId = { type: 'string', minLength: 1, maxLength: 128, example: 'c-1001' } as const;
const agentId = { type: 'string', minLength: 1, maxLength: 128, example: 'agent-7' } as const;
const context = decisionRequestSchema.properties.context;

/** One branch per event type, chosen by `type` (if/then), so an error names the field that is wrong. */
const when = (type: string, then: object) => ({ if: { properties: { type: { const: type } } }, then });
const callEventSchema = {
  type: 'object',
  required: ['type', 'callId'],
  properties: {
    type: { type: 'string', enum: ['call.started', 'call.context', 'call.ended'] },
    callId,
    agentId,
    customerId: { type: 'string', minLength: 1, maxLength: 128, example: 'cust-42' },
    phone: { type: 'string', minLength: 4, maxLength: 40, example: '+1 555 000 0042' },
    reason: {
      type: 'string',
      maxLength: 500,
      description: 'call.context: shown to the agent, never logged.',
    },
    intent: { type: 'string', pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$', example: 'card_issue' },
    context,
  },
  additionalProperties: false,
  allOf: [
    when('call.started', {
      required: ['agentId'],
      properties: { reason: false, intent: false },
    }),
    when('call.context', { properties: { agentId: false, customerId: false, phone: false } }),
    when('call.ended', {
      properties: {
        agentId: false,
        customerId: false,
        phone: false,
        reason: false,
        intent: false,
        context: false,
      },
    }),
  ],
} as const;

const outcomeSchema = {
  type: 'object',
  properties: {
    callId: { type: 'string' },
    event: { type: 'string' },
    agentId: { type: 'string' },
    customerId: { type: ['string', 'null'] },
    customerKnown: { type: 'boolean' },
    decisionId: { type: ['string', 'null'] },
    offers: { type: 'array', items: { type: 'string' } },
    sessions: { type: 'integer', description: 'Sessions on this server that received the push.' },
  },
} as const;

/** Telephony (CTI) reports calls; Offerloop decides and pushes to the agent's screens. */
export function interactionRoutes(
  app: FastifyInstance,
  deps: { auth: ApiKeyAuth; calls: CallService },
): void {
  app.post<{ Body: CallEvent }>(
    '/v1/interactions/calls',
    {
      onRequest: deps.auth.require('decide'),
      schema: {
        summary: 'A call event from telephony: started, context, ended',
        description:
          'call.started names the caller by customerId or phone; Offerloop decides and pushes the dossier and offers to the WebSocket sessions subscribed to the agent (and customer). call.context decides again with the intent; call.ended clears the screen. See docs/channels.md.',
        tags: ['channels'],
        security: [{ apiKey: [] }],
        body: callEventSchema,
        response: { 200: outcomeSchema, '4xx': errorResponseSchema },
      },
    },
    async (request) => deps.calls.handle(request.body),
  );
}
