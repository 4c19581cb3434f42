import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { ApiKeyConfig, Scope } from '../config.js';
import {
  ForbiddenError,
  OfferloopError,
  OriginNotAllowedError,
  TooManyRequestsError,
  UnauthorizedError,
} from '../errors.js';
import type { RateLimiter } from './rate-limiter.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The API key that authenticated this request; set by the auth hook. */
    apiKey: ApiKeyConfig | null;
  }
}

/** Longest key we accept, in bytes. Every key is compared as a slot of this size. */
const SLOT = 256;

/** A key as a fixed-size slot: its length, then its bytes, then zeros. Equal slots, equal keys. */
function slotOf(key: string, into: Buffer): boolean {
  into.fill(0);
  const written = into.write(key, 2, SLOT - 2, 'utf8');
  const length = Buffer.byteLength(key, 'utf8');
  into.writeUInt16BE(length, 0);
  return written === length;
}

/** How a route takes its key beyond the `Authorization` header. */
export interface AuthOptions {
  /**
   * Browsers call this route: a page's `Origin` must be Offerloop's own or one of the key's
   * origins. (Non-browser clients send no Origin.)
   */
  readonly browser?: boolean;
  /** The key may come as `?key=` (public `banner` keys only), for requests a browser sends bare. */
  readonly keyInUrl?: boolean;
}

/** What a request presents: the Authorization header, and `?key=` where a route allows it. */
export interface Credentials {
  readonly authorization: string | undefined;
  readonly urlKey: string | undefined;
  readonly origin: string | undefined;
  /** `scheme://host[:port]` the request was sent to, to recognise Offerloop's own pages. */
  readonly ownOrigin: string;
  readonly ip: string;
}

/**
 * API keys from the config, compared in constant time: the presented key and every configured
 * key are fixed-size slots compared with timingSafeEqual, every key every time, with no early
 * exit, so timing says nothing about which key matched or how close a guess was. Also applies each
 * key's rate limits and browser origins, so every route and the WebSocket gateway check the same way.
 */
export class ApiKeyAuth {
  private readonly keys: readonly { readonly slot: Buffer; readonly config: ApiKeyConfig }[];
  /** Scratch slot for the presented key: requests are handled one at a time on this thread. */
  private readonly presented = Buffer.alloc(SLOT + 2);

  constructor(
    keys: readonly ApiKeyConfig[],
    private readonly limiter: RateLimiter,
    private readonly clock: () => number = Date.now,
  ) {
    this.keys = keys.map((config) => {
      const slot = Buffer.alloc(SLOT + 2);
      if (!slotOf(config.key, slot)) throw new Error(`API keys are at most ${SLOT - 2} bytes`);
      return { slot, config };
    });
  }

  /** The key config for an `Authorization` header value, or null. */
  authenticate(header: string | undefined): ApiKeyConfig | null {
    if (header === undefined || !header.startsWith('Bearer ')) return null;
    return this.find(header.slice(7).trim());
  }

  /** The key config for a key itself, or null. */
  find(key: string): ApiKeyConfig | null {
    if (!slotOf(key, this.presented)) return null;
    let found: ApiKeyConfig | null = null;
    for (const k of this.keys) if (timingSafeEqual(k.slot, this.presented)) found = k.config;
    return found;
  }

  /**
   * The key a request may use for `scope` (null: any valid key), or the error to answer: 401
   * without a valid key, 403 without the scope or from a foreign origin, 429 over a rate limit.
   */
  check(
    scope: Scope | null,
    credentials: Credentials,
    options: AuthOptions = {},
  ): ApiKeyConfig | OfferloopError {
    let presented = this.authenticate(credentials.authorization);
    if (presented === null && options.keyInUrl && credentials.urlKey !== undefined) {
      presented = this.find(credentials.urlKey);
      // A URL ends up in logs and histories: only public keys may travel in one.
      if (presented !== null && !presented.scopes.has('banner')) {
        return new UnauthorizedError(
          'only banner keys may be sent in the URL; send others as Authorization: Bearer <key>',
        );
      }
    }
    const key = this.admitted(scope, presented);
    if (key instanceof OfferloopError) return key;
    const origin = credentials.origin;
    if (
      options.browser &&
      origin !== undefined &&
      origin !== credentials.ownOrigin &&
      !key.origins.has(origin)
    ) {
      return new OriginNotAllowedError(origin);
    }
    const now = this.clock();
    let wait = this.limiter.takeForKey(key.key, key.rate, now);
    // Public routes (a banner key travels in every web page) are limited per client as well.
    if (wait === 0 && scope === 'banner') {
      wait = this.limiter.takeForClient(`${key.key}|${credentials.ip}`, key.ipRate, now);
    }
    return wait === 0 ? key : new TooManyRequestsError(wait);
  }

  /** check() for a route that takes its key from the header only: nothing read or built beyond it. */
  private checkHeader(scope: Scope | null, authorization: string | undefined): ApiKeyConfig | OfferloopError {
    const key = this.admitted(scope, this.authenticate(authorization));
    if (key instanceof OfferloopError) return key;
    const wait = this.limiter.takeForKey(key.key, key.rate, this.clock());
    return wait === 0 ? key : new TooManyRequestsError(wait);
  }

  /** 401 without a key, 403 without the scope. */
  private admitted(scope: Scope | null, key: ApiKeyConfig | null): ApiKeyConfig | OfferloopError {
    if (key === null) return new UnauthorizedError();
    if (scope !== null && !key.scopes.has(scope)) return new ForbiddenError(scope);
    return key;
  }

  /** Takes one token of the key's rate for a message on an open WebSocket; 0 or ms to wait. */
  takeMessage(key: ApiKeyConfig): number {
    return this.limiter.takeForKey(key.key, key.rate, this.clock());
  }

  /** An onRequest hook that sets `request.apiKey`, or fails the request with check()'s error. */
  require(scope: Scope | null, options: AuthOptions = {}): onRequestHookHandler {
    // Most routes (decisions above all) take a header key from servers: no URL, origin or client IP to read.
    const headerOnly = !options.browser && !options.keyInUrl && scope !== 'banner';
    return (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void) => {
      const outcome = headerOnly
        ? this.checkHeader(scope, request.headers.authorization)
        : this.check(scope, credentialsOf(request, options), options);
      if (outcome instanceof OfferloopError) return done(outcome);
      request.apiKey = outcome;
      done();
    };
  }
}

/** The credentials of a request; the URL and origin are read only where the route allows them. */
export function credentialsOf(request: FastifyRequest, options: AuthOptions = {}): Credentials {
  const origin = options.browser ? request.headers.origin?.toLowerCase() : undefined;
  return {
    authorization: request.headers.authorization,
    urlKey: options.keyInUrl ? (request.query as { key?: string } | undefined)?.key : undefined,
    origin,
    // Only a request from a page needs it (most banner requests have one, decisions never do).
    ownOrigin: origin === undefined ? '' : `${request.protocol}://${request.host}`.toLowerCase(),
    ip: request.ip,
  };
}
