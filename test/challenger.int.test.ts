import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemoryFeedbackLog } from '../src/feedback/log/memory-feedback-log.js';
import { inChallengerShare } from '../src/learning/challenger-share.js';
import { RedisConnection } from '../src/store/redis/redis-connection.js';
import { RedisKeys } from '../src/store/redis/redis-keys.js';
import { FIXTURE_RULES, postDecision, type TestServer, testLog, testServer } from './helpers.js';
import {
  auth,
  eventually,
  FIXTURE_RECORDS,
  loadRecords,
  type OfferloopNode,
  type RedisTarget,
  redisDeployments,
  startNode,
} from './support/offerloop-node.js';

// Champion/challenger: a candidate decides for a stable share of customers, decisions carry their
// arm and version, the report compares the arms, promoting makes the challenger live everywhere,
// and bad input changes nothing.

const NOW = Date.parse('2026-11-22T12:00:00Z');
const KEYS = 'agent-key=decide+feedback,admin-key=admin,analyst-key=report';
const FILES = ['campaigns.yaml', 'offers.yaml', 'policies.yaml', 'segments.yaml'];
const fixtureFile = (name: string) => readFileSync(path.join(FIXTURE_RULES, name), 'utf8');

/** The fixture rules with the gold card renamed: what the challenger decides shows where it came from. */
function challengerFiles(): Record<string, string> {
  const files = Object.fromEntries(FILES.map((f) => [f, fixtureFile(f)]));
  files['offers.yaml'] = files['offers.yaml']!.replace('name: Gold card', 'name: Gold card, challenger');
  return files;
}

const upload = (app: FastifyInstance, name: string) =>
  app.inject({
    method: 'PUT',
    url: `/v1/ruleset/candidates/${name}`,
    headers: auth('admin-key'),
    payload: { files: challengerFiles() },
  });
const startTest = (app: FastifyInstance, payload: object, key = 'admin-key') =>
  app.inject({ method: 'PUT', url: '/v1/ruleset/challenger', headers: auth(key), payload });
const current = async (app: FastifyInstance) =>
  (await app.inject({ url: '/v1/ruleset/challenger', headers: auth('analyst-key') })).json().challenger;

const WEB = { channel: 'web', placement: 'home-hero' };
const customers = (n: number) => Array.from({ length: n }, (_, i) => `visitor-${i}`);

interface Decided {
  decisionId: string;
  customerId: string;
  rulesetVersion: string;
  arm?: string;
  offers: { offerId: string; name: string }[];
}
async function decideFor(app: FastifyInstance, customerId: string, extra: object = {}): Promise<Decided> {
  const res = await postDecision(app, 'agent-key', { customerId, ...WEB, ...extra });
  expect(res.statusCode).toBe(200);
  return res.json() as Decided;
}

/** Within four standard deviations of a binomial count: fails by chance about once in 16,000 runs. */
function expectBinomial(count: number, n: number, p: number): void {
  expect(Math.abs(count - n * p)).toBeLessThan(4 * Math.sqrt(n * p * (1 - p)));
}

