import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProfileRecord } from '../src/domain/profile.js';
import { RulesetHolder } from '../src/ruleset/ruleset-holder.js';
import { generatePopulation } from '../src/sim/population.js';
import { EXAMPLE_RULES, testLog } from './helpers.js';
import {
  auth,
  eventually,
  loadRecords,
  NOW,
  type OfferloopNode,
  type RedisTarget,
  redisTarget,
  startNode,
} from './support/offerloop-node.js';
import { type RedisProcess, redisCommand, startRedis } from './support/redis.js';

// The customer loop on Redis, with two servers sharing one redis-server: an accept by phone on one
// server suppresses the product on web and mobile decided by the other; what outcomes teach the
// profile survives a bulk load and goes with erasure; outcomes sent while Redis is away are queued,
// then credited and learnt once it is back. The feedback consumers work asynchronously: tests poll
// for the effect (the accept in the contact history, the product in the holdings), never sleep.

const CUSTOMERS = 300;
const ENV = {
  OFFERLOOP_RULES: EXAMPLE_RULES,
  OFFERLOOP_API_KEYS: 'agent-key=decide+feedback,admin-key=admin,report-key=report',
  REDIS_TIMEOUT_MS: '300',
};
/** Generous: the consumers, the spool's replay and a reconnect all take their time on a busy machine. */
const SETTLE_MS = 20_000;

let redis: RedisProcess;
let target: RedisTarget;
let records: ProfileRecord[];
let offersOfProduct: (productId: string) => { id: string; channels: readonly string[] }[];
let a: OfferloopNode;
let b: OfferloopNode;
const extraNodes: OfferloopNode[] = [];

beforeAll(async () => {
  // Persisted, so that the population survives the crash of the outage test.
  redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  target = redisTarget({ url: redis.url });
  const rules = await RulesetHolder.open(EXAMPLE_RULES, testLog, () => NOW);
  const offers = rules.current.offers.map((o) => ({
    id: o.id,
    productId: o.productId,
    channels: o.channels,
  }));
  rules.close();
  offersOfProduct = (productId) => offers.filter((o) => o.productId === productId);
  const products = [...new Set(offers.map((o) => o.productId))].sort();
  records = [...generatePopulation(CUSTOMERS, products, { seed: 42, affinities: 20 })];
  await loadRecords(target, records);
  [a, b] = await Promise.all([startNode(target, ENV), startNode(target, ENV)]);
}, 60_000);
afterAll(async () => {
  await Promise.all([a?.close(), b?.close(), ...extraNodes.map((n) => n.close())]);
  await redis?.stop();
});

interface Offer {
  readonly offerId: string;
  readonly campaignId: string;
  readonly productId: string;
}
interface Decision {
  readonly decisionId: string;
  readonly offers: readonly Offer[];
  readonly suppressed?: readonly { offerId: string; reason: string }[];
}
interface Receipt {
  readonly results: readonly { eventId: string; status: string; reason?: string }[];
}

