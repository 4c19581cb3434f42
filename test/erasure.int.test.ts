import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProfileRecord } from '../src/domain/profile.js';
import { RedisConnection, type RedisReply } from '../src/store/redis/redis-connection.js';
import { RedisKeys } from '../src/store/redis/redis-keys.js';
import { FIXTURE_PROFILES, FIXTURE_RULES, type TestServer, testLog, testServer } from './helpers.js';
import {
  eventually,
  FIXTURE_RECORDS,
  loadRecords,
  NOW,
  type OfferloopNode,
  type RedisTarget,
  redisDeployments,
  redisTarget,
} from './support/offerloop-node.js';
import { type RedisProcess, startRedis } from './support/redis.js';
import { WebhookReceiver } from './support/webhook-receiver.js';

// Erasure (GDPR Art. 17) and export (Art. 15), docs/decisions/0009-erasure.md: after a person took
// every road into the system (decisions on two servers, reactions, an outcome, a call by phone
// number, a linked visitor id, events spooled while Redis was away), an erasure leaves neither their
// id nor their number in any Redis key or value or spool file, and reloading the old profiles file
// does not bring them back, while everybody else is untouched. The person is also in an adviser's
// book, and an event of theirs triggered a push whose webhooks failed: one delivery dead-lettered,
// one still in flight.

const KEYS = 'agent-key=decide+feedback,admin-key=admin,privacy-key=privacy';
const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const PERSON = 'cust-4321';
const VISITOR = 'visitor-4321';
const PHONE = '+1 555 000 4321';
/** What must not be found anywhere after the erasure: the ids and the number, as written and normalised. */
const TRACES = [PERSON, VISITOR, '5550004321'];

const PERSON_RECORD: ProfileRecord = {
  id: PERSON,
  attributes: { age: 40, clv: 500, tenureYears: 1, preferredChannel: 'web', phone: PHONE },
  consent: { call_center: true, web: true },
  holdings: ['current-account'],
  affinities: [
    { product: 'card-gold', score: 0.9 },
    { product: 'travel-ins', score: 0.3 },
  ],
};
const RECORDS: readonly ProfileRecord[] = [...FIXTURE_RECORDS, PERSON_RECORD];

type App = TestServer['app'];

/** The test rules and a trigger whose push goes to the adviser and to two webhooks. */
function rulesWithTrigger(): string {
  const dir = freshDir('erasure-rules-');
  for (const name of readdirSync(FIXTURE_RULES)) {
    copyFileSync(path.join(FIXTURE_RULES, name), path.join(dir, name));
  }
  writeFileSync(
    path.join(dir, 'triggers.yaml'),
    'triggers:\n  - id: left-cart\n    on: cart.abandoned\n    channel: web\n' +
      '    notify: [adviser, webhook:broken, webhook:stuck]\n',
  );
  return dir;
}

