import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../src/service/webhook-signature.js';
import { listen, type TestServer, testServer } from './helpers.js';
import {
  auth,
  eventually,
  loadRecords,
  type OfferloopNode,
  type RedisTarget,
  redisDeployments,
  startNode,
} from './support/offerloop-node.js';
import { WebhookReceiver } from './support/webhook-receiver.js';
import { TestWsClient } from './support/ws-client.js';

// Real-time triggers end to end: events over HTTP and WebSocket, a decision on the trigger's channel,
// the push to the adviser's desktop (a real socket), and signed webhooks to a real HTTP receiver.

const RULES = fileURLToPath(new URL('./fixtures/trigger-rules', import.meta.url));
const PROFILES = fileURLToPath(new URL('./fixtures/trigger-profiles.ndjson', import.meta.url));
const NOW = Date.parse('2026-11-22T12:00:00Z');
const SECRET = 'crm-secret-0123456789';

const webhookEnv = (crm: WebhookReceiver, broken: WebhookReceiver) => ({
  OFFERLOOP_RULES: RULES,
  OFFERLOOP_WEBHOOKS: `crm=${crm.url},broken=${broken.url}`,
  OFFERLOOP_WEBHOOK_SECRET_CRM: SECRET,
  OFFERLOOP_WEBHOOK_SECRET_BROKEN: 'broken-secret-0123456789',
  OFFERLOOP_WEBHOOK_RETRY_BASE_MS: '20',
  OFFERLOOP_WEBHOOK_POLL_MS: '20',
  OFFERLOOP_WEBHOOK_MAX_ATTEMPTS: '3',
});

const cart = (eventId: string, customerId: string, cartValue = 120) => ({
  eventId,
  type: 'cart.abandoned',
  customerId,
  attributes: { cartValue },
});

const pushes = (client: TestWsClient) => client.received.filter((m) => m.type === 'trigger');