describe('champion/challenger on the embedded store', () => {
  let server: TestServer;
  let app: FastifyInstance;
  let championVersion: string;
  let challengerVersion: string;
  beforeAll(async () => {
    server = await testServer({ OFFERLOOP_API_KEYS: KEYS }, () => NOW);
    app = server.app;
    championVersion = server.services.rules.current.version;
    const put = await upload(app, 'reworded');
    expect(put.statusCode).toBe(200);
    challengerVersion = put.json().version;
  });
  afterAll(() => server.close());

  it('without a test, decisions are what they always were: no arm', async () => {
    expect(await current(app)).toBeNull();
    const d = await decideFor(app, 'visitor-1');
    expect(d.arm).toBeUndefined();
    expect(d.rulesetVersion).toBe(championVersion);
  });

  it('refuses bad input with a 4xx that names the field, and changes nothing', async () => {
    for (const share of [1.5, -0.1, 'a third', null]) {
      const res = await startTest(app, { candidate: 'reworded', share });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.message).toMatch(/share/);
    }
    const missing = await startTest(app, { candidate: 'nobody-uploaded-this', share: 0.3 });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.message).toMatch(/nobody-uploaded-this/);
    const byAgent = await startTest(app, { candidate: 'reworded', share: 0.3 }, 'agent-key');
    expect(byAgent.statusCode).toBe(403);
    const readByAgent = await app.inject({ url: '/v1/ruleset/challenger', headers: auth('agent-key') });
    expect(readByAgent.statusCode).toBe(403);
    expect(readByAgent.json().error.message).toContain('report');
    expect((await app.inject({ url: '/v1/ruleset/challenger' })).statusCode).toBe(401);
    const readByAdmin = await app.inject({ url: '/v1/ruleset/challenger', headers: auth('admin-key') });
    expect(readByAdmin.json()).toEqual({ challenger: null });
    const unknownField = await startTest(app, { candidate: 'reworded', share: 0.3, extra: 1 });
    expect(unknownField.statusCode).toBe(400);
    expect(unknownField.json().error.message).toMatch(/extra/);
    const promote = await app.inject({
      method: 'POST',
      url: '/v1/ruleset/challenger/promote',
      headers: auth('admin-key'),
    });
    expect(promote.statusCode).toBe(404);
    expect(await current(app)).toBeNull();
    expect(server.services.rules.current.version).toBe(championVersion);
    expect((await decideFor(app, 'visitor-2')).arm).toBeUndefined();
  });

  it("decides a stable share of customers on the challenger's rules, each decision with its arm and version", async () => {
    const res = await startTest(app, { candidate: 'reworded', share: 0.3 });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      candidate: 'reworded',
      version: challengerVersion,
      share: 0.3,
      since: new Date(NOW).toISOString(),
      championVersion,
    });
    expect(await current(app)).toMatchObject({ candidate: 'reworded', share: 0.3 });

    const ids = customers(2000);
    const arms = ids.map((id) => server.services.challenger.armOf(id)?.arm);
    expectBinomial(arms.filter((a) => a === 'challenger').length, ids.length, 0.3);
    expect(ids.map((id) => server.services.challenger.armOf(id)?.arm)).toEqual(arms);

    for (const [i, id] of ids.slice(0, 120).entries()) {
      const d = await decideFor(app, id);
      expect(d.arm).toBe(arms[i]);
      expect(d.rulesetVersion).toBe(arms[i] === 'challenger' ? challengerVersion : championVersion);
      const gold = d.offers.find((o) => o.offerId === 'gold-card');
      if (gold !== undefined)
        expect(gold.name).toBe(arms[i] === 'challenger' ? 'Gold card, challenger' : 'Gold card');
      // A preview follows the customer's arm; one on a named candidate is in no arm.
      const preview = await decideFor(app, id, { preview: true });
      expect(preview.arm).toBe(arms[i]);
      const onCandidate = await decideFor(app, id, { preview: true, candidate: 'reworded' });
      expect(onCandidate.arm).toBeUndefined();
    }
    // The log keeps the arm and the version of each decision.
    const logged = (server.services.feedbackLog as MemoryFeedbackLog)
      .entries()
      .flatMap((e) => (e.kind === 'decision' ? [e.decision] : []))
      .filter((d) => d.customerId === 'visitor-0');
    expect(logged.at(-1)).toMatchObject({
      arm: arms[0],
      rulesetVersion: arms[0] === 'challenger' ? challengerVersion : championVersion,
    });
  });

  it('reports champion against challenger per customer, with intervals, in total and per campaign', async () => {
    const ids = customers(400).map((id) => `r-${id}`);
    const events: object[] = [];
    for (const id of ids) {
      const d = await decideFor(app, id);
      const gold = d.offers.find((o) => o.offerId === 'gold-card');
      if (gold === undefined) continue;
      const accept = d.arm === 'challenger' || id.endsWith('0');
      if (!accept) continue;
      events.push({
        eventId: `${id}-a`,
        decisionId: d.decisionId,
        offerId: 'gold-card',
        customerId: id,
        type: 'accept',
      });
      events.push({
        eventId: `${id}-c`,
        decisionId: d.decisionId,
        offerId: 'gold-card',
        customerId: id,
        type: 'convert',
        value: 50,
      });
    }
    for (let i = 0; i < events.length; i += 200) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/feedback',
        headers: auth('agent-key'),
        payload: { events: events.slice(i, i + 200) },
      });
      expect(res.statusCode).toBe(202);
    }
    const res = await app.inject({ url: '/v1/reports/challenger', headers: auth('analyst-key') });
    expect(res.statusCode).toBe(200);
    const report = res.json();
    expect(report.test).toMatchObject({ candidate: 'reworded', share: 0.3 });
    expect(report.champion.customers).toBeGreaterThan(0);
    expect(report.challenger.customers).toBeGreaterThan(0);
    expect(report.challenger.acceptRate).toBeGreaterThan(report.champion.acceptRate);
    const [low, high] = report.conversionRate.ci95;
    expect(low).toBeLessThan(report.conversionRate.difference);
    expect(high).toBeGreaterThan(report.conversionRate.difference);
    expect(low).toBeGreaterThan(0);
    expect(report.challenger.revenuePerCustomer).toBeGreaterThan(report.champion.revenuePerCustomer);
    expect(report.campaigns.map((c: { campaignId: string }) => c.campaignId)).toContain('cards');

    // Campaign reports are unchanged by the arm counters: every decision counts there, whichever arm.
    const campaign = await app.inject({ url: '/v1/reports/campaigns/cards', headers: auth('analyst-key') });
    expect(campaign.statusCode).toBe(200);

    const agent = await app.inject({ url: '/v1/reports/challenger', headers: auth('agent-key') });
    expect(agent.statusCode).toBe(403);
    const badDay = await app.inject({
      url: '/v1/reports/challenger?from=2026-13-01',
      headers: auth('analyst-key'),
    });
    expect(badDay.statusCode).toBe(400);
  });

  it('stops, and then decides every customer on the ruleset in force', async () => {
    const del = await app.inject({
      method: 'DELETE',
      url: '/v1/ruleset/challenger',
      headers: auth('admin-key'),
    });
    expect(del.statusCode).toBe(204);
    expect(await current(app)).toBeNull();
    for (const id of customers(30)) expect((await decideFor(app, id)).arm).toBeUndefined();
    const again = await app.inject({
      method: 'DELETE',
      url: '/v1/ruleset/challenger',
      headers: auth('admin-key'),
    });
    expect(again.statusCode).toBe(404);
  });

  it('promotes: the challenger is the ruleset in force, its history says so, and the test is over', async () => {
    expect((await startTest(app, { candidate: 'reworded', share: 0.5 })).statusCode).toBe(200);
    const res = await app.inject({
      method: 'POST',
      url: '/v1/ruleset/challenger/promote',
      headers: auth('admin-key'),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      candidate: 'reworded',
      version: challengerVersion,
      previous: championVersion,
      changed: true,
    });
    expect(server.services.rules.current.version).toBe(challengerVersion);
    expect(server.services.rules.history()[0]).toMatchObject({
      version: challengerVersion,
      previous: championVersion,
      cause: 'promote',
      by: 'adm…',
    });
    expect(await current(app)).toBeNull();
    const d = await decideFor(app, 'visitor-7');
    expect(d.arm).toBeUndefined();
    expect(d.rulesetVersion).toBe(challengerVersion);
  });
});