/** A webhook that takes a delivery and never answers: the job stays in the outbox, in flight. */
async function stuckWebhook() {
  let received = 0;
  const server = createServer(() => {
    received++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received: () => received,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
type StuckWebhook = Awaited<ReturnType<typeof stuckWebhook>>;

interface Webhooks {
  readonly broken: WebhookReceiver;
  readonly stuck: StuckWebhook;
  readonly env: Record<string, string>;
}

/**
 * `broken` answers 500 (dead-lettered at its one try), `stuck` never answers (pending). One try: a
 * dispatcher's round waits for its slowest delivery, so a retry of `broken` would wait on `stuck`.
 */
async function failingWebhooks(rules: string): Promise<Webhooks> {
  const [broken, stuck] = await Promise.all([WebhookReceiver.start([500]), stuckWebhook()]);
  return {
    broken,
    stuck,
    env: {
      OFFERLOOP_RULES: rules,
      OFFERLOOP_WEBHOOKS: `broken=${broken.url},stuck=${stuck.url}`,
      OFFERLOOP_WEBHOOK_SECRET_BROKEN: 'broken-secret-0123456789',
      OFFERLOOP_WEBHOOK_SECRET_STUCK: 'stuck-secret-0123456789',
      OFFERLOOP_WEBHOOK_RETRY_BASE_MS: '20',
      OFFERLOOP_WEBHOOK_POLL_MS: '20',
      OFFERLOOP_WEBHOOK_MAX_ATTEMPTS: '1',
      OFFERLOOP_WEBHOOK_TIMEOUT_MS: '60000',
    },
  };
}

const ADVISER = 'adv-9';

const postEvent = (app: App, eventId: string, customerId: string) =>
  app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: auth('agent-key'),
    payload: { events: [{ eventId, type: 'cart.abandoned', customerId, attributes: { cartValue: 120 } }] },
  });

const putBook = (app: App, customers: string[]) =>
  app.inject({
    method: 'PUT',
    url: `/v1/advisers/${ADVISER}/book`,
    headers: auth('admin-key'),
    payload: { customers },
  });

/**
 * The person in an adviser's book, and an event of theirs that triggers a push: its `broken`
 * delivery dead-lettered, its `stuck` one in flight (pending). Answers the decision id.
 */
async function bookAndTrigger(app: App, hooks: Webhooks, eventId: string): Promise<string> {
  expect((await putBook(app, [PERSON, 'cust-1'])).json()).toEqual({ adviserId: ADVISER, customers: 2 });
  const [receipt] = (await postEvent(app, eventId, PERSON)).json().results;
  expect(receipt, JSON.stringify(receipt)).toMatchObject({
    status: 'triggered',
    adviserId: ADVISER,
    webhooks: 2,
  });
  await hooks.broken.requests(1);
  await eventually(async () => {
    const dead = await app.inject({ url: '/v1/webhooks/dead-letters', headers: auth('admin-key') });
    expect(dead.json()).toMatchObject({
      pending: 1,
      deadLetters: [{ id: `${receipt.decisionId}:broken`, attempts: 1 }],
    });
    expect(hooks.stuck.received()).toBe(1);
  });
  return receipt.decisionId as string;
}

/** What the export says of books and webhooks after bookAndTrigger(). */
function expectBookAndDeliveries(data: {
  adviserBooks: unknown;
  webhookDeliveries: { pending: { webhook: string }[]; dead: unknown[] };
}) {
  expect(data.adviserBooks).toEqual([{ id: PERSON, adviserId: ADVISER }]);
  expect(data.webhookDeliveries.pending.map((j) => j.webhook)).toEqual(['stuck']);
  expect(data.webhookDeliveries.dead).toMatchObject([
    { webhook: 'broken', customerId: PERSON, attempts: 1, lastError: 'HTTP 500' },
  ]);
}

async function decide(app: App, customerId: string, channel = 'web') {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/decisions',
    headers: auth('agent-key'),
    payload: { customerId, channel },
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { decisionId: string; customerKnown: boolean; offers: { offerId: string }[] };
}

async function feedback(app: App, events: object[]) {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/feedback',
    headers: auth('agent-key'),
    payload: { events },
  });
  expect(res.statusCode, res.body).toBe(202);
  return res.json() as { results: { eventId: string; status: string }[] };
}

/** A decision, an impression and an accept of its first offer, a purchase: the loop's whole round. */
async function touch(app: App, customerId: string, tag: string) {
  const d = await decide(app, customerId);
  expect(d.offers.length).toBeGreaterThan(0);
  const offerId = d.offers[0]!.offerId;
  const base = { decisionId: d.decisionId, offerId, customerId, timestamp: new Date(NOW).toISOString() };
  await feedback(app, [
    { ...base, eventId: `${tag}-imp`, type: 'impression' },
    { ...base, eventId: `${tag}-acc`, type: 'accept' },
  ]);
  return d;
}

const exportOf = (app: App, id: string, key = 'privacy-key') =>
  app.inject({ url: `/v1/customers/${id}/export`, headers: auth(key) });
const dossier = (app: App, id: string) =>
  app.inject({ url: `/v1/customers/${id}`, headers: auth('agent-key') });

/** Every key of the target's prefix on every master, with its value dumped whatever its type. */
async function dumpRedis(target: RedisTarget): Promise<Map<string, string>> {
  const redis = await RedisConnection.open({ ...target.config, timeoutMs: 5000 }, testLog);
  try {
    const dumps = await redis.eachMaster(async (send) => {
      const out: [string, string][] = [];
      let cursor = '0';
      do {
        const [next, keys] = (await send([
          'SCAN',
          cursor,
          'MATCH',
          `${target.config.prefix}:*`,
          'COUNT',
          '1000',
        ])) as [string, string[]];
        cursor = next;
        for (const key of keys) out.push([key, JSON.stringify(await dumpKey(send, key))]);
      } while (cursor !== '0');
      return out;
    });
    return new Map(dumps.flat());
  } finally {
    redis.close();
  }
}

