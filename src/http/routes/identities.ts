import type { FastifyInstance } from 'fastify';
import type { IdentityService, LinkResult } from '../../service/identity-service.js';
import type { ApiKeyAuth } from '../auth.js';
import { errorResponseSchema } from '../error-handler.js';

const id = { type: 'string', minLength: 1, maxLength: 128 } as const;

/** The body of POST /v1/identities and of the WebSocket `identify` message. */
export const identityLinkSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['anonymousId', 'customerId'],
  properties: {
    anonymousId: {
      ...id,
      description: "An anonymous id: a website's first-party visitor id (banner.js), an app's install id.",
    },
    customerId: {
      ...id,
      description: 'The customer it turns out to be (a login, a form that identified them).',
    },
  },
} as const;

export const linkResultSchema = {
  type: 'object',
  properties: {
    anonymousId: { type: 'string' },
    customerId: { type: 'string' },
    linkedAt: { type: 'string' },
    existed: { type: 'boolean' },
    contactsMerged: { type: 'integer' },
  },
} as const;

export interface IdentityLinkBody {
  readonly anonymousId: string;
  readonly customerId: string;
}

export function linkResultJson(result: LinkResult) {
  return {
    anonymousId: result.link.anonymousId,
    customerId: result.link.customerId,
    linkedAt: new Date(result.link.at).toISOString(),
    existed: result.existed,
    contactsMerged: result.contactsMerged,
  };
}

export function identityRoutes(
  app: FastifyInstance,
  deps: { auth: ApiKeyAuth; identities: IdentityService },
): void {
  app.post<{ Body: IdentityLinkBody }>(
    '/v1/identities',
    {
      // The systems that report what people do (a login, a form) are the ones that identify them.
      onRequest: deps.auth.require('feedback'),
      schema: {
        summary: 'Link an anonymous id to the customer it turns out to be, and merge its history into theirs',
        description:
          'From then on, decisions and events for the anonymous id are the customer’s, contact policy counts across both, and the journey holds both. 201 for a new link, 200 for one made before (nothing changed); 409 when the anonymous id is linked to another customer, the customer id is itself a linked anonymous id (links do not chain), or the anonymous id is a customer.',
        tags: ['customers'],
        security: [{ apiKey: [] }],
        body: identityLinkSchema,
        response: { 200: linkResultSchema, 201: linkResultSchema, '4xx': errorResponseSchema },
      },
    },
    async (request, reply) => {
      const result = await deps.identities.link(request.body.anonymousId, request.body.customerId);
      return reply.code(result.existed ? 200 : 201).send(linkResultJson(result));
    },
  );
}
