import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { NotFoundError, RedisUnavailableError } from '../errors.js';
import { installErrorHandling } from './error-handler.js';

function appThrowing(error: Error) {
  const app = Fastify();
  installErrorHandling(app);
  app.get('/fails', async () => {
    throw error;
  });
  return app;
}

describe('the error model', () => {
  it('answers a Redis outage that reaches a route with 503 and Retry-After, not 500', async () => {
    const res = await appThrowing(new RedisUnavailableError('Redis GETDEL: no answer in 100 ms')).inject({
      url: '/fails',
    });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json()).toEqual({
      error: { code: 'store_unavailable', message: 'the store is unavailable: retry after 1 s' },
    });
  });

  it('sends our own errors as they are, and masks anything else as 500', async () => {
    const notFound = await appThrowing(new NotFoundError("no call 'c-1' in progress")).inject({
      url: '/fails',
    });
    expect(notFound.statusCode).toBe(404);
    expect(notFound.json().error.message).toBe("no call 'c-1' in progress");
    const broken = await appThrowing(new Error('secret internals')).inject({ url: '/fails' });
    expect(broken.statusCode).toBe(500);
    expect(broken.json()).toEqual({ error: { code: 'internal', message: 'internal server error' } });
  });
});
