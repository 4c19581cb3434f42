import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dossier } from '../../src/service/dossier-service.js';
import type { Services } from '../../src/services.js';
import { demoWorld, listen, type TestServer, testServer } from '../helpers.js';
import { launchBrowser } from '../support/browser.js';

// The caller's journey on the agent desktop (/agent/) in a real Chromium: a visitor sees a web offer,
// leaves their e-mail (a lead), logs in (the visitor id is linked to the customer) and buys; when the
// customer calls, the call screen shows those steps newest first, and a call.context shows what
// happened since. The clock is the test's: each step a minute after the last, so every step has a
// time of its own and the order is the journey's, not the machine's.

const T0 = Date.parse('2026-11-22T12:00:00Z');
const MINUTE = 60_000;
const AGENT = 'agent-journey';
/** A customer of the demo population no other test here touches. */
const CUSTOMER = 'cust-12';
const VISITOR = 'v-0a1b2c3d4e5f60718293a4b5c6d7e8f9';
const POLL = { timeout: 5_000, interval: 50 };
const iso = (ms: number) => new Date(ms).toISOString();

describe('the journey on the agent desktop', () => {
  let now = T0;
  let server: TestServer;
  let services: Services;
  let origin: string;
  let browser: Browser;

  beforeAll(async () => {
    server = await testServer(
      { ...demoWorld(200), OFFERLOOP_API_KEYS: 'desk-key=decide+feedback,cti-key=decide' },
      () => now,
    );
    services = server.services;
    origin = `http://127.0.0.1:${await listen(server.app)}`;
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function post(path: string, key: string, body: unknown): Promise<Response> {
    return fetch(`${origin}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  async function feedback(event: Record<string, unknown>): Promise<void> {
    const res = await post('/v1/feedback', 'desk-key', { events: [event] });
    expect(res.status, await res.clone().text()).toBe(202);
    expect(await res.json()).toMatchObject({ results: [{ eventId: event.eventId, status: 'accepted' }] });
  }

  async function callEvent(event: Record<string, unknown>): Promise<void> {
    const res = await post('/v1/interactions/calls', 'cti-key', event);
    expect(res.status, await res.clone().text()).toBe(200);
  }

  async function dossier(): Promise<Dossier> {
    const res = await fetch(`${origin}/v1/customers/${CUSTOMER}`, {
      headers: { authorization: 'Bearer desk-key' },
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Dossier;
  }

  async function openDesktop(): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(10_000);
    await page.goto(`${origin}/agent/`);
    await page.getByLabel('Agent id').fill(AGENT);
    await page.getByLabel('API key').fill('desk-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#status[data-state="connected"]').waitFor();
    return page;
  }

  it('shows the web offer, the lead, the identified visitor and the purchase, newest first, and what follows', async () => {
    const products = [...new Set(services.rules.current.offers.map((o) => o.productId))];
    const [bought, boughtDuringCall] = products;
    assert(bought !== undefined && boughtDuringCall !== undefined, 'the example rules offer two products');

    // A visitor nobody knows yet sees a web offer on the home page…
    const shownAt = now;
    const res = await post('/v1/decisions', 'desk-key', {
      customerId: VISITOR,
      channel: 'web',
      placement: 'home-hero',
      limit: 1,
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const decision = (await res.json()) as { offers: { offerId: string }[] };
    expect(decision.offers).toHaveLength(1);
    const shown = services.rules.current.offerById.get(decision.offers[0]!.offerId);
    assert(shown !== undefined);

    // …leaves their e-mail (a lead), logs in as the customer (the link), and buys.
    now += MINUTE;
    const leadAt = now;
    await feedback({
      eventId: 'lead-journey-1',
      customerId: VISITOR,
      type: 'lead',
      channel: 'web',
      attributes: { email: 'ann@example.com' },
    });
    now += MINUTE;
    const linkedAt = now;
    const link = await post('/v1/identities', 'desk-key', { anonymousId: VISITOR, customerId: CUSTOMER });
    expect(link.status, await link.clone().text()).toBe(201);
    now += MINUTE;
    const boughtAt = now;
    await feedback({
      eventId: 'ord-journey-1',
      customerId: CUSTOMER,
      type: 'purchase',
      productId: bought,
      value: 120,
      channel: 'web',
    });

    // The dossier holds them, newest first (stage changes between them).
    const steps = (await dossier()).journey.filter((s) => s.kind !== 'stage');
    expect(steps.map((s) => [s.kind, s.type ?? null, s.at])).toEqual([
      ['outcome', 'purchase', iso(boughtAt)],
      ['identified', null, iso(linkedAt)],
      ['outcome', 'lead', iso(leadAt)],
      ['offer', null, iso(shownAt)],
    ]);

    // The customer calls: the desktop's journey shows the same steps, in the same order.
    now += MINUTE;
    const page = await openDesktop();
    await callEvent({ type: 'call.started', callId: 'c-journey', agentId: AGENT, customerId: CUSTOMER });
    const journey = page.locator('#call').getByRole('region', { name: 'Journey' });
    await journey.locator('li[data-kind="identified"]').waitFor();
    const lines = journey.locator('li');
    const kinds = await lines.evaluateAll((els) =>
      els.map((el) => `${el.getAttribute('data-kind')}:${el.getAttribute('data-type') ?? ''}`),
    );
    const times = await lines.evaluateAll((els) =>
      els.map((el) => el.querySelector('time')?.getAttribute('datetime') ?? ''),
    );
    // The call's own offers, decided as it started, may come first: the steps before it follow in order.
    const ours = kinds.flatMap((k, i) => (k.startsWith('stage:') || times[i] === iso(now) ? [] : [k]));
    expect(ours).toEqual(['outcome:purchase', 'identified:', 'outcome:lead', 'offer:']);

    const line = (kind: string, type?: string) =>
      journey.locator(
        type === undefined ? `li[data-kind="${kind}"]` : `li[data-kind="${kind}"][data-type="${type}"]`,
      );
    const purchase = line('outcome', 'purchase');
    expect(await purchase.locator('time').getAttribute('datetime')).toBe(iso(boughtAt));
    expect(await purchase.textContent()).toContain('Purchased');
    expect(await purchase.textContent()).toContain(bought);
    const identified = line('identified');
    expect(await identified.locator('time').getAttribute('datetime')).toBe(iso(linkedAt));
    expect(await identified.textContent()).toContain(`Identified · from visitor id ${VISITOR}`);
    const lead = line('outcome', 'lead');
    expect(await lead.locator('time').getAttribute('datetime')).toBe(iso(leadAt));
    expect(await lead.textContent()).toContain('Lead');
    expect(await lead.textContent()).toContain('(web)');
    const offer = line('offer').filter({ has: page.locator(`time[datetime="${iso(shownAt)}"]`) });
    expect(await offer.textContent()).toContain('Shown');
    expect(await offer.textContent()).toContain(shown.campaign.name);
    expect(await offer.textContent()).toContain('(web / home-hero)');
    // The stage changes the lead and the purchase caused read with the ruleset's names.
    const stageNames = services.rules.current.lifecycle.map((s) => s.name);
    const stageLines = await journey.locator('li[data-kind="stage"] .stage-change').allTextContents();
    expect(stageLines.length).toBeGreaterThan(0);
    for (const text of stageLines) expect(stageNames.some((name) => text.endsWith(`→ ${name}`))).toBe(true);

    // A purchase during the call: the next call.context brings it to the top of the journey.
    now += MINUTE;
    const boughtDuringCallAt = now;
    await feedback({
      eventId: 'ord-journey-2',
      customerId: CUSTOMER,
      type: 'purchase',
      productId: boughtDuringCall,
      value: 40,
      channel: 'call_center',
    });
    now += MINUTE;
    await callEvent({ type: 'call.context', callId: 'c-journey', intent: 'order_status' });
    const latest = line('outcome', 'purchase').filter({
      has: page.locator(`time[datetime="${iso(boughtDuringCallAt)}"]`),
    });
    await latest.waitFor(POLL);
    expect(await latest.textContent()).toContain(boughtDuringCall);
    expect(await latest.textContent()).toContain('(call center)');

    await callEvent({ type: 'call.ended', callId: 'c-journey' });
    await page.close();
  });
});
