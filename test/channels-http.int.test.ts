import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemoryFeedbackLog } from '../src/feedback/log/memory-feedback-log.js';
import type { Services } from '../src/services.js';
import { demoWorld, type TestServer, testServer } from './helpers.js';

// Banners, beacons and CTI call events over HTTP (inject), on the embedded store with the example
// rules and the demo population (which has phone numbers): CORS, caching, keys in URLs, rate limits.

const SHOP = 'https://shop.example';
const KEYS = [
  `pk-web=banner;origins=${SHOP};ipRate=5`,
  'cti-key=decide',
  'ops-key=admin',
  'agent-key=decide+feedback',
  'slow-cti=decide;rate=2',
].join(',');

let server: TestServer;
let app: FastifyInstance;
let services: Services;

beforeAll(async () => {
  server = await testServer({ OFFERLOOP_API_KEYS: KEYS, ...demoWorld(300) });
  ({ app, services } = server);
});
afterAll(() => server.close());

/** Each test its own client IP, so the per-IP limit of one test does not spill into another. */
let ipSeq = 0;
const nextIp = () => `10.1.0.${++ipSeq}`;

const banner = (query: string, headers: Record<string, string> = {}, ip = nextIp()) =>
  app.inject({ method: 'GET', url: `/v1/banners/home-hero?${query}`, headers, remoteAddress: ip });

interface BannerJson {
  decisionId: string | null;
  offerId: string | null;
  customerId: string | null;
  default: boolean;
  creative: { headline: string; link: string };
}

/** A customer who gets a personalized home-hero banner (the demo population has plenty). */
async function personalized(): Promise<{ customerId: string; banner: BannerJson }> {
  for (let n = 1; n <= 300; n++) {
    const res = await banner(`key=pk-web&customerId=cust-${n}`);
    const json = res.json() as BannerJson;
    if (!json.default) return { customerId: `cust-${n}`, banner: json };
  }
  throw new Error('no customer with a personalized banner');
}

