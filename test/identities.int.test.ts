import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoWorld, listen, type TestServer, testServer } from './helpers.js';
import { KEYS, PersonApi, treatedId, visitorId } from './support/person.js';
import { TestWsClient } from './support/ws-client.js';

// Identity links on the embedded store, over REST and WebSocket: every link the rules refuse (409
// identity_conflict, 400, 404) changes nothing for either id, a link made again answers 200, and
// contact policy counts what a visitor was shown against the customer they turn out to be.

const NOW = Date.parse('2026-11-22T12:00:00Z');
let server: TestServer;
let api: PersonApi;
let now = NOW;
let wsUrl: string;

beforeAll(async () => {
  server = await testServer({ OFFERLOOP_API_KEYS: KEYS, ...demoWorld(50) }, () => now);
  api = new PersonApi(server.app);
  wsUrl = `ws://127.0.0.1:${await listen(server.app)}/v1/ws`;
});
afterAll(async () => {
  await server?.close();
});

/** What either id looks like from outside: its dossier (status and body) and its journey. */
async function seen(id: string) {
  const dossier = await api.dossier(id);
  return { dossier: { status: dossier.statusCode, body: dossier.json() }, journey: await api.journey(id) };
}

/** A visitor who was shown a banner: something to lose if a refused link merged anything. */
async function visitorWithHistory(tag: string, n: number): Promise<string> {
  const id = visitorId(tag, n);
  const banner = await api.banner('home-hero', id);
  expect(banner.decisionId).not.toBeNull();
  return id;
}

interface Refusal {
  readonly name: string;
  readonly anonymousId: string;
  readonly customerId: string;
  readonly status: number;
  readonly code: string;
}

/** A world of its own for one transport (ids tagged), with every link that must be refused. */
async function refusals(tag: string): Promise<Refusal[]> {
  const [a, b, c] = [`${tag}-ann`, `${tag}-bob`, `${tag}-cy`];
  for (const id of [a, b, c]) await api.putCustomer(id);
  const linked = await visitorWithHistory(tag, 1);
  expect((await api.link(linked, a)).statusCode).toBe(201);
  // A customer whose profile is gone (a reload without them) but whose links are kept.
  expect((await api.link(await visitorWithHistory(tag, 2), c)).statusCode).toBe(201);
  await server.services.profiles.delete(c);
  // An anonymous lead: a form nobody has identified yet.
  const lead = await visitorWithHistory(tag, 3);
  const leadEvent = { eventId: `${tag}-lead`, customerId: lead, type: 'lead', channel: 'web' };
  expect(await api.feedback([{ ...leadEvent, attributes: { email: `${tag}@example.com` } }])).toMatchObject([
    { status: 'accepted' },
  ]);
  const other = await visitorWithHistory(tag, 4);
  const conflict = { status: 409, code: 'identity_conflict' };
  return [
    {
      name: 'the anonymous id is linked to another customer',
      anonymousId: linked,
      customerId: b,
      ...conflict,
    },
    {
      name: 'the customer id is a linked anonymous id (no chains)',
      anonymousId: other,
      customerId: linked,
      ...conflict,
    },
    { name: 'the anonymous id is a customer (a profile)', anonymousId: b, customerId: a, ...conflict },
    { name: 'the anonymous id is a customer (ids linked to it)', anonymousId: c, customerId: b, ...conflict },
    { name: 'the customer is an anonymous lead', anonymousId: other, customerId: lead, ...conflict },
    { name: 'a self-link', anonymousId: other, customerId: other, status: 400, code: 'invalid_request' },
    {
      name: 'a self-link of a customer',
      anonymousId: a,
      customerId: a,
      status: 400,
      code: 'invalid_request',
    },
    {
      name: 'an unknown customer',
      anonymousId: other,
      customerId: `${tag}-nobody`,
      status: 404,
      code: 'not_found',
    },
  ];
}