async function dumpKey(send: (args: string[]) => Promise<RedisReply>, key: string): Promise<RedisReply> {
  const type = (await send(['TYPE', key])) as string;
  switch (type) {
    case 'string':
      return send(['GET', key]);
    case 'hash':
      return send(['HGETALL', key]);
    case 'list':
      return send(['LRANGE', key, '0', '-1']);
    case 'set':
      return send(['SMEMBERS', key]);
    case 'zset':
      return send(['ZRANGE', key, '0', '-1', 'WITHSCORES']);
    case 'stream':
      return [await send(['XRANGE', key, '-', '+']), await send(['XINFO', 'GROUPS', key])];
    default:
      return `unexpected type ${type}`;
  }
}

/** The keys (and their values) that hold any trace of the person. */
function tracesIn(dump: ReadonlyMap<string, string>): string[] {
  const found: string[] = [];
  for (const [key, value] of dump) {
    if (TRACES.some((t) => key.includes(t) || value.includes(t)))
      found.push(`${key} = ${value.slice(0, 300)}`);
  }
  return found;
}

/** Every file under `dir` whose bytes hold a trace of the person. */
function spoolTraces(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const file = path.join(dir, name);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // a directory
    }
    if (TRACES.some((t) => text.includes(t))) found.push(file);
  }
  return found;
}

function freshDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** Waits until the consumer group has processed every entry of every shard of the log. */
async function logProcessed(target: RedisTarget) {
  const redis = await RedisConnection.open({ ...target.config, timeoutMs: 5000 }, testLog);
  const keys = new RedisKeys(target.config.prefix);
  try {
    const shards = Number(await redis.send<string>(keys.feedbackShards(), ['GET', keys.feedbackShards()]));
    await eventually(async () => {
      let written = 0;
      for (let shard = 0; shard < shards; shard++) {
        const log = keys.feedbackLog(shard);
        const [last] =
          (await redis.send<[string, string[]][]>(log, ['XREVRANGE', log, '+', '-', 'COUNT', '1'])) ?? [];
        if (last === undefined) continue; // a shard nothing was written to
        written++;
        const groups = (await redis.send<RedisReply[][]>(log, ['XINFO', 'GROUPS', log])).map((flat) => {
          const g: Record<string, RedisReply> = {};
          for (let i = 0; i + 1 < flat.length; i += 2) g[String(flat[i])] = flat[i + 1]!;
          return g;
        });
        expect(groups.length).toBeGreaterThan(0);
        for (const g of groups) expect([g.pending, g['last-delivered-id']]).toEqual([0, last[0]]);
      }
      expect(written).toBeGreaterThan(0);
    }, 10_000);
  } finally {
    redis.close();
  }
}

/** Waits until the consumers have applied everything: the purchase is in the person's history. */
async function waitForPurchase(app: App) {
  await eventually(async () => {
    const res = await exportOf(app, PERSON);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().contactHistory.map((c: { outcome: string }) => c.outcome)).toContain('purchase');
  }, 10_000);
}

