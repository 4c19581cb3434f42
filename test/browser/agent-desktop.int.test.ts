import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelIndex } from '../../src/domain/channel.js';
import type { FeedbackEvent, FeedbackType } from '../../src/feedback/feedback-event.js';
import { MemoryFeedbackLog } from '../../src/feedback/log/memory-feedback-log.js';
import type { CallOutcome } from '../../src/service/call-service.js';
import type { Dossier } from '../../src/service/dossier-service.js';
import type { Services } from '../../src/services.js';
import { demoWorld, listen, type TestServer, testServer } from '../helpers.js';
import { launchBrowser } from '../support/browser.js';

// The agent desktop (/agent/) in a real Chromium: sign in, subscribe over the WebSocket gateway,
// a CTI call pushes the caller and the offers, Accept goes back as feedback, the call ends; what
// purchases teach (stage, lifetime revenue, stage changes) shows on the call screen.

/** POST /v1/interactions/calls's answer (docs/channels.md). */
type CallAnswer = CallOutcome;

const AGENT = 'agent-7';
/** Customer of the demo population who gets a call-center offer from the example rules. */
const CUSTOMER = 'cust-7';
/** Nothing to pitch by phone at first; with the intent `card_issue`, the Gold re-issue. */
const CARD_ISSUE_CUSTOMER = 'cust-292';
const REISSUE_OFFER = 'card-gold-reissue-cc';
/** A customer no other test here touches: what purchases teach is all theirs. */
const RELATIONSHIP_CUSTOMER = 'cust-31';
const POLL = { timeout: 5_000, interval: 50 };
/** The desktop's amounts: two decimals, en-US grouping. */
const money = (n: number) =>
  new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(n);