async function decide(node: OfferloopNode, customerId: string, channel: string, extra: object = {}) {
  const res = await node.app.inject({
    method: 'POST',
    url: '/v1/decisions',
    headers: auth('agent-key'),
    payload: { customerId, channel, ...extra },
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Decision;
}

async function feedback(node: OfferloopNode, events: readonly object[]): Promise<Receipt> {
  const res = await node.app.inject({
    method: 'POST',
    url: '/v1/feedback',
    headers: auth('agent-key'),
    payload: { events },
  });
  expect(res.statusCode, res.body).toBe(202);
  return res.json();
}

async function dossier(node: OfferloopNode, id: string) {
  const res = await node.app.inject({ url: `/v1/customers/${id}`, headers: auth('agent-key') });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as {
    holdings: string[];
    attributes: Record<string, unknown>;
    recentContacts: { offerId: string; outcome: string; productId?: string }[];
  };
}

async function treatedConversions(node: OfferloopNode, campaignId: string): Promise<number> {
  const res = await node.app.inject({
    url: `/v1/reports/campaigns/${campaignId}`,
    headers: auth('report-key'),
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().totals.customerUplift.treated.conversions as number;
}

let seq = 0;
const purchase = (customerId: string, productId: string, value: number) => ({
  eventId: `ord-${++seq}`,
  customerId,
  type: 'purchase',
  productId,
  value,
  source: 'order-system',
});

const learnedKey = (customerId: string) => `${target.config.prefix}:learned:{${customerId}}`;

/** A product of the catalog the customer does not hold (as loaded). */
function productNotHeld(customerId: string): string {
  const held = new Set(records.find((r) => r.id === customerId)!.holdings);
  const product = ['travel-insurance', 'home-insurance', 'personal-loan', 'car-insurance'].find(
    (p) => !held.has(p),
  );
  expect(product, `${customerId} holds every product of the list`).toBeDefined();
  return product!;
}

describe('an accept by phone on one server, decisions on another', () => {
  it('web and mobile never show an offer for the accepted product once the accept is consumed', async () => {
    const accepted: { customerId: string; offerId: string; productId: string }[] = [];
    for (let n = 1; n <= CUSTOMERS && accepted.length < 20; n++) {
      const customerId = `cust-${n}`;
      const call = await decide(a, customerId, 'call_center', { limit: 3 });
      const pick = call.offers.find((o) => {
        const channels = new Set(offersOfProduct(o.productId).flatMap((s) => s.channels));
        return channels.has('web') && channels.has('mobile');
      });
      if (pick === undefined) continue;
      const receipt = await feedback(a, [
        {
          eventId: `acc-${customerId}`,
          decisionId: call.decisionId,
          offerId: pick.offerId,
          customerId,
          type: 'accept',
        },
      ]);
      expect(receipt.results[0]!.status).toBe('accepted');
      accepted.push({ customerId, offerId: pick.offerId, productId: pick.productId });
    }
    expect(accepted).toHaveLength(20);

    let suppressedSiblings = 0;
    for (const { customerId, offerId, productId } of accepted) {
      // Consumed: the accept is in the contact history as server B reads it.
      await eventually(async () => {
        const contacts = (await dossier(b, customerId)).recentContacts;
        expect(contacts.some((c) => c.outcome === 'accept' && c.offerId === offerId)).toBe(true);
      }, SETTLE_MS);
      const siblings = new Set(offersOfProduct(productId).map((o) => o.id));
      for (const channel of ['web', 'mobile']) {
        const d = await decide(b, customerId, channel, { limit: 20, explain: true });
        expect(
          d.offers.filter((o) => o.productId === productId),
          `${customerId} on ${channel}`,
        ).toEqual([]);
        for (const s of d.suppressed ?? []) {
          if (siblings.has(s.offerId) && s.reason === 'suppressed_after_accept') suppressedSiblings++;
        }
      }
    }
    // The sibling offers were candidates, and the accept is why they were not shown.
    expect(suppressedSiblings).toBeGreaterThanOrEqual(20);
  });
});

describe('what outcomes taught the profile', () => {
  it('survives a bulk load of the same file: holdings and lifetime revenue are applied again', async () => {
    const customerId = 'cust-201';
    const product = productNotHeld(customerId);
    expect((await feedback(a, [purchase(customerId, product, 250)])).results[0]!.status).toBe('accepted');
    await eventually(async () => {
      const d = await dossier(b, customerId);
      expect(d.holdings).toContain(product);
      expect(d.attributes.lifetimeRevenue).toBe(250);
    }, SETTLE_MS);

    const load = await loadRecords(target, records);
    expect(load.relearned).toBeGreaterThanOrEqual(1);
    // A server started after the load has nothing in memory: it reads the new version as loaded.
    const fresh = await startNode(target, ENV);
    extraNodes.push(fresh);
    const d = await dossier(fresh, customerId);
    expect(d.holdings).toContain(product);
    expect(d.attributes).toMatchObject({ lifetimeRevenue: 250, purchases: 1 });
    // And the servers that were running hear of the new version and read it too.
    await eventually(async () => {
      expect((await dossier(a, customerId)).holdings).toContain(product);
      expect((await dossier(b, customerId)).attributes.lifetimeRevenue).toBe(250);
    }, SETTLE_MS);
  });

  it('goes with erasure: DELETE /v1/customers/:id removes the learned facts', async () => {
    const customerId = 'cust-202';
    const product = productNotHeld(customerId);
    expect((await feedback(a, [purchase(customerId, product, 80)])).results[0]!.status).toBe('accepted');
    await eventually(async () => {
      expect(await redisCommand(redis.port, 'EXISTS', learnedKey(customerId))).toBe(':1\r\n');
    }, SETTLE_MS);
    const erased = await b.app.inject({
      method: 'DELETE',
      url: `/v1/customers/${customerId}`,
      headers: auth('admin-key'),
    });
    expect(erased.json()).toEqual({ erased: true });
    expect(await redisCommand(redis.port, 'EXISTS', learnedKey(customerId))).toBe(':0\r\n');
  });
});

describe('outcomes while Redis is away', () => {
  it('are queued, then credited and learnt when Redis is back: nothing lost', async () => {
    // A touch first: the purchase is credited to this decision's campaign.
    let touch: { customerId: string; offer: Offer } | undefined;
    for (let n = 250; n <= CUSTOMERS && touch === undefined; n++) {
      const customerId = `cust-${n}`;
      const d = await decide(a, customerId, 'web', { limit: 5 });
      const held = new Set(records.find((r) => r.id === customerId)!.holdings);
      const offer = d.offers.find((o) => !held.has(o.productId));
      if (offer !== undefined) touch = { customerId, offer };
    }
    const { customerId, offer } = touch!;
    await dossier(a, customerId); // in A's memory, so that A still knows the customer without Redis
    const before = await treatedConversions(a, offer.campaignId);

    await redis.kill();
    let receipt: Receipt;
    try {
      receipt = await feedback(a, [purchase(customerId, offer.productId, 120)]);
    } finally {
      await redis.start();
    }
    expect(receipt.results[0]!.status).toBe('queued');

    await eventually(async () => {
      const d = await dossier(a, customerId);
      expect(d.holdings).toContain(offer.productId);
      expect(d.attributes.lifetimeRevenue).toBe(120);
      expect(await treatedConversions(a, offer.campaignId)).toBe(before + 1);
    }, 30_000);
  });
});
