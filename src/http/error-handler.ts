import type { ErrorObject } from 'ajv';
import type { FastifyError, FastifyInstance } from 'fastify';
import { OfferloopError, RedisUnavailableError } from '../errors.js';

interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** Fastify's own client errors, by code, mapped onto our error model. */
const FASTIFY_CLIENT_ERRORS: Readonly<Record<string, { code: string; status: number }>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'body_too_large', status: 413 },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', status: 415 },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'bad_request', status: 400 },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'bad_request', status: 400 },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'malformed_json', status: 400 },
};

/**
 * One error model for every route: `{ error: { code, message, details? } }`. Client errors are sent
 * as they are; anything else is logged and masked, since its message may reveal internals.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof OfferloopError) {
      // Most paths answer without Redis (degraded); one that cannot is unavailable, not broken.
      if (err instanceof RedisUnavailableError) {
        request.log.warn(
          { reqId: request.id, route: request.routeOptions.url, err: err.message },
          'Redis unavailable',
        );
      }
      if (err.retryAfterSeconds !== undefined) reply.header('retry-after', err.retryAfterSeconds);
      return reply.code(err.statusCode).send(err.toJSON());
    }
    if (err.validation) {
      const message = validationMessage(err.validation, err.validationContext ?? 'request');
      return reply.code(400).send(body('invalid_request', message, { errors: err.validation.slice(0, 10) }));
    }
    const known = err.code ? FASTIFY_CLIENT_ERRORS[err.code] : undefined;
    if (known) return reply.code(known.status).send(body(known.code, err.message));
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send(body('bad_request', err.message));
    }
    request.log.error({ err, reqId: request.id, route: request.routeOptions.url }, 'unhandled error');
    return reply.code(500).send(body('internal', 'internal server error'));
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(body('not_found', `no route ${request.method} ${request.url.split('?')[0]}`));
  });
}

/** The first schema error as a sentence that names the field: `body.channel must be one of: …`. */
export function validationMessage(errors: readonly ErrorObject[], where: string): string {
  const first = errors[0];
  const path = first?.instancePath ? `${where}${first.instancePath.replaceAll('/', '.')}` : where;
  const params = (first?.params ?? {}) as Record<string, unknown>;
  if (first?.keyword === 'additionalProperties') {
    return `${path} has an unknown field '${String(params.additionalProperty)}'`;
  }
  // A field the schema forbids in this variant (e.g. a decisionId on a purchase).
  if (first?.keyword === 'false schema') return `${path} is not allowed for this type of event`;
  if (first?.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    return `${path} must be one of: ${params.allowedValues.join(', ')}`;
  }
  return `${path} ${first?.message ?? 'is invalid'}`;
}

function body(code: string, message: string, details?: unknown): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** The error response schema, shared by every route's OpenAPI description. */
export const errorResponseSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
    },
  },
} as const;
