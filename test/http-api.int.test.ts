import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../src/services.js';
import { postDecision, type TestServer, testServer } from './helpers.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const KEYS = 'agent-key=decide+feedback,ops-key=admin+report,report-key=report';
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

let server: TestServer;
let app: FastifyInstance;
let services: Services;

beforeAll(async () => {
  server = await testServer({ OFFERLOOP_API_KEYS: KEYS }, () => NOW);
  ({ app, services } = server);
});
afterAll(() => server.close());

const decide = (body: object, key = 'agent-key') => postDecision(app, key, body);

describe('POST /v1/decisions', () => {
  it('returns ranked offers with reasons and creatives for a known customer', async () => {
    const res = await decide({ customerId: 'cust-1', channel: 'web', placement: 'home-hero' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      customerId: 'cust-1',
      customerKnown: true,
      channel: 'web',
      degraded: false,
    });
    expect(body.decisionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.offers[0]).toMatchObject({
      offerId: 'gold-card',
      campaignId: 'cards',
      productId: 'card-gold',
      rank: 1,
      propensity: 0.9,
      creative: { headline: 'Go gold', image: '/gold.png', link: '/gold' },
    });
    expect(body.offers[0].reasons).toContain('affinity:card-gold');
    expect(body.decidedAt).toBe('2026-11-22T12:00:00.000Z');
  });

  it('serves an unknown customer as anonymous, with customerKnown false', async () => {
    const res = await decide({ customerId: 'nobody-knows-me', channel: 'call_center' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ customerKnown: false });
    expect(res.json().offers.length).toBeGreaterThan(0);
  });

  it('explains suppressed candidates when asked', async () => {
    const res = await decide({ customerId: 'cust-3', channel: 'call_center', explain: true });
    const reasons = Object.fromEntries(
      res.json().suppressed.map((s: { offerId: string; reason: string }) => [s.offerId, s.reason]),
    );
    expect(reasons['old-promo']).toBe('campaign_not_active');
    expect(reasons['future-offer']).toBe('not_yet_valid');
  });

  it('respects limit', async () => {
    // cust-3's best offer (loyalty-gift) is held out for its campaign's control group: its slot
    // counts against the limit and stays empty.
    for (const limit of [1, 2, 3]) {
      const body = (
        await decide({ customerId: 'cust-3', channel: 'call_center', limit, explain: true })
      ).json();
      const held = body.suppressed.filter((x: { reason: string }) => x.reason === 'control_group');
      expect(body.offers.length + held.length).toBeLessThanOrEqual(limit);
      expect(held.map((x: { offerId: string }) => x.offerId)).toEqual(['loyalty-gift']);
      if (limit === 1) expect(body.offers).toEqual([]);
    }
  });
});

describe('POST /v1/decisions with preview', () => {
  it('answers what the customer would get, marked, with no decision id, and records nothing', async () => {
    const body = { customerId: 'cust-3', channel: 'web' };
    const before = await services.history.read('cust-3');
    const first = (await decide({ ...body, preview: true })).json();
    const second = (await decide({ ...body, preview: true })).json();
    expect(first).toMatchObject({ preview: true, decisionId: null, customerKnown: true });
    expect(first.offers.length).toBeGreaterThan(0);
    expect(second.offers).toEqual(first.offers);
    expect(await services.history.read('cust-3')).toEqual(before);
    // The next real decision shows the same, and is a decision like any other.
    const real = (await decide(body)).json();
    expect(real.preview).toBeUndefined();
    expect(real.decisionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(real.offers).toEqual(first.offers);
  });

  it('takes only a boolean', async () => {
    const res = await decide({ customerId: 'cust-4', channel: 'web', preview: 'yes' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/preview/);
  });
});

describe('GET /v1/customers/:id', () => {
  it("returns the agent's dossier", async () => {
    const res = await app.inject({ url: '/v1/customers/cust-2', headers: auth('agent-key') });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      customerId: 'cust-2',
      holdings: ['card-gold'],
      affinities: [{ product: 'card-platinum', score: 0.4 }],
      segments: [
        { id: 'high_value', name: 'High value' },
        { id: 'young', name: 'young' },
        { id: 'young_high_value', name: 'young_high_value' },
      ],
      recentContacts: [],
    });
  });

  it('shows recent contacts newest first', async () => {
    await services.history.append('cust-2', [
      { offerId: 'gold-card', campaignId: 'cards', channel: 'web', outcome: 'impression', at: NOW - 2000 },
      { offerId: 'gold-card', campaignId: 'cards', channel: 'web', outcome: 'reject', at: NOW - 1000 },
    ]);
    const res = await app.inject({ url: '/v1/customers/cust-2', headers: auth('agent-key') });
    expect(res.json().recentContacts.map((c: { outcome: string }) => c.outcome)).toEqual([
      'reject',
      'impression',
    ]);
  });

  it('shows the offers a decision showed as impressions', async () => {
    const decided = (await decide({ customerId: 'cust-1', channel: 'web', placement: 'home-hero' })).json();
    const res = await app.inject({ url: '/v1/customers/cust-1', headers: auth('agent-key') });
    const shown = res
      .json()
      .recentContacts.filter((c: { channel: string }) => c.channel === 'web')
      .map((c: { offerId: string; outcome: string }) => [c.offerId, c.outcome]);
    expect(decided.offers.length).toBeGreaterThan(0);
    for (const offer of decided.offers) expect(shown).toContainEqual([offer.offerId, 'impression']);
  });

  it('answers 404 for an unknown customer', async () => {
    const res = await app.inject({ url: '/v1/customers/nobody', headers: auth('agent-key') });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'not_found', message: "no customer 'nobody'" } });
  });
});