describe('triggers on one server', () => {
  let server: TestServer;
  let crm: WebhookReceiver;
  let broken: WebhookReceiver;
  let adviser: TestWsClient;

  beforeAll(async () => {
    // The CRM's receiver fails twice, then takes deliveries; the other never does.
    [crm, broken] = await Promise.all([WebhookReceiver.start([503, 500, 200]), WebhookReceiver.start([500])]);
    server = await testServer({ ...webhookEnv(crm, broken), OFFERLOOP_PROFILES: PROFILES }, () => NOW);
    const port = await listen(server.app);
    adviser = await TestWsClient.open(`ws://127.0.0.1:${port}/v1/ws`, { key: 'demo' });
    expect((await adviser.request({ type: 'subscribe', adviserId: 'adv-1' })).result).toEqual({
      topic: 'adviser:adv-1',
    });
  });
  afterAll(async () => {
    adviser?.close();
    await server?.close();
    await Promise.all([crm?.close(), broken?.close()]);
  });

  const post = (events: object[], key = 'demo') =>
    server.app.inject({ method: 'POST', url: '/v1/events', headers: auth(key), payload: { events } });

  it('a cart.abandoned event pushes the decision to the adviser the profile names, and to the webhook that failed twice', async () => {
    const answer = await post([cart('e-1', 'c-1')]);
    expect(answer.statusCode).toBe(200);
    const [receipt] = answer.json().results;
    expect(receipt).toMatchObject({
      eventId: 'e-1',
      status: 'triggered',
      triggerId: 'big-cart',
      offers: ['cart-loan'],
      adviserId: 'adv-1',
      sessions: 1,
      webhooks: 1,
    });
    const push = await adviser.next((m) => m.type === 'trigger' && m.eventId === 'e-1');
    expect(push).toMatchObject({
      eventType: 'cart.abandoned',
      triggerId: 'big-cart',
      customerId: 'c-1',
      adviserId: 'adv-1',
      attributes: { cartValue: 120 },
      decision: { decisionId: receipt.decisionId, channel: 'sales_force' },
    });

    // Third time lucky: two failures, then the delivery, every try signed the same way.
    const tries = await crm.requests(3);
    expect(tries.map((t) => t.status)).toEqual([503, 500, 200]);
    for (const t of tries) {
      expect(t.headers['offerloop-delivery']).toBe(`${receipt.decisionId}:crm`);
      const signature = t.headers['offerloop-signature'] as string;
      expect(verifySignature(SECRET, signature, t.body, Math.floor(Date.now() / 1000))).toBe(true);
      expect(verifySignature('another-secret-456789', signature, t.body, Math.floor(Date.now() / 1000))).toBe(
        false,
      );
    }
    expect(JSON.parse(tries[2]!.body)).toMatchObject({ type: 'trigger', eventId: 'e-1', customerId: 'c-1' });
    await eventually(async () => expect(server.services.webhooks.stats.delivered).toBe(1));
  });

  it('the same event id again triggers nothing and pushes nothing', async () => {
    const before = pushes(adviser).length;
    const [receipt] = (await post([cart('e-1', 'c-1')])).json().results;
    expect(receipt).toEqual({ eventId: 'e-1', status: 'duplicate' });
    // The socket is ordered: a push sent before the answer would have arrived before it.
    await adviser.request({ type: 'ping' });
    expect(pushes(adviser).length).toBe(before);
  });

  it('the contact policy suppresses a second trigger within its window (one sales_force contact a day)', async () => {
    const [receipt] = (await post([cart('e-2', 'c-1')])).json().results;
    expect(receipt).toMatchObject({
      eventId: 'e-2',
      status: 'suppressed',
      triggerId: 'big-cart',
      offers: [],
    });
  });

  it('answers no_trigger, unknown_customer, and triggered per event of a batch, in order', async () => {
    const answer = await post([
      cart('e-3', 'c-2', 10),
      { eventId: 'e-4', type: 'page.viewed', customerId: 'c-2' },
      cart('e-5', 'nobody'),
      cart('e-6', 'c-2'),
    ]);
    expect(answer.json().results.map((r: { status: string }) => r.status)).toEqual([
      'no_trigger',
      'no_trigger',
      'unknown_customer',
      'triggered',
    ]);
    // c-2 has no adviser: the decision went to the customer's subscribers (none) and the webhook.
    expect(answer.json().results[3]).toMatchObject({ adviserId: null, sessions: 0, webhooks: 1 });
  });

  it("a book loaded by the CRM routes the customer's triggers to that adviser, over WebSocket events too", async () => {
    const put = await server.app.inject({
      method: 'PUT',
      url: '/v1/advisers/adv-2/book',
      headers: auth('demo'),
      payload: { customers: ['c-3', 'c-5'] },
    });
    expect(put.json()).toEqual({ adviserId: 'adv-2', customers: 2 });
    await adviser.request({ type: 'subscribe', adviserId: 'adv-2' });
    const answer = await adviser.request({ type: 'events', events: [cart('e-7', 'c-3')] });
    expect(answer.result).toMatchObject({ results: [{ status: 'triggered', adviserId: 'adv-2' }] });
    const push = await adviser.next((m) => m.type === 'trigger' && m.eventId === 'e-7');
    expect(push.adviserId).toBe('adv-2');
  });

  it("an adviser's customers to contact today: ranked previews within caps and consent, nothing recorded", async () => {
    await server.app.inject({
      method: 'PUT',
      url: '/v1/advisers/adv-3/book',
      headers: auth('demo'),
      payload: { customers: ['c-1', 'c-2', 'c-4', 'nobody'] },
    });
    const today = async () =>
      (
        await server.app.inject({
          method: 'GET',
          url: '/v1/advisers/adv-3/today?limit=5',
          headers: auth('demo'),
        })
      ).json();
    const first = await today();
    // c-1 and c-2 were contacted on sales_force today (its limit: one a day); `nobody` has no profile.
    expect(first).toMatchObject({ adviserId: 'adv-3', channel: 'sales_force', bookSize: 4 });
    expect(first.customers.map((c: { customerId: string }) => c.customerId)).toEqual(['c-4']);
    expect(first.customers[0]).toMatchObject({ offerId: 'cart-loan', campaignId: 'cart-rescue' });
    expect(first.withoutAction).toBe(3);
    // A preview records nothing: asked again, the same list.
    expect(await today()).toEqual(first);
  });

  it('a webhook that keeps failing is dead-lettered after the last try', async () => {
    const [receipt] = (
      await post([
        { eventId: 'e-8', type: 'transaction.large', customerId: 'c-5', attributes: { amount: 9000 } },
      ])
    ).json().results;
    expect(receipt).toMatchObject({ status: 'triggered', webhooks: 1 });
    await broken.requests(3);
    await eventually(async () => {
      const dead = await server.app.inject({
        method: 'GET',
        url: '/v1/webhooks/dead-letters',
        headers: auth('demo'),
      });
      expect(dead.json().deadLetters).toMatchObject([
        { id: `${receipt.decisionId}:broken`, webhook: 'broken', attempts: 3, lastError: 'HTTP 500' },
      ]);
    });
    expect(broken.received).toHaveLength(3);
  });

  it('bad input is a 400 naming the field, and nothing is recorded', async () => {
    const answer = await post([{ eventId: 'e-9', type: 'Cart Abandoned!', customerId: 'c-2' }]);
    expect(answer.statusCode).toBe(400);
    expect(answer.json().error.message).toMatch(/type/);
    const again = await post([cart('e-9', 'c-5', 60)]);
    expect(again.json().results[0].status).not.toBe('duplicate');
  });

  it('needs the decide scope', async () => {
    const bad = await server.app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: { events: [cart('x', 'c-1')] },
    });
    expect(bad.statusCode).toBe(401);
  });
});

