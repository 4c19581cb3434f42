import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyConfig } from '../../config.js';
import type { WebCreative } from '../../ruleset/source.js';
import type { Banner, BannerService } from '../../service/banner-service.js';
import type { FeedbackService } from '../../service/feedback-service.js';
import type { ApiKeyAuth, AuthOptions } from '../auth.js';
import { asciiJson, jsonString } from '../decision-json.js';
import { errorResponseSchema } from '../error-handler.js';
import { receiptSchema } from './feedback.js';

/** Browsers call these routes, with a public key that may come in the URL. */
const BROWSER: AuthOptions = { browser: true, keyInUrl: true };

const id = { type: 'string', minLength: 1, maxLength: 128 } as const;
const placementParam = {
  type: 'object',
  required: ['placement'],
  properties: { placement: { type: 'string', pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$' } },
} as const;

const bannerSchema = {
  type: 'object',
  properties: {
    placement: { type: 'string' },
    customerId: { type: ['string', 'null'] },
    decisionId: {
      type: ['string', 'null'],
      description: 'Null for a default banner served without a decision.',
    },
    offerId: { type: ['string', 'null'] },
    campaignId: { type: ['string', 'null'] },
    default: { type: 'boolean', description: "True when the placement's default banner is shown." },
    creative: {
      type: 'object',
      properties: {
        headline: { type: 'string' },
        body: { type: 'string' },
        image: { type: 'string' },
        link: { type: 'string' },
        cta: { type: 'string' },
      },
    },
  },
} as const;

interface BannerQuery {
  customerId?: string;
  key?: string;
}

interface BeaconQuery {
  key?: string;
  decisionId: string;
  offerId: string;
  customerId: string;
  type: 'impression' | 'click' | 'convert';
  value?: number;
}

/**
 * Website banners and their beacons. Personalized answers are never stored by shared caches, and
 * CORS answers only the origins configured for the key (see docs/channels.md).
 */
export function bannerRoutes(
  app: FastifyInstance,
  deps: {
    auth: ApiKeyAuth;
    banners: BannerService;
    feedback: FeedbackService;
    keys: readonly ApiKeyConfig[];
  },
): void {
  // Preflights carry no key, so they are answered for any origin some banner key allows; the
  // request itself is then checked against its own key's origins.
  const bannerOrigins = new Set(
    deps.keys.filter((k) => k.scopes.has('banner')).flatMap((k) => [...k.origins]),
  );
  const corsHeaders = (request: FastifyRequest, reply: FastifyReply) => {
    reply.header('vary', 'Origin');
    const origin = request.headers.origin?.toLowerCase();
    if (origin !== undefined && bannerOrigins.has(origin))
      reply.header('access-control-allow-origin', origin);
  };
  const cors = (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    corsHeaders(request, reply);
    done();
  };
  // Banners and beacons: the CORS headers (which an error answer carries too), then the key, in one
  // hook rather than two (each hook is a step of Fastify's hook runner for every request).
  const requireKey = deps.auth.require('banner', BROWSER);
  function corsAndKey(
    this: FastifyInstance,
    request: FastifyRequest,
    reply: FastifyReply,
    done: (err?: Error) => void,
  ) {
    corsHeaders(request, reply);
    requireKey.call(this, request, reply, done);
  }

  app.register(async (scope) => {
    // navigator.sendBeacon may label even an empty beacon text/plain: accept it and ignore the body.
    scope.addContentTypeParser('text/plain', { parseAs: 'string', bodyLimit: 1024 }, (_req, _body, done) =>
      done(null, undefined),
    );

    scope.options('/v1/banners/*', { onRequest: cors, schema: { hide: true } }, async (_request, reply) => {
      if (!reply.hasHeader('access-control-allow-origin')) {
        return reply.code(403).send({ error: { code: 'origin_not_allowed', message: 'origin not allowed' } });
      }
      return reply
        .code(204)
        .header('access-control-allow-methods', 'GET, POST')
        .header('access-control-allow-headers', 'Authorization')
        .header('access-control-max-age', '600')
        .send();
    });

    scope.get<{ Params: { placement: string }; Querystring: BannerQuery }>(
      '/v1/banners/:placement',
      {
        onRequest: corsAndKey,
        schema: {
          summary: 'A personalized banner for a website placement, ready to render',
          description:
            'Scope `banner` (a public key, also accepted as `?key=`). Without `customerId`, or when no offer is eligible, the placement\u2019s default banner.',
          tags: ['channels'],
          security: [{ apiKey: [] }],
          params: placementParam,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { customerId: id, key: { type: 'string', maxLength: 256 } },
          },
          response: { 200: bannerSchema, '4xx': errorResponseSchema },
        },
      },
      // Not async: the banner's promise is the only one a request waits for (an async handler
      // returning the reply cost two more and a thenable's resolution). Errors, whether the banner
      // failed or sending it threw, go to reply.send as an async handler's would: the error handler
      // answers them.
      (request, reply) => {
        const customerId = request.query.customerId ?? null;
        deps.banners.banner(request.params.placement, customerId).then(
          (banner) => {
            try {
              reply
                .header('cache-control', customerId === null ? CACHE_DEFAULT : CACHE_PERSONAL)
                .type(JSON_TYPE)
                .send(bannerJson(banner));
            } catch (err) {
              reply.send(err);
            }
          },
          (err: unknown) => reply.send(err),
        );
      },
    );

    scope.post<{ Querystring: BeaconQuery }>(
      '/v1/banners/events',
      {
        onRequest: corsAndKey,
        bodyLimit: 1024,
        schema: {
          summary:
            'A beacon: the banner was seen, clicked, or led to a conversion (for navigator.sendBeacon; no body)',
          description:
            'The event id is derived from decision, offer and type, so a repeated beacon is a duplicate. `value` (a conversion\u2019s revenue) is optional. Scope `banner`.',
          tags: ['channels'],
          security: [{ apiKey: [] }],
          querystring: {
            type: 'object',
            additionalProperties: false,
            required: ['decisionId', 'offerId', 'customerId', 'type'],
            properties: {
              key: { type: 'string', maxLength: 256 },
              decisionId: id,
              offerId: { type: 'string', pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$' },
              customerId: id,
              type: { type: 'string', enum: ['impression', 'click', 'convert'] },
              value: { type: 'number' },
            },
          },
          response: { 202: receiptSchema, '4xx': errorResponseSchema },
        },
      },
      async (request, reply) => {
        const { decisionId, offerId, customerId, type, value } = request.query;
        const receipt = await deps.feedback.record([
          { eventId: `${decisionId}:${offerId}:${type}`, decisionId, offerId, customerId, type, value },
        ]);
        return reply.code(202).header('cache-control', 'no-store').send(receipt);
      },
    );
  });
}

const CACHE_DEFAULT = 'private, max-age=60';
const CACHE_PERSONAL = 'private, no-store';
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * `,"offerId":…,"campaignId":…,"default":…,"creative":{…}}`: all of a banner that comes from its
 * offer (or default), made once per compiled creative (a snapshot's creatives live as long as it
 * does: a WeakMap forgets them with it). A flat one-byte string (asciiJson), so the whole answer is
 * one: offer ids sliced from a YAML file with one non-ASCII character in it are two-byte strings,
 * and one two-byte piece makes V8 copy every answer to a two-byte string before writing it.
 */
interface Tail {
  readonly offerId: string | null;
  readonly campaignId: string | null;
  readonly default: boolean;
  readonly json: string;
}
const tails = new WeakMap<WebCreative, Tail>();

function tailOf(banner: Banner): string {
  const cached = tails.get(banner.creative);
  // The same creative for another offer (or as a default) would be another tail: checked, not assumed.
  if (
    cached !== undefined &&
    cached.offerId === banner.offerId &&
    cached.campaignId === banner.campaignId &&
    cached.default === banner.default
  )
    return cached.json;
  const json = `,${asciiJson({
    offerId: banner.offerId,
    campaignId: banner.campaignId,
    default: banner.default,
    creative: banner.creative,
  }).slice(1)}`;
  tails.set(banner.creative, {
    offerId: banner.offerId,
    campaignId: banner.campaignId,
    default: banner.default,
    json,
  });
  return json;
}

/**
 * The JSON of a banner (bannerSchema), by hand like decisionJson: what comes from the offer is
 * serialised once (tailOf); the placement and the decision id (a UUID) need no escaping (the
 * placement's schema allows none of the characters that would). banners.test.ts holds it to
 * JSON.stringify.
 */
export function bannerJson(banner: Banner): string {
  const customerId = banner.customerId === null ? 'null' : jsonString(banner.customerId);
  const decisionId = banner.decisionId === null ? 'null' : `"${banner.decisionId}"`;
  return `{"placement":"${banner.placement}","customerId":${customerId},"decisionId":${decisionId}${tailOf(banner)}`;
}
