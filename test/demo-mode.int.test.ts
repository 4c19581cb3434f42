import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { buildServer } from '../src/server.js';
import { createServices, type Services } from '../src/services.js';
import { EXAMPLE_RULES, postDecision, testLog } from './helpers.js';

// What `npm start` serves: the example rules and a generated population, with the demo key.
let app: FastifyInstance;
let services: Services;

beforeAll(async () => {
  const config = loadConfig({
    OFFERLOOP_RULES: EXAMPLE_RULES,
    OFFERLOOP_DEMO_CUSTOMERS: '2000',
    OFFERLOOP_WATCH_RULES: 'false',
  });
  services = await createServices(config, testLog);
  app = await buildServer(config, services, testLog);
});
afterAll(async () => {
  await app.close();
  await services.close();
});

const demo = { authorization: 'Bearer demo' };

describe('the embedded demo', () => {
  it('generates customers cust-1 … cust-N with affinities for the products the rules offer', async () => {
    expect(await services.profiles.count()).toBe(2000);
    const { profile } = await services.profiles.get('cust-2000');
    const offered = new Set(services.rules.current.offers.map((o) => o.productId));
    expect(profile?.affinities.size).toBeGreaterThan(0);
    for (const product of profile?.affinities.keys() ?? []) expect(offered.has(product)).toBe(true);
  });

  it('accepts the demo key for every scope', async () => {
    const decision = await postDecision(app, 'demo', { customerId: 'cust-42', channel: 'web' });
    expect(decision.statusCode).toBe(200);
    expect((await app.inject({ url: '/v1/ruleset', headers: demo })).statusCode).toBe(200);
  });

  it('gives most customers an offer on every channel', async () => {
    for (const channel of ['call_center', 'web', 'mobile', 'sales_force', 'email']) {
      let withOffers = 0;
      for (let i = 1; i <= 100; i++) {
        const res = await app.inject({
          method: 'POST',
          url: '/v1/decisions',
          headers: demo,
          payload: { customerId: `cust-${i}`, channel },
        });
        if (res.json().offers.length > 0) withOffers++;
      }
      // Email needs consent, which most demo customers have not given; the rest should mostly get offers.
      expect(withOffers, channel).toBeGreaterThan(channel === 'email' ? 10 : 50);
    }
  });

  it('has a default banner for a visitor nobody knows', async () => {
    const res = await postDecision(app, 'demo', {
      customerId: 'visitor-123',
      channel: 'web',
      placement: 'home-hero',
    });
    expect(res.json()).toMatchObject({
      customerKnown: false,
      offers: [{ offerId: 'mobile-banking-activate-web' }],
    });
  });

  it('serves the docs page without a key, since no keys are configured', async () => {
    const res = await app.inject({ url: '/docs' });
    expect([200, 302]).toContain(res.statusCode);
    expect((await app.inject({ url: '/docs/json' })).json().info.title).toBe('Offerloop');
  });
});
