import { describe, expect, it } from 'vitest';
import type { ApiKeyConfig, Scope } from '../config.js';
import { OfferloopError } from '../errors.js';
import { ApiKeyAuth, type Credentials } from './auth.js';
import { RateLimiter } from './rate-limiter.js';

const key = (k: string, scopes: Scope[] = ['decide'], more: Partial<ApiKeyConfig> = {}): ApiKeyConfig => ({
  key: k,
  name: k.slice(0, 3),
  scopes: new Set(scopes),
  origins: new Set(),
  rate: 1000,
  ipRate: 1000,
  ...more,
});

const request = (more: Partial<Credentials>): Credentials => ({
  authorization: undefined,
  urlKey: undefined,
  origin: undefined,
  ownOrigin: 'http://offerloop.test',
  ip: '10.0.0.1',
  ...more,
});

/** The error code check() answers, or the key's name when it lets the request through. */
const outcome = (result: ApiKeyConfig | OfferloopError): string =>
  result instanceof OfferloopError ? `${result.statusCode} ${result.code}` : `ok ${result.key}`;

describe('ApiKeyAuth', () => {
  const auth = new ApiKeyAuth([key('agent-key'), key('ops-key-ünïcode')], new RateLimiter());

  it('finds the key of a Bearer header', () => {
    expect(auth.authenticate('Bearer agent-key')?.key).toBe('agent-key');
    expect(auth.authenticate('Bearer ops-key-ünïcode')?.key).toBe('ops-key-ünïcode');
  });

  it('rejects near misses: prefixes, extensions, other schemes, case, padding with zeros', () => {
    for (const header of [
      'Bearer agent-ke',
      'Bearer agent-key2',
      'Bearer agent-key\u0000',
      'Bearer AGENT-KEY',
      'Basic agent-key',
      'agent-key',
      'Bearer ',
      `Bearer ${'x'.repeat(1000)}`,
      undefined,
    ]) {
      expect(auth.authenticate(header), String(header)).toBeNull();
    }
  });

  it('refuses to configure a key longer than a slot', () => {
    expect(() => new ApiKeyAuth([key('k'.repeat(300))], new RateLimiter())).toThrow(/at most/);
  });
});

describe('ApiKeyAuth.check', () => {
  let now = 1_000_000;
  const auth = new ApiKeyAuth(
    [
      key('desk-key', ['decide', 'feedback'], { origins: new Set(['https://desk.example']), rate: 3 }),
      key('pk-web', ['banner'], { origins: new Set(['https://shop.example']), rate: 100, ipRate: 2 }),
    ],
    new RateLimiter(),
    () => now,
  );
  const bearer = (k: string) => `Bearer ${k}`;

  it('needs a valid key with the scope', () => {
    expect(outcome(auth.check('decide', request({})))).toBe('401 unauthorized');
    expect(outcome(auth.check('decide', request({ authorization: bearer('nope') })))).toBe(
      '401 unauthorized',
    );
    expect(outcome(auth.check('report', request({ authorization: bearer('desk-key') })))).toBe(
      '403 forbidden',
    );
    now += 10_000;
    expect(outcome(auth.check('decide', request({ authorization: bearer('desk-key') })))).toBe('ok desk-key');
  });

  it('takes a key from the URL only where the route allows it, and only a public banner key', () => {
    now += 10_000;
    const urlKey = (k: string) => request({ urlKey: k });
    expect(outcome(auth.check('banner', urlKey('pk-web')))).toBe('401 unauthorized');
    expect(outcome(auth.check('banner', urlKey('pk-web'), { keyInUrl: true }))).toBe('ok pk-web');
    const secret = auth.check('decide', urlKey('desk-key'), { keyInUrl: true });
    expect(outcome(secret)).toBe('401 unauthorized');
    expect((secret as OfferloopError).message).toMatch(/only banner keys/);
  });

  it("lets a browser in only from the key's origins or Offerloop's own pages", () => {
    now += 10_000;
    const from = (origin: string | undefined) =>
      outcome(
        auth.check('decide', request({ authorization: bearer('desk-key'), origin }), { browser: true }),
      );
    expect(from('https://desk.example')).toBe('ok desk-key');
    expect(from('http://offerloop.test')).toBe('ok desk-key');
    expect(from(undefined)).toBe('ok desk-key');
    expect(from('https://evil.example')).toBe('403 origin_not_allowed');
  });

  it('limits a key, and a public key per client IP too, with the wait in the error', () => {
    now += 10_000;
    const desk = () => auth.check('decide', request({ authorization: bearer('desk-key') }));
    expect([desk(), desk(), desk()].map(outcome)).toEqual(['ok desk-key', 'ok desk-key', 'ok desk-key']);
    const limited = desk();
    expect(outcome(limited)).toBe('429 rate_limited');
    expect((limited as OfferloopError & { retryAfterSeconds: number }).retryAfterSeconds).toBe(1);

    const banner = (ip: string) =>
      outcome(auth.check('banner', request({ urlKey: 'pk-web', ip }), { keyInUrl: true }));
    expect([banner('10.0.0.1'), banner('10.0.0.1'), banner('10.0.0.1')]).toEqual([
      'ok pk-web',
      'ok pk-web',
      '429 rate_limited',
    ]);
    expect(banner('10.0.0.2')).toBe('ok pk-web');
  });

  it('limits per client IP only on the public banner routes, not every route a key with that scope may use', () => {
    now += 10_000;
    const all = new ApiKeyAuth(
      [key('demo', ['decide', 'banner'], { rate: 1000, ipRate: 1 })],
      new RateLimiter(),
      () => now,
    );
    const decide = () => outcome(all.check('decide', request({ authorization: bearer('demo') })));
    expect([decide(), decide(), decide()]).toEqual(['ok demo', 'ok demo', 'ok demo']);
    const banner = () => outcome(all.check('banner', request({ authorization: bearer('demo') })));
    expect([banner(), banner()]).toEqual(['ok demo', '429 rate_limited']);
  });
});