describe('refused links change nothing', () => {
  it('over REST: 409 identity_conflict, 400 and 404, and both ids look as they did', async () => {
    for (const r of await refusals('rest')) {
      const before = [await seen(r.anonymousId), await seen(r.customerId)];
      const res = await api.link(r.anonymousId, r.customerId);
      expect(res.statusCode, `${r.name}: ${res.body}`).toBe(r.status);
      expect(res.json().error.code, r.name).toBe(r.code);
      expect([await seen(r.anonymousId), await seen(r.customerId)], r.name).toEqual(before);
    }
  });

  it('over WebSocket: the same refusals as error answers, and both ids look as they did', async () => {
    const client = await TestWsClient.open(wsUrl, { key: 'agent-key' });
    try {
      for (const r of await refusals('ws')) {
        const before = [await seen(r.anonymousId), await seen(r.customerId)];
        const answer = await client.request({
          type: 'identify',
          anonymousId: r.anonymousId,
          customerId: r.customerId,
        });
        expect(answer, r.name).toMatchObject({ type: 'error', error: { code: r.code } });
        expect([await seen(r.anonymousId), await seen(r.customerId)], r.name).toEqual(before);
      }
      // A malformed message is refused by the protocol's schema.
      const malformed = await client.request({ type: 'identify', anonymousId: 'v-x' });
      expect(malformed).toMatchObject({ type: 'error', error: { code: 'invalid_request' } });
    } finally {
      client.close();
    }
  });

  it('a malformed body is a 400 naming the field; a key without the feedback scope is refused', async () => {
    const res = await server.app.inject({
      method: 'POST',
      url: '/v1/identities',
      headers: { authorization: 'Bearer agent-key' },
      payload: { anonymousId: 'v-1' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toContain('customerId');
    const report = await server.app.inject({
      method: 'POST',
      url: '/v1/identities',
      headers: { authorization: 'Bearer report-key' },
      payload: { anonymousId: 'v-1', customerId: 'cust-1' },
    });
    expect(report.statusCode).toBe(403);
  });
});

describe('a link', () => {
  it('made again answers 200 and changes nothing; over WebSocket the same answer', async () => {
    await api.putCustomer('again-ann');
    const visitor = await visitorWithHistory('again', 1);
    const first = await api.link(visitor, 'again-ann');
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({
      anonymousId: visitor,
      customerId: 'again-ann',
      existed: false,
      contactsMerged: 1,
      linkedAt: new Date(now).toISOString(),
    });
    const before = await seen('again-ann');
    now += 60_000;
    const second = await api.link(visitor, 'again-ann');
    expect(second.statusCode).toBe(200);
    expect(second.json()).toEqual({ ...first.json(), existed: true, contactsMerged: 0 });
    const client = await TestWsClient.open(wsUrl, { key: 'agent-key' });
    try {
      const answer = await client.request({
        type: 'identify',
        anonymousId: visitor,
        customerId: 'again-ann',
      });
      expect(answer).toMatchObject({ type: 'result', result: { ...second.json() } });
    } finally {
      client.close();
    }
    expect(await seen('again-ann')).toEqual(before);
  });
});

describe('contact policy across both ids', () => {
  it("impressions shown to the visitor count against the customer's limits once they are linked", async () => {
    const rules = server.services.rules.current;
    const customer = treatedId(rules, 'go-digital', (n) => `capped-${n}`);
    const visitor = treatedId(rules, 'go-digital', (n) => visitorId('capped', n));
    await api.putCustomer(customer);
    const web = { placement: 'home-hero', limit: 1, explain: true };
    // The customer has room on the web.
    expect((await api.decide(customer, 'web', web)).offers).toHaveLength(1);
    // The visitor is shown banners until the web limit (20 a day) stops them.
    let shown = 0;
    for (;;) {
      // A second apart: contacts at the same instant of the same offer would be one contact.
      now += 1000;
      const d = await api.decide(visitor, 'web', web);
      if (d.offers.length === 0) {
        expect(d.suppressed?.map((s) => s.reason)).toContain('contact_cap');
        break;
      }
      shown++;
      expect(shown).toBeLessThanOrEqual(20);
    }
    expect(shown).toBe(20);
    // Not linked yet: the customer still has room.
    expect((await api.decide(customer, 'web', web)).offers).toHaveLength(1);

    expect((await api.link(visitor, customer)).json()).toMatchObject({ contactsMerged: 20 });
    const after = await api.decide(customer, 'web', web);
    expect(after.offers).toEqual([]);
    expect(after.suppressed?.map((s) => s.reason)).toContain('contact_cap');
    // And a decision asked for the visitor's id is the customer's now: the same limit.
    const asVisitor = await api.decide(visitor, 'web', web);
    expect(asVisitor.offers).toEqual([]);
    expect(asVisitor.suppressed?.map((s) => s.reason)).toContain('contact_cap');
    // Another channel has its own limit: still room in the call center.
    expect((await api.decide(customer, 'call_center', { limit: 1 })).offers).toHaveLength(1);
  });
});