describe('GET /v1/banners/:placement', () => {
  it('answers a personalized creative that no shared cache may keep', async () => {
    const res = await banner('key=pk-web&customerId=cust-7');
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('private, no-store');
    expect(res.headers.vary).toBe('Origin');
    const json = res.json() as BannerJson;
    expect(json.customerId).toBe('cust-7');
    expect(json.decisionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(json.creative.headline.length).toBeGreaterThan(0);
    const { banner: chosen } = await personalized();
    expect(chosen.offerId).not.toBeNull();
    expect(chosen.creative.link).toMatch(/^https:/);
  });

  it("gives a visitor nobody knows the placement's default banner, cacheable privately for a minute", async () => {
    const anonymous = await banner('key=pk-web');
    expect(anonymous.statusCode).toBe(200);
    expect(anonymous.headers['cache-control']).toBe('private, max-age=60');
    expect(anonymous.json()).toMatchObject({
      decisionId: null,
      offerId: null,
      default: true,
      creative: { headline: 'Open an account in 8 minutes' },
    });
    // A placement without a banner of its own falls back to '*'.
    const other = await app.inject({
      method: 'GET',
      url: '/v1/banners/account-sidebar?key=pk-web',
      remoteAddress: nextIp(),
    });
    expect(other.json()).toMatchObject({
      default: true,
      creative: { headline: 'Banking that fits your life' },
    });
  });

  it("allows only the key's origins, answering them with CORS headers and preflights", async () => {
    const allowed = await banner('key=pk-web&customerId=cust-3', { origin: SHOP });
    expect(allowed.statusCode).toBe(200);
    expect(allowed.headers['access-control-allow-origin']).toBe(SHOP);
    const foreign = await banner('key=pk-web&customerId=cust-3', { origin: 'https://evil.example' });
    expect(foreign.statusCode).toBe(403);
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
    expect(foreign.json().error.code).toBe('origin_not_allowed');

    const preflight = (origin: string) =>
      app.inject({
        method: 'OPTIONS',
        url: '/v1/banners/home-hero',
        headers: {
          origin,
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization',
        },
      });
    const ok = await preflight(SHOP);
    expect(ok.statusCode).toBe(204);
    expect(ok.headers['access-control-allow-headers']).toBe('Authorization');
    expect((await preflight('https://evil.example')).statusCode).toBe(403);
  });

  it('takes only public banner keys in the URL, and needs the banner scope', async () => {
    expect((await banner('customerId=cust-1')).statusCode).toBe(401);
    const secret = await banner('key=agent-key&customerId=cust-1');
    expect(secret.statusCode).toBe(401);
    expect(secret.json().error.message).toMatch(/only banner keys may be sent in the URL/);
    expect((await banner('customerId=cust-1', { authorization: 'Bearer agent-key' })).statusCode).toBe(403);
    expect((await banner('customerId=cust-1', { authorization: 'Bearer pk-web' })).statusCode).toBe(200);
  });

  it('limits a public key per client IP with 429 and Retry-After', async () => {
    const ip = nextIp();
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push((await banner('key=pk-web', {}, ip)).statusCode);
    expect(codes).toEqual([200, 200, 200, 200, 200, 429]);
    const limited = await banner('key=pk-web', {}, ip);
    expect(limited.headers['retry-after']).toBe('1');
    expect(limited.json().error.code).toBe('rate_limited');
    expect((await banner('key=pk-web', {}, nextIp())).statusCode).toBe(200);
  });

  it('rejects a bad placement or an unknown query field with 400', async () => {
    const bad = await app.inject({
      method: 'GET',
      url: '/v1/banners/Home%20Hero?key=pk-web',
      remoteAddress: nextIp(),
    });
    expect(bad.statusCode).toBe(400);
    expect((await banner('key=pk-web&customer=cust-1')).statusCode).toBe(400);
  });
});

describe('POST /v1/banners/events (beacons)', () => {
  it('records an impression and a click once each, however often the beacon comes', async () => {
    const { customerId, banner: chosen } = await personalized();
    const beacon = (type: string) =>
      app.inject({
        method: 'POST',
        url: `/v1/banners/events?key=pk-web&decisionId=${chosen.decisionId}&offerId=${chosen.offerId}&customerId=${customerId}&type=${type}`,
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
        payload: '',
        remoteAddress: nextIp(),
      });
    const first = await beacon('impression');
    expect(first.statusCode).toBe(202);
    expect(first.json()).toMatchObject({ accepted: 1 });
    expect((await beacon('impression')).json()).toMatchObject({ accepted: 0, duplicates: 1 });
    expect((await beacon('click')).json()).toMatchObject({ accepted: 1 });
    const log = services.feedbackLog as MemoryFeedbackLog;
    const recorded = log
      .entries()
      .filter((e) => e.kind === 'feedback' && e.event.decisionId === chosen.decisionId)
      .map((e) => (e.kind === 'feedback' ? e.event.type : ''));
    expect(recorded).toEqual(['impression', 'click']);
  });

  it('refuses other event types and beacons for decisions it never made', async () => {
    const accept = await app.inject({
      method: 'POST',
      url: '/v1/banners/events?key=pk-web&decisionId=d-1&offerId=o-1&customerId=cust-1&type=accept',
      remoteAddress: nextIp(),
    });
    expect(accept.statusCode).toBe(400);
    const forged = await app.inject({
      method: 'POST',
      url: '/v1/banners/events?key=pk-web&decisionId=d-1&offerId=o-1&customerId=cust-1&type=click',
      remoteAddress: nextIp(),
    });
    expect(forged.json()).toMatchObject({
      accepted: 0,
      rejected: 1,
      results: [{ status: 'unknown_decision' }],
    });
  });
});

describe('POST /v1/interactions/calls', () => {
  const post = (payload: object, key = 'cti-key') =>
    app.inject({
      method: 'POST',
      url: '/v1/interactions/calls',
      headers: { authorization: `Bearer ${key}` },
      payload,
    });

  it('resolves a caller by phone number, however it is written', async () => {
    const res = await post({
      type: 'call.started',
      callId: 'p-1',
      agentId: 'agent-1',
      phone: '+1 (555) 000-0042',
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ customerId: 'cust-42', customerKnown: true, event: 'call.started' });
    expect(res.json().decisionId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('starts a call for an unknown number without a decision', async () => {
    const res = await post({
      type: 'call.started',
      callId: 'p-2',
      agentId: 'agent-1',
      phone: '+44 20 7946 0000',
    });
    expect(res.json()).toMatchObject({
      customerId: null,
      customerKnown: false,
      decisionId: null,
      offers: [],
    });
    expect((await post({ type: 'call.ended', callId: 'p-2' })).statusCode).toBe(200);
  });

  it('does not trust a phone directory entry that the profile no longer confirms', async () => {
    await app.inject({
      method: 'PUT',
      url: '/v1/customers/cust-phone',
      headers: { authorization: 'Bearer ops-key' },
      payload: { attributes: { phone: '+1 555 999 0001' } },
    });
    const known = await post({ type: 'call.started', callId: 'p-3', agentId: 'a', phone: '+15559990001' });
    expect(known.json().customerId).toBe('cust-phone');
    await app.inject({
      method: 'PATCH',
      url: '/v1/customers/cust-phone',
      headers: { authorization: 'Bearer ops-key' },
      payload: { attributes: { phone: '+1 555 999 0002' } },
    });
    const moved = await post({ type: 'call.started', callId: 'p-4', agentId: 'a', phone: '+15559990001' });
    expect(moved.json().customerId).toBeNull();
    const now = await post({ type: 'call.started', callId: 'p-5', agentId: 'a', phone: '+15559990002' });
    expect(now.json().customerId).toBe('cust-phone');
  });

  it("limits a server key's requests with 429 and Retry-After", async () => {
    const codes: number[] = [];
    for (let i = 0; i < 3; i++)
      codes.push((await post({ type: 'call.ended', callId: 'none' }, 'slow-cti')).statusCode);
    expect(codes).toEqual([404, 404, 429]);
    const limited = await post({ type: 'call.ended', callId: 'none' }, 'slow-cti');
    expect(limited.headers['retry-after']).toBe('1');
  });

  it('answers 404 for context or end of a call it does not know, and 400 for malformed events', async () => {
    expect((await post({ type: 'call.context', callId: 'never', intent: 'x' })).statusCode).toBe(404);
    expect((await post({ type: 'call.ended', callId: 'never' })).statusCode).toBe(404);
    const noAgent = await post({ type: 'call.started', callId: 'x', customerId: 'cust-1' });
    expect(noAgent.statusCode).toBe(400);
    expect(noAgent.json().error.message).toBe("body must have required property 'agentId'");
    const both = await post({
      type: 'call.started',
      callId: 'x',
      agentId: 'a',
      customerId: 'cust-1',
      phone: '+15550000001',
    });
    expect(both.statusCode).toBe(400);
    expect(both.json().error.message).toMatch(/customerId or by phone/);
    expect((await post({ type: 'call.ended', callId: 'x', intent: 'y' })).statusCode).toBe(400);
    expect((await post({ type: 'call.paused', callId: 'x' })).statusCode).toBe(400);
    expect((await post({ type: 'call.ended', callId: 'x' }, 'ops-key')).statusCode).toBe(403);
  });
});

describe('behind a proxy (OFFERLOOP_TRUST_PROXY)', () => {
  it('limits public keys per client as X-Forwarded-For names it', async () => {
    const behind = await testServer({
      OFFERLOOP_API_KEYS: 'pk-web=banner;ipRate=2',
      OFFERLOOP_TRUST_PROXY: '1',
      ...demoWorld(10),
    });
    try {
      const from = (client: string) =>
        behind.app.inject({
          url: '/v1/banners/home-hero?key=pk-web',
          remoteAddress: '10.9.9.9',
          headers: { 'x-forwarded-for': client },
        });
      const codes = [];
      for (const client of ['1.1.1.1', '1.1.1.1', '1.1.1.1', '2.2.2.2'])
        codes.push((await from(client)).statusCode);
      // All four came through one proxy; each client has its own bucket.
      expect(codes).toEqual([200, 200, 429, 200]);
    } finally {
      await behind.close();
    }
  });
});
