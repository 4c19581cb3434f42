import type { FastifyInstance } from 'fastify';
import { CHANNELS, type Channel } from '../../domain/channel.js';
import { type AdviserService, MAX_BOOK } from '../../service/adviser-service.js';
import type { ApiKeyAuth } from '../auth.js';
import { errorResponseSchema } from '../error-handler.js';

const adviserParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 128, example: 'adv-7' } },
} as const;

/** Advisers' books (from the CRM) and their customers to contact today. */
export function adviserRoutes(
  app: FastifyInstance,
  deps: { auth: ApiKeyAuth; advisers: AdviserService },
): void {
  app.put<{ Params: { id: string }; Body: { customers: string[] } }>(
    '/v1/advisers/:id/book',
    {
      onRequest: deps.auth.require('admin'),
      // A full book of ids of up to 128 characters.
      bodyLimit: MAX_BOOK * 140,
      schema: {
        summary: "Load an adviser's book of customers (the CRM's mapping); replaces the book",
        description:
          "A customer is in one adviser's book at most: putting them in this one takes them out of another's. Triggers that notify `adviser` push to the adviser of the book the customer is in, else to the one the profile attribute adviserId names.",
        tags: ['channels'],
        security: [{ apiKey: [] }],
        params: adviserParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['customers'],
          properties: {
            customers: {
              type: 'array',
              maxItems: MAX_BOOK,
              items: { type: 'string', minLength: 1, maxLength: 128 },
              example: ['cust-42', 'cust-77'],
            },
          },
        },
        response: { '4xx': errorResponseSchema },
      },
    },
    async (request) => {
      const customers = await deps.advisers.putBook(request.params.id, request.body.customers);
      return { adviserId: request.params.id, customers };
    },
  );
  app.get<{ Params: { id: string } }>(
    '/v1/advisers/:id/book',
    {
      onRequest: deps.auth.require('decide'),
      schema: {
        summary: "An adviser's book of customers",
        tags: ['channels'],
        security: [{ apiKey: [] }],
        params: adviserParams,
        response: { '4xx': errorResponseSchema },
      },
    },
    async (request) => ({
      adviserId: request.params.id,
      customers: await deps.advisers.book(request.params.id),
    }),
  );
  app.get<{ Params: { id: string }; Querystring: { limit: number; channel: Channel } }>(
    '/v1/advisers/:id/today',
    {
      onRequest: deps.auth.require('decide'),
      schema: {
        summary: 'Customers to contact today: the book ranked by the expected value of each next best action',
        description:
          'Previews, nothing recorded: contact policy, caps and consent apply, so a customer already contacted up to the limit, or without consent on the channel, is not listed.',
        tags: ['channels'],
        security: [{ apiKey: [] }],
        params: adviserParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 20 },
            channel: { type: 'string', enum: CHANNELS, default: 'sales_force' },
          },
        },
        response: { '4xx': errorResponseSchema },
      },
    },
    (request) => deps.advisers.today(request.params.id, request.query.channel, request.query.limit),
  );
}