describe.each(redisDeployments())('triggers across two servers on %s', (_name, makeTarget) => {
  let target: RedisTarget;
  let a: OfferloopNode;
  let b: OfferloopNode;
  let crm: WebhookReceiver;
  let broken: WebhookReceiver;
  let adviser: TestWsClient;

  beforeAll(async () => {
    target = makeTarget();
    [crm, broken] = await Promise.all([WebhookReceiver.start([500, 200]), WebhookReceiver.start([500])]);
    await loadRecords(target, [
      { id: 'c-1', attributes: { adviserId: 'adv-1' }, consent: { sales_force: true } },
      { id: 'c-2', attributes: {}, consent: { sales_force: true } },
      { id: 'c-3', attributes: {}, consent: { sales_force: true } },
    ]);
    [a, b] = await Promise.all([
      startNode(target, webhookEnv(crm, broken)),
      startNode(target, webhookEnv(crm, broken)),
    ]);
    const port = await listen(b.app);
    adviser = await TestWsClient.open(`ws://127.0.0.1:${port}/v1/ws`, { key: 'agent-key' });
    await adviser.request({ type: 'subscribe', adviserId: 'adv-1' });
  });
  afterAll(async () => {
    adviser?.close();
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all([crm?.close(), broken?.close()]);
  });

  const post = (node: OfferloopNode, events: object[]) =>
    node.app.inject({ method: 'POST', url: '/v1/events', headers: auth('agent-key'), payload: { events } });

  it("an event on server A reaches the adviser's socket on server B; the webhook is delivered once, after a failure", async () => {
    const [receipt] = (await post(a, [cart('r-1', 'c-1')])).json().results;
    expect(receipt).toMatchObject({ status: 'triggered', adviserId: 'adv-1', sessions: 0 });
    const push = await adviser.next((m) => m.type === 'trigger' && m.eventId === 'r-1');
    expect((push.decision as { decisionId: string }).decisionId).toBe(receipt.decisionId);
    const tries = await crm.requests(2);
    expect(tries.map((t) => t.status)).toEqual([500, 200]);
    // Both servers poll the one outbox; the delivery is taken by one of them at a time.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(crm.received).toHaveLength(2);
  });

  it('an event id that triggered on A is a duplicate on B; a book put on B routes pushes on A', async () => {
    const [again] = (await post(b, [cart('r-1', 'c-1')])).json().results;
    expect(again.status).toBe('duplicate');
    await b.app.inject({
      method: 'PUT',
      url: '/v1/advisers/adv-1/book',
      headers: auth('admin-key'),
      payload: { customers: ['c-2'] },
    });
    const [receipt] = (await post(a, [cart('r-2', 'c-2')])).json().results;
    expect(receipt).toMatchObject({ status: 'triggered', adviserId: 'adv-1' });
    await adviser.next((m) => m.type === 'trigger' && m.eventId === 'r-2');
  });

  it('a delivery that fails every try is dead-lettered in Redis, seen from either server', async () => {
    const [receipt] = (
      await post(a, [
        { eventId: 'r-3', type: 'transaction.large', customerId: 'c-3', attributes: { amount: 9000 } },
      ])
    ).json().results;
    expect(receipt, JSON.stringify(receipt)).toMatchObject({ status: 'triggered', webhooks: 1 });
    await broken.requests(3);
    await eventually(async () => {
      const dead = await b.app.inject({
        method: 'GET',
        url: '/v1/webhooks/dead-letters',
        headers: auth('admin-key'),
      });
      expect(dead.json()).toMatchObject({
        pending: 0,
        deadLetters: [{ id: `${receipt.decisionId}:broken`, attempts: 3, lastError: 'HTTP 500' }],
      });
    });
  });
});
