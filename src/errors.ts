/**
 * One error model for the whole project. Every error that reaches a client is an OfferloopError:
 * a stable machine-readable code, an HTTP status and a message that names the problem.
 * Anything else is a bug: the HTTP layer logs it and answers a masked 500.
 */
export class OfferloopError extends Error {
  /** When set, the client may retry after this many seconds: the HTTP layer sends `Retry-After`. */
  readonly retryAfterSeconds: number | undefined = undefined;

  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message);
    this.name = new.target.name;
  }

  toJSON(): { error: { code: string; message: string; details?: Readonly<Record<string, unknown>> } } {
    return {
      error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) },
    };
  }
}

export class UnauthorizedError extends OfferloopError {
  constructor(message = 'missing or invalid API key: send Authorization: Bearer <key>') {
    super('unauthorized', 401, message);
  }
}

export class ForbiddenError extends OfferloopError {
  constructor(scope: string) {
    super('forbidden', 403, `this API key lacks the '${scope}' scope`);
  }
}

/** Over the API key's (or the client's) rate limit; `Retry-After` says when to come back. */
export class TooManyRequestsError extends OfferloopError {
  override readonly retryAfterSeconds: number;
  constructor(waitMs: number) {
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    super('rate_limited', 429, `rate limit exceeded: retry after ${seconds} s`);
    this.retryAfterSeconds = seconds;
  }
}

/** A browser page whose origin this API key does not allow. */
export class OriginNotAllowedError extends OfferloopError {
  constructor(origin: string) {
    super('origin_not_allowed', 403, `origin ${origin} is not allowed for this API key`);
  }
}

/** A request that passed the schema but still makes no sense (e.g. 30 February). Changes nothing. */
export class BadRequestError extends OfferloopError {
  constructor(message: string) {
    super('invalid_request', 400, message);
  }
}

export class NotFoundError extends OfferloopError {
  constructor(message: string) {
    super('not_found', 404, message);
  }
}

/**
 * Redis did not answer in time, is known down, or the connection was lost. Most paths answer
 * without it (degraded); one that cannot answers 503 with `Retry-After`. The message names the
 * command and is for the log; the client gets the public one.
 */
export class RedisUnavailableError extends OfferloopError {
  override readonly retryAfterSeconds = 1;
  constructor(message: string) {
    super('store_unavailable', 503, message);
  }

  override toJSON(): ReturnType<OfferloopError['toJSON']> {
    return { error: { code: this.code, message: 'the store is unavailable: retry after 1 s' } };
  }
}

/** A rules file that does not load: the file, the 1-based line and the reason. */
export interface RulesProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly path: string;
  readonly message: string;
}

export class RulesetError extends OfferloopError {
  constructor(readonly problems: readonly RulesProblem[]) {
    super(
      'invalid_ruleset',
      422,
      `ruleset rejected: ${problems.length} problem(s); first: ${formatProblem(problems[0])}`,
      { problems },
    );
  }
}

export function formatProblem(p: RulesProblem | undefined): string {
  if (!p) return 'unknown problem';
  return `${p.file}:${p.line}:${p.column}: ${p.message}${p.path ? ` (at ${p.path})` : ''}`;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}
