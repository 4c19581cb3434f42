import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { ApiKeyConfig, Scope } from '../config.js';
import { ForbiddenError, UnauthorizedError } from '../errors.js';

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

/**
 * API keys from the config, compared in constant time: the presented key and every configured
 * key are fixed-size slots compared with timingSafeEqual, every key every time, with no early
 * exit, so timing says nothing about which key matched or how close a guess was.
 */
export class ApiKeyAuth {
  private readonly keys: readonly { readonly slot: Buffer; readonly config: ApiKeyConfig }[];
  /** Scratch slot for the presented key: requests are handled one at a time on this thread. */
  private readonly presented = Buffer.alloc(SLOT + 2);

  constructor(keys: readonly ApiKeyConfig[]) {
    this.keys = keys.map((config) => {
      const slot = Buffer.alloc(SLOT + 2);
      if (!slotOf(config.key, slot)) throw new Error(`API keys are at most ${SLOT - 2} bytes`);
      return { slot, config };
    });
  }

  /** The key config for an `Authorization` header value, or null. */
  authenticate(header: string | undefined): ApiKeyConfig | null {
    if (header === undefined || !header.startsWith('Bearer ')) return null;
    if (!slotOf(header.slice(7).trim(), this.presented)) return null;
    let found: ApiKeyConfig | null = null;
    for (const k of this.keys) if (timingSafeEqual(k.slot, this.presented)) found = k.config;
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
