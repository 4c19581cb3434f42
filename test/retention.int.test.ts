import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CampaignReport } from '../src/evaluation/campaign-report.js';
import { demoWorld, type TestServer, testServer } from './helpers.js';

// Retention end to end: a decision shows a customer an offer (an episode of its campaign opens), the
// core system reports a cancel; the customer loop counts it once against the episode
// (customerCancels), records it in the customer's history, and a second cancel in the episode
// counts nothing more. The campaign report carries the count the retention KPI is made of.

const NOW = Date.parse('2026-11-22T12:00:00Z');
const KEYS = 'agent-key=decide+feedback,report-key=report';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** The server's clock: decisions at NOW, the cancels an hour later. */
let now = NOW;
let server: TestServer;
const app = (): FastifyInstance => server.app;

beforeAll(async () => {
  server = await testServer({ ...demoWorld(200), OFFERLOOP_API_KEYS: KEYS }, () => now);
});
afterAll(async () => {
  await server?.close();
});

async function report(campaignId: string): Promise<CampaignReport> {
  const res = await app().inject({
    url: `/v1/reports/campaigns/${campaignId}`,
    headers: bearer('report-key'),
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

/** Polls the campaign's report until `done` holds (the customer loop runs behind the feedback log). */
async function reportWhen(campaignId: string, done: (r: CampaignReport) => boolean): Promise<CampaignReport> {
  for (let i = 0; i < 200; i++) {
    const r = await report(campaignId);
    if (done(r)) return r;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(
    `the report of ${campaignId} never got there: ${JSON.stringify((await report(campaignId)).totals)}`,
  );
}

describe('retention: a cancel during a campaign episode', () => {
  it('counts once per episode in customerCancels, and is recorded in the history', async () => {
    // The first demo customer shown an offer on the web.
    let shown: { customerId: string; offerId: string; campaignId: string } | null = null;
    for (let n = 1; shown === null && n <= 200; n++) {
      const res = await app().inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: bearer('agent-key'),
        payload: { customerId: `cust-${n}`, channel: 'web' },
      });
      expect(res.statusCode, res.body).toBe(200);
      const offer = res.json().offers[0];
      if (offer) shown = { customerId: `cust-${n}`, offerId: offer.offerId, campaignId: offer.campaignId };
    }
    expect(shown).not.toBeNull();
    const { customerId, campaignId } = shown!;
    const before = await reportWhen(campaignId, (r) => r.totals.customers > 0);
    expect(before.totals.customerCancels).toBe(0);

    now = NOW + 60 * 60_000;
    const product = server.services.rules.current.offerById.get(shown!.offerId)!.productId;
    const cancel = (eventId: string, minutes: number) => ({
      eventId,
      customerId,
      type: 'cancel',
      productId: product,
      source: 'core-banking',
      timestamp: new Date(NOW + minutes * 60_000).toISOString(),
    });
    const sent = await app().inject({
      method: 'POST',
      url: '/v1/feedback',
      headers: bearer('agent-key'),
      payload: { events: [cancel('cx-1', 5)] },
    });
    expect(sent.statusCode, sent.body).toBe(202);
    const after = await reportWhen(campaignId, (r) => r.totals.customerCancels > 0);
    expect(after.totals.customerCancels).toBe(1);
    expect(after.totals.controlCustomerCancels).toBe(0);

    // A second cancel in the same episode: the episode is counted already.
    const again = await app().inject({
      method: 'POST',
      url: '/v1/feedback',
      headers: bearer('agent-key'),
      payload: { events: [cancel('cx-2', 10)] },
    });
    expect(again.json().results, again.body).toEqual([{ eventId: 'cx-2', status: 'accepted' }]);
    // The loop is done with it once the history holds both cancels.
    const cancels = async () =>
      (await server.services.history.read(customerId)).events.filter((e) => e.outcome === 'cancel').length;
    for (let i = 0; i < 200 && (await cancels()) < 2; i++)
      await new Promise((resolve) => setTimeout(resolve, 25));
    expect(await cancels()).toBe(2);
    expect((await report(campaignId)).totals.customerCancels).toBe(1);
  });
});