describe.each(redisDeployments())('erasure on %s', (_name, targetOf) => {
  let target: RedisTarget;
  let a: OfferloopNode;
  let b: OfferloopNode;
  let hooks: Webhooks;
  const rules = rulesWithTrigger();
  const spoolA = freshDir('erasure-a-');
  const spoolB = freshDir('erasure-b-');

  beforeAll(async () => {
    target = targetOf();
    hooks = await failingWebhooks(rules);
    await loadRecords(target, RECORDS);
    const env = { OFFERLOOP_API_KEYS: KEYS, ...target.env, ...hooks.env };
    a = await testServer({ ...env, FEEDBACK_SPOOL_DIR: spoolA }, () => NOW);
    b = await testServer({ ...env, FEEDBACK_SPOOL_DIR: spoolB }, () => NOW);
  }, 60_000);
  afterAll(async () => {
    // The stuck delivery first: a server's dispatcher waits for it when closing.
    await Promise.all([hooks?.stuck.close(), hooks?.broken.close()]);
    await b?.close();
    await a?.close();
    rmSync(spoolA, { recursive: true, force: true });
    rmSync(spoolB, { recursive: true, force: true });
    rmSync(rules, { recursive: true, force: true });
  });

  it('exports every piece held about the person, and only to the privacy scope', async () => {
    // An adviser's book and a triggered push its webhooks failed to take, from server B.
    await bookAndTrigger(b.app, hooks, 'p-cart-1');
    // A visitor first, linked to the customer later: what the visitor did is the customer's.
    await decide(a.app, VISITOR);
    await touch(a.app, PERSON, 'p1');
    await touch(b.app, PERSON, 'p2');
    await touch(a.app, 'cust-1', 'c1');
    const link = await a.app.inject({
      method: 'POST',
      url: '/v1/identities',
      headers: auth('agent-key'),
      payload: { anonymousId: VISITOR, customerId: PERSON },
    });
    expect(link.statusCode, link.body).toBe(201);
    const outcome = await feedback(a.app, [
      {
        eventId: 'p-purchase',
        customerId: PERSON,
        type: 'purchase',
        productId: 'card-gold',
        value: 120,
        timestamp: new Date(NOW).toISOString(),
      },
    ]);
    expect(outcome.results[0]!.status).toBe('accepted');
    const call = await b.app.inject({
      method: 'POST',
      url: '/v1/interactions/calls',
      headers: auth('agent-key'),
      payload: { type: 'call.started', callId: 'call-p', agentId: 'agent-1', phone: PHONE },
    });
    expect(call.statusCode, call.body).toBe(200);
    // B keeps the person in its memory tier: erasure must reach it too.
    expect((await dossier(b.app, PERSON)).statusCode).toBe(200);
    await waitForPurchase(a.app);

    const res = await exportOf(a.app, PERSON);
    const data = res.json();
    expect(data.profile.attributes.phone).toBe(PHONE);
    expect(data.learnedFacts.purchases).toBe(1);
    expect(data.contactHistory.length).toBeGreaterThan(0);
    expect(data.identityLinks.map((l: { anonymousId: string }) => l.anonymousId)).toEqual([VISITOR]);
    expect(data.journey.length).toBeGreaterThan(0);
    expect(data.phoneDirectory).toEqual(['+15550004321']);
    expect(data.callsInProgress.map((c: { callId: string }) => c.callId)).toEqual(['call-p']);
    const kinds = data.feedbackLog.entries.map((e: { fields: { t: string } }) => e.fields.t);
    expect(kinds).toEqual(expect.arrayContaining(['d', 'f', 'o']));
    const customers = new Set(
      data.feedbackLog.entries.map((e: { fields: { e: string } }) => JSON.parse(e.fields.e).customerId),
    );
    expect(customers).toEqual(new Set([PERSON, VISITOR]));
    expect(Object.keys(data.feedbackLog.decisionRecords).length).toBeGreaterThanOrEqual(2);
    expectBookAndDeliveries(data);

    expect((await exportOf(a.app, PERSON, 'admin-key')).statusCode).toBe(403);
    expect((await exportOf(a.app, 'nobody-at-all')).statusCode).toBe(404);
  });

  it('leaves no key, value or spool file holding the id or the number, and the aggregates as they were', async () => {
    await logProcessed(target);
    const before = await dumpRedis(target);
    expect(tracesIn(before).length).toBeGreaterThan(0);
    const statsBefore = [...before].filter(([key]) => key.includes(':stats:'));

    const res = await a.app.inject({
      method: 'DELETE',
      url: `/v1/customers/${PERSON}`,
      headers: auth('admin-key'),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ erased: true });

    const after = await dumpRedis(target);
    expect(tracesIn(after)).toEqual([]);
    expect(spoolTraces(spoolA)).toEqual([]);
    expect(spoolTraces(spoolB)).toEqual([]);
    // Counters hold no ids: reports and learning see the same numbers.
    expect(new Map([...after].filter(([key]) => key.includes(':stats:')))).toEqual(new Map(statsBefore));
    // Every server forgot its memory copy.
    await eventually(async () => expect((await dossier(b.app, PERSON)).statusCode).toBe(404));
    expect((await dossier(a.app, PERSON)).statusCode).toBe(404);
    expect((await exportOf(a.app, PERSON)).statusCode).toBe(404);
    expect((await dossier(a.app, 'cust-1')).statusCode).toBe(200);
    // The person left the adviser's book; the adviser's other customer did not.
    const book = await b.app.inject({ url: `/v1/advisers/${ADVISER}/book`, headers: auth('agent-key') });
    expect(book.json()).toEqual({ adviserId: ADVISER, customers: ['cust-1'] });
    const dead = await b.app.inject({ url: '/v1/webhooks/dead-letters', headers: auth('admin-key') });
    expect(dead.json()).toMatchObject({ pending: 0, deadLetters: [] });
  });

  it('records nothing under the id afterwards: decisions are anonymous, feedback and outcomes refused', async () => {
    const d = await decide(b.app, PERSON);
    expect(d.customerKnown).toBe(false);
    const events = await feedback(a.app, [
      {
        eventId: 'late-imp',
        decisionId: d.decisionId,
        offerId: d.offers[0]?.offerId ?? 'gold-card',
        customerId: PERSON,
        type: 'impression',
      },
      { eventId: 'late-buy', customerId: PERSON, type: 'purchase', productId: 'card-gold' },
      { eventId: 'late-lead', customerId: VISITOR, type: 'lead', attributes: { phone: PHONE } },
    ]);
    expect(events.results.map((r) => r.status)).toEqual(['erased', 'erased', 'erased']);
    const link = await a.app.inject({
      method: 'POST',
      url: '/v1/identities',
      headers: auth('agent-key'),
      payload: { anonymousId: VISITOR, customerId: 'cust-1' },
    });
    expect(link.statusCode).toBe(409);
    // A trigger is refused and pushes nothing; a book put by the CRM leaves the person out.
    expect((await postEvent(b.app, 'late-cart', PERSON)).json().results).toEqual([
      { eventId: 'late-cart', status: 'erased' },
    ]);
    expect((await putBook(a.app, [PERSON, 'cust-1'])).json()).toEqual({ adviserId: ADVISER, customers: 1 });
    expect(await a.services.webhookOutbox.pending()).toBe(0);
    // The decision's log entry reaches Redis a moment after its answer.
    await new Promise((r) => setTimeout(r, 300));
    expect(tracesIn(await dumpRedis(target))).toEqual([]);
  });

  it('keeps the person out when the old profiles file is loaded again, and everybody else in', async () => {
    const result = await loadRecords(target, RECORDS);
    expect(result.erased).toBe(1);
    expect(result.customers).toBe(RECORDS.length - 1);
    await eventually(async () => {
      expect((await dossier(a.app, 'cust-2')).statusCode).toBe(200);
      expect((await dossier(a.app, PERSON)).statusCode).toBe(404);
      expect((await dossier(b.app, PERSON)).statusCode).toBe(404);
    });
    expect(tracesIn(await dumpRedis(target))).toEqual([]);
  });

  it('takes the person back on an explicit PUT: a new relationship', async () => {
    const { id: _id, ...record } = PERSON_RECORD;
    const put = await a.app.inject({
      method: 'PUT',
      url: `/v1/customers/${PERSON}`,
      headers: auth('admin-key'),
      payload: record,
    });
    expect(put.statusCode, put.body).toBe(200);
    await eventually(async () => expect((await decide(b.app, PERSON)).customerKnown).toBe(true));
    const events = await feedback(a.app, [
      { eventId: 'again-buy', customerId: PERSON, type: 'purchase', productId: 'card-gold' },
    ]);
    expect(events.results[0]!.status).toBe('accepted');
  });

  it('leaves nothing behind when decisions, feedback, triggers and book puts race the erasure on both servers', async () => {
    const busy = async (app: App, tag: string) => {
      for (let i = 0; i < 10; i++) {
        // A push to the failing webhooks (on B, before it hears of the erasure), or `erased`.
        expect((await postEvent(app, `${tag}-cart-${i}`, PERSON)).statusCode).toBe(200);
        expect((await putBook(app, [PERSON, 'cust-1'])).statusCode).toBe(200);
        const d = await decide(app, PERSON);
        const offerId = d.offers[0]?.offerId ?? 'gold-card';
        const base = { decisionId: d.decisionId, offerId, customerId: PERSON };
        await feedback(app, [
          { ...base, eventId: `${tag}-${i}`, type: 'impression' },
          { eventId: `${tag}-buy-${i}`, customerId: PERSON, type: 'purchase', productId: 'card-gold' },
        ]);
      }
    };
    const [erased] = await Promise.all([
      a.app.inject({ method: 'DELETE', url: `/v1/customers/${PERSON}`, headers: auth('admin-key') }),
      busy(a.app, 'race-a'),
      busy(b.app, 'race-b'),
    ]);
    expect(erased.statusCode, erased.body).toBe(200);
    // What the racers wrote after the erasure's last sweep went in under the pseudonym, or nowhere.
    await logProcessed(target);
    expect(tracesIn(await dumpRedis(target))).toEqual([]);
    expect(spoolTraces(spoolA)).toEqual([]);
    expect(spoolTraces(spoolB)).toEqual([]);
  });

  it("rewrites the person's lines in another server's spool, which hears of the erasure", async () => {
    // A segment in B's spool that B has not replayed yet (as one left by a server that died there).
    const decision = { decisionId: 'd-spooled', customerId: PERSON, channel: 'web', placement: null };
    const entry = { ...decision, rulesetVersion: 'v', at: NOW, offers: [], heldOut: [] };
    const outcome = { eventId: 'o-spooled', customerId: PERSON, type: 'purchase', productId: 'card-gold' };
    const line = `o ${NOW} ${JSON.stringify({ ...outcome, value: null, at: NOW, channel: null, source: null })}`;
    writeFileSync(
      path.join(spoolB, `seg-${String(NOW).padStart(13, '0')}-999999-0001.log`),
      `d ${JSON.stringify(entry)}\n${line}\n`,
    );
    expect(spoolTraces(spoolB).length).toBe(1);
    const res = await a.app.inject({
      method: 'DELETE',
      url: `/v1/customers/${PERSON}`,
      headers: auth('admin-key'),
    });
    expect(res.statusCode, res.body).toBe(200);
    await eventually(async () => expect(spoolTraces(spoolB)).toEqual([]));
    await eventually(async () => expect(tracesIn(await dumpRedis(target))).toEqual([]), 15_000);
  });
});

