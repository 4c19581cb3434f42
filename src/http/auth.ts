import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { ApiKeyConfig, Scope } from '../config.js';
import { ForbiddenError, UnauthorizedError } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The API key that authenticated this request; set by the auth hook. */
    apiKey: ApiKeyConfig | null;
  }
}

const digest = (key: string): Buffer => createHash('sha256').update(key).digest();

/**
 * API keys from the config, checked in constant time: the presented key is hashed and compared with
 * every configured key's hash, with no early exit, so timing says nothing about how close a guess was.
 */
export class ApiKeyAuth {
  private readonly keys: readonly { readonly digest: Buffer; readonly config: ApiKeyConfig }[];

  constructor(keys: readonly ApiKeyConfig[]) {
    this.keys = keys.map((config) => ({ digest: digest(config.key), config }));
  }

  /** The key config for an `Authorization` header value, or null. */
  authenticate(header: string | undefined): ApiKeyConfig | null {
    if (header === undefined || !header.startsWith('Bearer ')) return null;
    const presented = digest(header.slice(7).trim());
    let found: ApiKeyConfig | null = null;
    for (const k of this.keys) if (timingSafeEqual(k.digest, presented)) found = k.config;
    return found;
  }

  /** An onRequest hook: 401 without a valid key, 403 without `scope` (null: any valid key). */
  require(scope: Scope | null): onRequestHookHandler {
    return (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) => {
      const key = this.authenticate(request.headers.authorization);
      if (key === null) return done(new UnauthorizedError());
      if (scope !== null && !key.scopes.has(scope)) return done(new ForbiddenError(scope));
      request.apiKey = key;
      done();
    };
  }
}