describe('health', () => {
  it('is open and says what it serves', async () => {
    expect((await app.inject({ url: '/health/live' })).json()).toEqual({ status: 'ok' });
    const ready = await app.inject({ url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', store: 'embedded', customers: 3 });
  });
});

describe('ruleset admin', () => {
  it('shows the ruleset in force and reloads it', async () => {
    const info = await app.inject({ url: '/v1/ruleset', headers: auth('ops-key') });
    expect(info.statusCode).toBe(200);
    expect(info.json()).toMatchObject({ offers: 8, version: services.rules.current.version });
    const reload = await app.inject({ method: 'POST', url: '/v1/ruleset/reload', headers: auth('ops-key') });
    expect(reload.statusCode).toBe(200);
    expect(reload.json()).toEqual({ ok: true, version: services.rules.current.version, changed: false });
  });
});

describe('docs', () => {
  it('serves the OpenAPI document to a key holder, with every route', async () => {
    const res = await app.inject({ url: '/docs/json', headers: auth('report-key') });
    expect(res.statusCode).toBe(200);
    const paths = Object.keys(res.json().paths);
    expect(paths).toEqual(expect.arrayContaining(['/v1/decisions', '/v1/customers/{id}', '/health/ready']));
    expect((await app.inject({ url: '/docs' })).statusCode).toBe(401);
  });
});

describe('auth matrix', () => {
  const routes = [
    {
      method: 'POST' as const,
      url: '/v1/decisions',
      scope: 'decide',
      payload: { customerId: 'c', channel: 'web' },
    },
    { method: 'GET' as const, url: '/v1/customers/cust-1', scope: 'decide' },
    { method: 'GET' as const, url: '/v1/ruleset', scope: 'admin' },
    { method: 'POST' as const, url: '/v1/ruleset/reload', scope: 'admin' },
  ];
  const keys: Record<string, string[]> = {
    'agent-key': ['decide', 'feedback'],
    'ops-key': ['admin', 'report'],
    'report-key': ['report'],
  };
  for (const route of routes) {
    it(`${route.method} ${route.url}: 401 without a key or with a wrong one`, async () => {
      for (const headers of [
        {},
        auth('wrong-key'),
        { authorization: 'agent-key' },
        { authorization: 'Basic agent-key' },
      ]) {
        const res = await app.inject({
          method: route.method,
          url: route.url,
          headers,
          payload: route.payload,
        });
        expect(res.statusCode).toBe(401);
        expect(res.json().error.code).toBe('unauthorized');
      }
    });
    for (const [key, scopes] of Object.entries(keys)) {
      const allowed = scopes.includes(route.scope);
      it(`${route.method} ${route.url} with ${key}: ${allowed ? 'allowed' : '403'}`, async () => {
        const res = await app.inject({
          method: route.method,
          url: route.url,
          headers: auth(key),
          payload: route.payload,
        });
        if (allowed) expect(res.statusCode).toBe(200);
        else {
          expect(res.statusCode).toBe(403);
          expect(res.json().error.message).toContain(route.scope);
        }
      });
    }
  }
});

describe('bad input gets a 4xx that names the problem, and changes nothing', () => {
  const cases: { name: string; payload: string; contentType?: string; status: number; message: RegExp }[] = [
    { name: 'malformed JSON', payload: '{"customerId": "c1", ', status: 400, message: /JSON/i },
    { name: 'not an object', payload: '[1,2]', status: 400, message: /body must be object/ },
    { name: 'missing customerId', payload: '{"channel":"web"}', status: 400, message: /customerId/ },
    { name: 'missing channel', payload: '{"customerId":"c1"}', status: 400, message: /channel/ },
    {
      name: 'unknown channel',
      payload: '{"customerId":"c1","channel":"fax"}',
      status: 400,
      message: /body\.channel must be one of: call_center, web, mobile, sales_force, email/,
    },
    {
      name: 'wrong type',
      payload: '{"customerId":42,"channel":"web"}',
      status: 400,
      message: /body\.customerId must be string/,
    },
    {
      name: 'limit as string',
      payload: '{"customerId":"c1","channel":"web","limit":"3"}',
      status: 400,
      message: /limit/,
    },
    {
      name: 'limit too large',
      payload: '{"customerId":"c1","channel":"web","limit":500}',
      status: 400,
      message: /limit/,
    },
    {
      name: 'unknown field',
      payload: '{"customerId":"c1","channel":"web","foo":1}',
      status: 400,
      message: /unknown field 'foo'/,
    },
    {
      name: 'context with an object value',
      payload: '{"customerId":"c1","channel":"web","context":{"a":{"b":1}}}',
      status: 400,
      message: /context/,
    },
    {
      name: 'context key reaching for the prototype',
      payload: '{"customerId":"c1","channel":"web","context":{"__proto__":{"x":1}}}',
      status: 400,
      message: /not valid JSON/i,
    },
    { name: 'empty body', payload: '', status: 400, message: /body/i },
    {
      name: 'wrong content type',
      payload: 'customerId=c1',
      contentType: 'text/plain',
      status: 415,
      message: /Unsupported Media Type/i,
    },
    {
      name: 'oversized body',
      payload: JSON.stringify({ customerId: 'c1', channel: 'web', context: { pad: 'x'.repeat(70_000) } }),
      status: 413,
      message: /too large/i,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: { ...auth('agent-key'), 'content-type': c.contentType ?? 'application/json' },
        payload: c.payload,
      });
      expect(res.statusCode).toBe(c.status);
      const body = res.json();
      expect(body.error.message).toMatch(c.message);
      expect(typeof body.error.code).toBe('string');
    });
  }

  it('an unknown route is a 404 in the same error model', async () => {
    const res = await app.inject({ url: '/v1/nope', headers: auth('agent-key') });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not_found');
  });
});