describe('erasure of events spooled while Redis was away', () => {
  let redis: RedisProcess;
  let target: RedisTarget;
  let a: OfferloopNode;
  const spoolA = freshDir('erasure-sa-');
  const spoolC = freshDir('erasure-sc-');

  beforeAll(async () => {
    redis = await startRedis();
    target = redisTarget({ url: redis.url });
    await loadRecords(target, RECORDS);
    a = await testServer({ OFFERLOOP_API_KEYS: KEYS, ...target.env, FEEDBACK_SPOOL_DIR: spoolA }, () => NOW);
  }, 60_000);
  afterAll(async () => {
    await a?.close();
    redis?.resume();
    await redis?.stop();
    rmSync(spoolA, { recursive: true, force: true });
    rmSync(spoolC, { recursive: true, force: true });
  });

  it('pseudonymises what a stopped server spooled when it replays it, and reloading keeps the person out', async () => {
    const envC = {
      OFFERLOOP_API_KEYS: KEYS,
      ...target.env,
      FEEDBACK_SPOOL_DIR: spoolC,
      REDIS_TIMEOUT_MS: '150',
    };
    const c = await testServer(envC, () => NOW);
    const d = await decide(c.app, PERSON);
    redis.pause();
    try {
      const spooled = await feedback(c.app, [
        {
          eventId: 's-imp',
          decisionId: d.decisionId,
          offerId: d.offers[0]!.offerId,
          customerId: PERSON,
          type: 'impression',
          timestamp: new Date(NOW).toISOString(),
        },
        { eventId: 's-buy', customerId: PERSON, type: 'purchase', productId: 'card-gold' },
      ]);
      expect(spooled.results.map((r) => r.status)).toContain('queued');
      await decide(c.app, PERSON); // the fallback, logged to the spool
    } finally {
      await c.close(); // its spool segment stays behind, closed
      redis.resume();
    }
    expect(spoolTraces(spoolC).length).toBeGreaterThan(0);

    await eventually(async () => {
      const res = await a.app.inject({
        method: 'DELETE',
        url: `/v1/customers/${PERSON}`,
        headers: auth('admin-key'),
      });
      expect(res.statusCode, res.body).toBe(200);
    }, 10_000);
    // C comes back and replays its spool: the tombstone turns the person's lines into the pseudonym's.
    const c2 = await testServer(envC, () => NOW);
    try {
      await eventually(async () => expect(spoolTraces(spoolC)).toEqual([]), 10_000);
      await eventually(async () => expect(c2.services.feedbackLog.health().spool.segments).toBe(0), 10_000);
      expect(tracesIn(await dumpRedis(target))).toEqual([]);
      const reloaded = await loadRecords(target, RECORDS);
      expect(reloaded.erased).toBe(1);
      expect((await dossier(c2.app, PERSON)).statusCode).toBe(404);
      expect(tracesIn(await dumpRedis(target))).toEqual([]);
    } finally {
      await c2.close();
    }
  });
});