describe('the agent desktop', () => {
  let server: TestServer;
  let app: FastifyInstance;
  let services: Services;
  let origin: string;
  let feedbackLog: MemoryFeedbackLog;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    server = await testServer({
      ...demoWorld(1000),
      OFFERLOOP_API_KEYS: 'desk-key=decide+feedback,cti-key=decide,report-key=report',
    });
    ({ app, services } = server);
    origin = `http://127.0.0.1:${await listen(app)}`;
    assert(services.feedbackLog instanceof MemoryFeedbackLog);
    feedbackLog = services.feedbackLog;
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(10_000);
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.close();
  });

  /** What telephony would send: a call event for POST /v1/interactions/calls, with the CTI's key. */
  async function callEvent(event: Record<string, unknown>): Promise<CallAnswer> {
    const res = await fetch(`${origin}/v1/interactions/calls`, {
      method: 'POST',
      headers: { authorization: 'Bearer cti-key', 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as CallAnswer;
  }

  function recorded(type: FeedbackType, decisionId: string): FeedbackEvent[] {
    return feedbackLog
      .entries()
      .flatMap((e) =>
        e.kind === 'feedback' && e.event.type === type && e.event.decisionId === decisionId ? [e.event] : [],
      );
  }

  function talkTrackOf(offerId: string): string | undefined {
    const creative = services.rules.current.offerById.get(offerId)?.creatives[channelIndex('call_center')];
    return creative && 'talkTrack' in creative ? creative.talkTrack : undefined;
  }

  async function signIn(page: Page, agentId: string, key: string): Promise<void> {
    await page.goto(`${origin}/agent/`);
    await page.getByLabel('Agent id').fill(agentId);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  it('shows a call with its offers, sends Accept as feedback, and clears at the end', async () => {
    const page = await context.newPage();
    await signIn(page, AGENT, 'desk-key');
    const status = page.locator('#status');
    await page.locator('#status[data-state="connected"]').waitFor();
    expect(await status.textContent()).toContain('Connected');
    expect(await page.locator('#call [data-offer-id]').count()).toBe(0);

    // The call starts: the push reaches this desktop, which shows the caller and the offers.
    const started = await callEvent({
      type: 'call.started',
      callId: 'c-1',
      agentId: AGENT,
      customerId: CUSTOMER,
    });
    expect(started).toMatchObject({
      event: 'call.started',
      customerId: CUSTOMER,
      customerKnown: true,
      sessions: 1,
    });
    assert(started.decisionId !== null);
    expect(started.offers.length).toBeGreaterThan(0);
    const call = page.locator('#call');
    await call.locator(`[data-offer-id="${started.offers[0]}"]`).waitFor();
    expect(await call.getByRole('heading', { level: 2 }).textContent()).toContain(CUSTOMER);
    expect(await call.getByText(CUSTOMER, { exact: true }).count()).toBeGreaterThan(0);
    await expect
      .poll(() => page.locator('#announcer').textContent(), POLL)
      .toBe(`Incoming call: ${CUSTOMER}`);
    expect(await page.locator('#announcer').getAttribute('aria-live')).toBe('assertive');
    expect(await call.locator('[data-offer-id]').count()).toBe(started.offers.length);
    for (const offerId of started.offers) {
      const offer = call.locator(`[data-offer-id="${offerId}"]`);
      expect(await offer.getAttribute('data-decision-id')).toBe(started.decisionId);
      const talkTrack = talkTrackOf(offerId);
      assert(talkTrack !== undefined, `${offerId} has a talk track`);
      expect(await offer.locator('.talk-track').textContent()).toBe(talkTrack);
      expect(await offer.getByRole('button', { name: 'Accept' }).isEnabled()).toBe(true);
      expect(await offer.getByRole('button', { name: 'Reject' }).isEnabled()).toBe(true);
    }

    // Accept the first offer: one accept event for that decision and offer, and the UI says so.
    const first = call.locator(`[data-offer-id="${started.offers[0]}"]`);
    await first.getByRole('button', { name: 'Accept' }).click();
    await expect.poll(() => first.locator('.offer-status').textContent(), POLL).toBe('Accepted');
    expect(await first.getByRole('button', { name: 'Accept' }).isDisabled()).toBe(true);
    expect(await first.getByRole('button', { name: 'Reject' }).isDisabled()).toBe(true);
    const accepted = recorded('accept', started.decisionId);
    expect(accepted).toHaveLength(1);
    expect(accepted[0]).toMatchObject({ offerId: started.offers[0], customerId: CUSTOMER, type: 'accept' });

    // The call ends: back to waiting.
    const ended = await callEvent({ type: 'call.ended', callId: 'c-1' });
    expect(ended).toMatchObject({ event: 'call.ended', sessions: 1 });
    await call.getByRole('heading', { name: 'Waiting for a call' }).waitFor();
    expect(await call.locator('[data-offer-id]').count()).toBe(0);
    expect(await page.locator('#status[data-state="connected"]').count()).toBe(1);
    await page.close();
  });

  it('replaces the offers on call.context, shows the reason, and sends Reject', async () => {
    const page = await context.newPage();
    await signIn(page, AGENT, 'desk-key');
    await page.locator('#status[data-state="connected"]').waitFor();
    const call = page.locator('#call');

    // A caller with nothing to pitch at first…
    const started = await callEvent({
      type: 'call.started',
      callId: 'c-2',
      agentId: AGENT,
      customerId: CARD_ISSUE_CUSTOMER,
    });
    expect(started.offers).toEqual([]);
    await call.getByText('No offers for this caller right now.').waitFor();
    expect(await call.getByRole('heading', { level: 2 }).textContent()).toContain(CARD_ISSUE_CUSTOMER);

    // …until the agent learns why they call: the new decision's offer replaces "no offers".
    const context1 = await callEvent({
      type: 'call.context',
      callId: 'c-2',
      reason: 'lost my card',
      intent: 'card_issue',
    });
    expect(context1).toMatchObject({ event: 'call.context', offers: [REISSUE_OFFER], sessions: 1 });
    assert(context1.decisionId !== null);
    const offer = call.locator(`[data-offer-id="${REISSUE_OFFER}"]`);
    await offer.waitFor();
    expect(await offer.getAttribute('data-decision-id')).toBe(context1.decisionId);
    expect(await call.getByText('No offers for this caller right now.').count()).toBe(0);
    const contextLine = call.locator('.context');
    expect(await contextLine.textContent()).toContain('lost my card');
    expect(await contextLine.textContent()).toContain('card_issue');
    expect(await offer.locator('.talk-track').textContent()).toBe(talkTrackOf(REISSUE_OFFER));

    // Reject: recorded against the decision of call.context, shown as rejected.
    await offer.getByRole('button', { name: 'Reject' }).click();
    await expect.poll(() => offer.locator('.offer-status').textContent(), POLL).toBe('Rejected');
    expect(await offer.getByRole('button', { name: 'Accept' }).isDisabled()).toBe(true);
    expect(recorded('reject', context1.decisionId)).toMatchObject([
      { offerId: REISSUE_OFFER, customerId: CARD_ISSUE_CUSTOMER, type: 'reject' },
    ]);

    await callEvent({ type: 'call.ended', callId: 'c-2' });
    await call.getByRole('heading', { name: 'Waiting for a call' }).waitFor();
    expect(await call.getByText('lost my card').count()).toBe(0);
    await page.close();
  });

  /**
   * What the order system would send: a purchase of `productId` by the caller, now, on `channel`
   * (the contact history records an outcome credited to no offer only when it names its channel).
   */
  async function purchase(eventId: string, productId: string, value: number, channel: string): Promise<void> {
    const res = await fetch(`${origin}/v1/feedback`, {
      method: 'POST',
      headers: { authorization: 'Bearer desk-key', 'content-type': 'application/json' },
      body: JSON.stringify({
        events: [{ eventId, customerId: RELATIONSHIP_CUSTOMER, type: 'purchase', productId, value, channel }],
      }),
    });
    expect(res.status, await res.clone().text()).toBe(202);
    expect(await res.json()).toMatchObject({ results: [{ eventId, status: 'accepted' }] });
  }

  async function dossier(customerId: string): Promise<Dossier> {
    const res = await fetch(`${origin}/v1/customers/${customerId}`, {
      headers: { authorization: 'Bearer desk-key' },
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Dossier;
  }

  it('shows the relationship purchases taught: stage, lifetime revenue, stage changes and purchases in the journey', async () => {
    const [first, second] = [...new Set(services.rules.current.offers.map((o) => o.productId))]
      .filter((p) => !services.rules.current.offers.some((o) => o.productId === p && o.holdsOnAccept))
      .slice(0, 2);
    assert(first !== undefined && second !== undefined, 'the example rules offer two products');
    const before = (await dossier(RELATIONSHIP_CUSTOMER)).relationship;

    // A purchase before the call: the profile learns it, and the call's dossier shows it.
    await purchase('ord-desk-1', first, 1250, 'web');
    const after = (await dossier(RELATIONSHIP_CUSTOMER)).relationship;
    expect(after).toMatchObject({
      lifetimeRevenue: before.lifetimeRevenue + 1250,
      purchases: before.purchases + 1,
      stage: { source: 'recorded' },
    });
    assert(after.stage !== null);
    const stageName = services.rules.current.lifecycle.find((s) => s.id === after.stage?.id)?.name;
    expect(after.stage.name).toBe(stageName);
    expect(after.transitions[0]?.cause).toContain('ord-desk-1');

    const page = await context.newPage();
    await signIn(page, AGENT, 'desk-key');
    await page.locator('#status[data-state="connected"]').waitFor();
    await callEvent({
      type: 'call.started',
      callId: 'c-5',
      agentId: AGENT,
      customerId: RELATIONSHIP_CUSTOMER,
    });
    const relationship = page.locator('#call').getByRole('region', { name: 'Relationship' });
    const field = (name: string) => relationship.locator(`[data-field="${name}"]`);
    await field('stage').waitFor();
    expect(await field('stage').getAttribute('data-stage')).toBe(after.stage.id);
    expect(await field('stage').textContent()).toContain(after.stage.name);
    expect(await field('lifetime-revenue').textContent()).toBe(money(after.lifetimeRevenue));
    expect(await field('products-held').textContent()).toBe(String(after.productsHeld));
    expect(await field('last-purchase').locator('time').getAttribute('datetime')).toBe(after.lastPurchaseAt);
    const changes = relationship.locator('.transitions li');
    expect(await changes.count()).toBe(Math.min(3, after.transitions.length));
    expect(await changes.first().textContent()).toContain(after.stage.name);
    const journey = page.locator('#call').getByRole('region', { name: 'Journey' });
    expect(await journey.locator('li[data-type="purchase"]').first().textContent()).toContain(first);
    expect(await journey.locator('li[data-type="held_out"]').count()).toBe(0);

    // A purchase during the call: the next call.context pushes the dossier read again.
    await purchase('ord-desk-2', second, 80.5, 'call_center');
    await callEvent({ type: 'call.context', callId: 'c-5', intent: 'order_status' });
    await expect
      .poll(() => field('lifetime-revenue').textContent(), POLL)
      .toBe(money(after.lifetimeRevenue + 80.5));
    expect(await journey.locator('li[data-type="purchase"]').first().textContent()).toContain(second);
    expect(await journey.locator('li[data-type="purchase"]').count()).toBeGreaterThanOrEqual(2);

    await callEvent({ type: 'call.ended', callId: 'c-5' });
    await page.close();
  });

  it('reconnects and subscribes again when the connection drops', async () => {
    const sockets: Duplex[] = [];
    const onUpgrade = (_request: unknown, socket: Duplex) => sockets.push(socket);
    app.server.on('upgrade', onUpgrade);
    try {
      const page = await context.newPage();
      await signIn(page, 'agent-8', 'desk-key');
      await page.locator('#status[data-state="connected"]').waitFor();
      expect(sockets).toHaveLength(1);

      // The connection dies without a close frame (as when a server or a network goes away).
      sockets[0]!.destroy();
      await page.locator('#status[data-state="reconnecting"]').waitFor();
      await page.locator('#status[data-state="connected"]').waitFor();
      expect(sockets).toHaveLength(2);

      // Subscribed again: the next call reaches the desktop.
      const started = await callEvent({
        type: 'call.started',
        callId: 'c-3',
        agentId: 'agent-8',
        customerId: CUSTOMER,
      });
      expect(started.sessions).toBe(1);
      await page
        .locator('#call')
        .getByRole('heading', { name: `Call with ${CUSTOMER}` })
        .waitFor();
      await callEvent({ type: 'call.ended', callId: 'c-3' });
      await page.close();
    } finally {
      app.server.off('upgrade', onUpgrade);
    }
  });

  it('shows why a key is refused and does not keep retrying', async () => {
    const page = await context.newPage();
    const upgrades: string[] = [];
    page.on('websocket', (ws) => upgrades.push(ws.url()));

    await signIn(page, AGENT, 'not-a-key');
    const error = page.locator('#sign-in-error');
    await error.waitFor({ state: 'visible' });
    expect(await error.textContent()).toContain('not accepted');
    expect(await page.locator('#status').getAttribute('data-state')).toBe('signed-out');

    // A key without the decide scope is refused as well, with its own reason.
    await page.getByLabel('API key').fill('report-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => error.textContent(), POLL).toContain('decide scope');
    await page.waitForTimeout(1_000);
    expect(upgrades).toHaveLength(2);
    await page.close();
  });
});
