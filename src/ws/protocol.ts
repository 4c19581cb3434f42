import type { ValidateFunction } from 'ajv';
import { validationMessage } from '../http/error-handler.js';
import { decisionRequestSchema } from '../http/routes/decisions.js';
import { eventBatchSchema } from '../http/routes/events.js';
import { feedbackEventSchema } from '../http/routes/feedback.js';
import { identityLinkSchema } from '../http/routes/identities.js';
import { projectAjv } from '../http/validation.js';
import type { CallPush } from '../service/call-service.js';
import type { DecideCommand } from '../service/decision-service.js';
import type { FeedbackInput } from '../service/feedback-service.js';
import type { EventInput, TriggerPush } from '../service/trigger-service.js';

// The WebSocket protocol, version 1 (docs/channels.md). One JSON text frame per message; requests
// carry an `id` that their answer repeats; pushes have none.

export const PROTOCOL = 'offerloop.v1';
/** Browsers send the key as a second subprotocol: this prefix, then the key in base64url. */
export const KEY_PROTOCOL_PREFIX = 'bearer.';

export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  policy: 1008,
  tooBig: 1009,
  /** Over a limit that frees up (sessions per key): come back later. */
  tryAgainLater: 1013,
} as const;

export type ClientMessage =
  | {
      readonly type: 'subscribe' | 'unsubscribe';
      readonly id: string;
      readonly agentId?: string;
      readonly customerId?: string;
      readonly adviserId?: string;
    }
  | { readonly type: 'decide'; readonly id: string; readonly request: DecideCommand }
  | { readonly type: 'feedback'; readonly id: string; readonly events: FeedbackInput[] }
  | {
      readonly type: 'identify';
      readonly id: string;
      readonly anonymousId: string;
      readonly customerId: string;
    }
  | { readonly type: 'events'; readonly id: string; readonly events: EventInput[] }
  | { readonly type: 'ping'; readonly id: string };

const requestId = { type: 'string', minLength: 1, maxLength: 64 } as const;
const topicId = { type: 'string', minLength: 1, maxLength: 128 } as const;
const message = (type: string, properties: Record<string, unknown>, required: string[]) => ({
  type: 'object',
  additionalProperties: false,
  required: ['type', 'id', ...required],
  properties: { type: { const: type }, id: requestId, ...properties },
});
const subscription = (type: string) => ({
  ...message(type, { agentId: topicId, customerId: topicId, adviserId: topicId }, []),
  oneOf: [{ required: ['agentId'] }, { required: ['customerId'] }, { required: ['adviserId'] }],
});

/** The JSON Schema of every message a client may send; served at GET /v1/ws/schema. */
export const clientMessageSchema = {
  $id: 'https://offerloop.dev/schema/ws-client-message.json',
  title: 'A message from a WebSocket client to Offerloop (protocol offerloop.v1)',
  type: 'object',
  required: ['type', 'id'],
  properties: {
    type: { enum: ['subscribe', 'unsubscribe', 'decide', 'feedback', 'identify', 'events', 'ping'] },
    id: requestId,
  },
  oneOf: [
    subscription('subscribe'),
    subscription('unsubscribe'),
    message('decide', { request: decisionRequestSchema }, ['request']),
    message(
      'feedback',
      { events: { type: 'array', minItems: 1, maxItems: 100, items: feedbackEventSchema } },
      ['events'],
    ),
    message('identify', identityLinkSchema.properties, ['anonymousId', 'customerId']),
    message('events', { events: eventBatchSchema }, ['events']),
    message('ping', {}, []),
  ],
} as const;

/** What a text frame turned out to be: a valid message, or the error to answer (with the id, if one was readable). */
export type Parsed =
  | { readonly ok: true; readonly message: ClientMessage }
  | { readonly ok: false; readonly id: string | null; readonly message: string };

const ajv = projectAjv({ coerceTypes: false });
// Per message type, so an error names the field of the message that was meant, not a oneOf branch.
const validators = new Map<string, ValidateFunction>(
  clientMessageSchema.oneOf.map((schema) => [schema.properties.type.const, ajv.compile(schema)]),
);

/** Parses and validates one text frame. */
export function parseClientMessage(text: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, id: null, message: 'message is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, id: null, message: 'message must be a JSON object' };
  }
  const record = value as Record<string, unknown>;
  const id = typeof record.id === 'string' && record.id.length <= 64 ? record.id : null;
  const validate = typeof record.type === 'string' ? validators.get(record.type) : undefined;
  if (validate === undefined) {
    return { ok: false, id, message: `message.type must be one of: ${[...validators.keys()].join(', ')}` };
  }
  if (!validate(value)) {
    const errors = validate.errors ?? [];
    // oneOf of agentId / customerId: say it plainly.
    const message =
      errors[0]?.keyword === 'oneOf'
        ? `message must name exactly one of agentId, customerId, adviserId`
        : validationMessage(errors, 'message');
    return { ok: false, id, message };
  }
  return { ok: true, message: value as ClientMessage };
}

/** What a call push says besides the decision (whose JSON is spliced in as it is). */

/** The JSON of a call push: `{"type":"call",…,"decision":<decisionJson>}` (decision absent when there is none). */
export function callPushJson(push: CallPush, decisionJson: string | null): string {
  const head = JSON.stringify({
    type: 'call',
    event: push.event,
    callId: push.callId,
    agentId: push.agentId,
    customerId: push.customerId,
    customerKnown: push.customerKnown,
    at: new Date(push.at).toISOString(),
    ...(push.context === undefined ? {} : { context: push.context }),
    ...(push.dossier === undefined ? {} : { dossier: push.dossier }),
  });
  return decisionJson === null ? head : `${head.slice(0, -1)},"decision":${decisionJson}}`;
}

/** The JSON of a trigger push: `{"type":"trigger",…,"decision":<decisionJson>}`. */
export function triggerPushJson(push: TriggerPush, decisionJson: string): string {
  const head = JSON.stringify({
    type: 'trigger',
    eventId: push.eventId,
    eventType: push.eventType,
    triggerId: push.triggerId,
    customerId: push.customerId,
    adviserId: push.adviserId,
    at: new Date(push.at).toISOString(),
    attributes: push.attributes,
  });
  return `${head.slice(0, -1)},"decision":${decisionJson}}`;
}

/** The topic of an agent's, a customer's or an adviser's pushes. */
export const agentTopic = (agentId: string): string => `agent:${agentId}`;
export const customerTopic = (customerId: string): string => `customer:${customerId}`;
export const adviserTopic = (adviserId: string): string => `adviser:${adviserId}`;