describe('erasure on the embedded store', () => {
  const dir = freshDir('erasure-embedded-');
  const profilesFile = path.join(dir, 'profiles.ndjson');
  const rules = rulesWithTrigger();
  let hooks: Webhooks;
  let env: Record<string, string>;
  let server: TestServer;

  beforeAll(async () => {
    hooks = await failingWebhooks(rules);
    env = {
      OFFERLOOP_API_KEYS: KEYS,
      OFFERLOOP_PROFILES: profilesFile,
      OFFERLOOP_TOMBSTONES_FILE: path.join(dir, 'erased'),
      OFFERLOOP_ERASURE_PEPPER: 'a test pepper of enough bytes',
      ...hooks.env,
    };
    writeFileSync(
      profilesFile,
      `${readFileSync(FIXTURE_PROFILES, 'utf8').trimEnd()}\n${JSON.stringify(PERSON_RECORD)}\n`,
    );
    server = await testServer(env, () => NOW);
  });
  afterAll(async () => {
    await Promise.all([hooks?.stuck.close(), hooks?.broken.close()]);
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(rules, { recursive: true, force: true });
  });

  it('exports, erases every trace in memory, and a restart on the old file does not bring the person back', async () => {
    const { app, services } = server;
    await bookAndTrigger(app, hooks, 'e-cart-1');
    await decide(app, VISITOR);
    await touch(app, PERSON, 'e1');
    await app.inject({
      method: 'POST',
      url: '/v1/identities',
      headers: auth('agent-key'),
      payload: { anonymousId: VISITOR, customerId: PERSON },
    });
    await feedback(app, [{ eventId: 'e-buy', customerId: PERSON, type: 'purchase', productId: 'card-gold' }]);
    await app.inject({
      method: 'POST',
      url: '/v1/interactions/calls',
      headers: auth('agent-key'),
      payload: { type: 'call.started', callId: 'call-e', agentId: 'agent-1', phone: PHONE },
    });
    const exported = (await exportOf(app, PERSON)).json();
    expect(exported.learnedFacts.purchases).toBe(1);
    expect(exported.phoneDirectory).toEqual(['+15550004321']);
    expect(exported.callsInProgress).toHaveLength(1);
    expect(exported.feedbackLog.entries.length).toBeGreaterThan(3);
    expectBookAndDeliveries(exported);

    const res = await app.inject({
      method: 'DELETE',
      url: `/v1/customers/${PERSON}`,
      headers: auth('admin-key'),
    });
    expect(res.json()).toEqual({ erased: true });
    const log = JSON.stringify((services.feedbackLog as unknown as { entries(): unknown[] }).entries());
    expect(TRACES.filter((t) => log.includes(t))).toEqual([]);
    expect(await services.webhookOutbox.jobsOf([PERSON])).toEqual({ pending: [], dead: [] });
    expect([await services.webhookOutbox.pending(), await services.webhookOutbox.deadLetters(10)]).toEqual([
      0,
      [],
    ]);
    expect(await services.advisers.book(ADVISER)).toEqual(['cust-1']);
    expect((await postEvent(app, 'e-cart-2', PERSON)).json().results[0].status).toBe('erased');
    expect((await exportOf(app, PERSON)).statusCode).toBe(404);
    expect((await exportOf(app, VISITOR)).statusCode).toBe(404);
    const byPhone = await app.inject({
      method: 'POST',
      url: '/v1/interactions/calls',
      headers: auth('agent-key'),
      payload: { type: 'call.started', callId: 'call-e2', agentId: 'agent-1', phone: PHONE },
    });
    expect(byPhone.json()).toMatchObject({ customerId: null, customerKnown: false });
    expect(spoolTraces(dir)).toEqual([profilesFile]); // only the CRM's own file names the person

    await hooks.stuck.close(); // its delivery, dropped by the erasure, would hold the close up
    await server.close();
    server = await testServer(env, () => NOW);
    expect((await dossier(server.app, PERSON)).statusCode).toBe(404);
    expect((await dossier(server.app, 'cust-1')).statusCode).toBe(200);
  });
});