describe.each(redisDeployments())('champion/challenger on %s, across two servers', (_name, makeTarget) => {
  let target: RedisTarget;
  let a: OfferloopNode;
  let b: OfferloopNode;
  let challengerVersion: string;
  beforeAll(async () => {
    target = makeTarget();
    await loadRecords(target, FIXTURE_RECORDS);
    [a, b] = await Promise.all([
      startNode(target, { OFFERLOOP_API_KEYS: KEYS }),
      startNode(target, { OFFERLOOP_API_KEYS: KEYS }),
    ]);
    const put = await upload(a.app, 'reworded');
    expect(put.statusCode).toBe(200);
    challengerVersion = put.json().version;
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it('a test started on one server is served by the other, the same customers in the same arm', async () => {
    expect((await startTest(a.app, { candidate: 'reworded', share: 0.3 })).statusCode).toBe(200);
    await eventually(async () => expect(b.services.challenger.armOf('x')).not.toBeNull(), 1000);
    expect(await current(b.app)).toMatchObject({
      candidate: 'reworded',
      share: 0.3,
      version: challengerVersion,
    });

    const ids = customers(2000);
    const onA = ids.map((id) => a.services.challenger.armOf(id)?.arm);
    expect(ids.map((id) => b.services.challenger.armOf(id)?.arm)).toEqual(onA);
    expect(onA).toEqual(ids.map((id) => (inChallengerShare(id, 0.3) ? 'challenger' : 'champion')));
    expectBinomial(onA.filter((x) => x === 'challenger').length, ids.length, 0.3);
    for (const [i, id] of ids.slice(0, 40).entries()) {
      const [da, db] = await Promise.all([decideFor(a.app, id), decideFor(b.app, id)]);
      expect(da.arm).toBe(onA[i]);
      expect(db.arm).toBe(onA[i]);
      expect(db.rulesetVersion).toBe(da.rulesetVersion);
    }
  });

  it('feedback on a challenger decision reaches its arm counters through the Redis intake and consumers', async () => {
    const id = customers(200).find((c) => inChallengerShare(c, 0.3))!;
    const d = await decideFor(a.app, id);
    expect(d.arm).toBe('challenger');
    expect(d.offers.find((o) => o.offerId === 'gold-card')?.name).toBe('Gold card, challenger');
    const res = await b.app.inject({
      method: 'POST',
      url: '/v1/feedback',
      headers: auth('agent-key'),
      payload: {
        events: [
          { eventId: 'ch-1', decisionId: d.decisionId, offerId: 'gold-card', customerId: id, type: 'accept' },
          {
            eventId: 'ch-2',
            decisionId: d.decisionId,
            offerId: 'gold-card',
            customerId: id,
            type: 'convert',
            value: 70,
          },
        ],
      },
    });
    expect(res.json().results.map((r: { status: string }) => r.status)).toEqual(['accepted', 'accepted']);
    // The conversion is credited by the customer loop to the touch in the contact history, which
    // kept the decision's arm: it counts for the challenger's customers.
    await eventually(async () => {
      const report = (
        await b.app.inject({ url: '/v1/reports/challenger', headers: auth('analyst-key') })
      ).json();
      expect(report.challenger.accepts).toBeGreaterThanOrEqual(1);
      expect(report.challenger.conversions).toBeGreaterThanOrEqual(1);
      expect(report.challenger.revenue).toBeGreaterThanOrEqual(70);
    });
  });

  it("the contact history in Redis keeps a touch's arm, with and without a placement", async () => {
    const touches = [
      {
        offerId: 'gold-card',
        campaignId: 'cards',
        channel: 'web',
        outcome: 'impression',
        at: NOW,
        arm: 'challenger',
      },
      {
        offerId: 'gold-card',
        campaignId: 'cards',
        channel: 'web',
        outcome: 'held_out',
        at: NOW + 1,
        placement: 'home-hero',
        arm: 'champion',
      },
      {
        offerId: 'gold-card',
        campaignId: 'cards',
        channel: 'web',
        outcome: 'impression',
        at: NOW + 2,
        placement: 'home-hero',
      },
    ] as const;
    await a.services.history.append('arm-history', touches);
    const other = await b.services.history.read('arm-history');
    expect(other.events).toEqual(touches);
  });

  it('refuses a stored candidate that no longer compiles with 422 (file and line), and the test goes on', async () => {
    const keys = new RedisKeys(target.config.prefix);
    const broken = {
      name: 'gone-bad',
      files: [{ name: 'offers.yaml', text: 'offers:\n  - id: broken\n    campaign: nowhere\n' }],
      version: 'deadbeef',
      uploadedAt: NOW,
      by: 'someone',
    };
    // Written as another release might have left it: HSET past the checks of an upload.
    const redis = await RedisConnection.open(target.config, testLog);
    try {
      await redis.send(keys.candidates(), ['HSET', keys.candidates(), 'gone-bad', JSON.stringify(broken)]);
    } finally {
      redis.close();
    }
    const res = await startTest(b.app, { candidate: 'gone-bad', share: 0.5 });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.message).toMatch(/offers\.yaml:\d+/);
    expect(await current(a.app)).toMatchObject({ candidate: 'reworded', share: 0.3 });
    expect(b.services.challenger.armOf(customers(1)[0]!)).not.toBeNull();
  });

  it('promote on one server is served by the other within a second, recorded with its cause', async () => {
    const before = a.services.rules.current.version;
    const res = await a.app.inject({
      method: 'POST',
      url: '/v1/ruleset/challenger/promote',
      headers: auth('admin-key'),
    });
    expect(res.statusCode).toBe(200);
    expect(a.services.rules.current.version).toBe(challengerVersion);
    await eventually(async () => {
      expect(b.services.rules.current.version).toBe(challengerVersion);
      expect(b.services.challenger.armOf('visitor-1')).toBeNull();
    }, 1000);
    expect(b.services.rules.history()[0]).toMatchObject({
      version: challengerVersion,
      previous: before,
      cause: 'promote',
    });
    expect(await current(b.app)).toBeNull();
    const d = await decideFor(b.app, 'visitor-3');
    expect(d.arm).toBeUndefined();
    expect(d.rulesetVersion).toBe(challengerVersion);
  });
});
