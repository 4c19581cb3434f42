import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelIndex } from '../src/domain/channel.js';
import { round4 } from '../src/domain/response-numbers.js';
import type { LogEntry } from '../src/feedback/feedback-event.js';
import type { MemoryFeedbackLog } from '../src/feedback/log/memory-feedback-log.js';
import type { LearnedCell } from '../src/learning/learned-model.js';
import { calibrated } from '../src/learning/response-rate.js';
import { loadRuleset } from '../src/ruleset/load.js';
import { generatePopulation } from '../src/sim/population.js';
import { demoWorld, EXAMPLE_RULES, postDecision, type TestServer, testServer } from './helpers.js';
import { eventually, loadRecords, NOW, redisTarget, startNode } from './support/offerloop-node.js';
import { type RedisProcess, startRedis } from './support/redis.js';

// Learned propensities end to end: decisions, feedback over HTTP, a refresh, then decisions that
// decide with what was learned, and GET /v1/learning showing it. Embedded first, then on Redis,
// where the counters arrive through the stream consumer and the model must outlive Redis.

const KEYS = 'agent-key=decide+feedback,report-key=report,decide-key=decide';
/** No exploration unless a test asks for it; no timer refresh: the tests refresh when they mean to. */
const ENV = {
  OFFERLOOP_API_KEYS: KEYS,
  OFFERLOOP_EXPLORATION: '0',
  OFFERLOOP_LEARNING_REFRESH_SECONDS: '86400',
};
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

interface OfferJson {
  offerId: string;
  productId: string;
  propensity: number;
  probability: number;
  reasons: string[];
}
interface DecisionJson {
  decisionId: string;
  customerId: string;
  customerKnown: boolean;
  degraded: boolean;
  offers: OfferJson[];
}
interface LearningJson {
  enabled: boolean;
  builtAt: string | null;
  refreshSeconds: number;
  exploration: number;
  priorStrength: number;
  total: number;
  cells: LearnedCell[];
}

async function decideFor(app: FastifyInstance, customerId: string, channel: string): Promise<DecisionJson> {
  const res = await postDecision(app, 'agent-key', { customerId, channel, limit: 3 });
  expect(res.statusCode).toBe(200);
  return res.json() as DecisionJson;
}

async function decideMany(app: FastifyInstance, from: number, to: number, channel: string) {
  const out: DecisionJson[] = [];
  for (let n = from; n <= to; n++) out.push(await decideFor(app, `cust-${n}`, channel));
  return out;
}

/** The offer shown most often in `decisions` (ties: the first id). */
function mostShown(decisions: readonly DecisionJson[]): string {
  const counts = new Map<string, number>();
  for (const d of decisions)
    for (const o of d.offers) counts.set(o.offerId, (counts.get(o.offerId) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]![0];
}

/** Accepts every impression of `offerId` in `decisions`; answers how many. */
async function acceptAll(app: FastifyInstance, decisions: readonly DecisionJson[], offerId: string) {
  const events = decisions
    .filter((d) => d.offers.some((o) => o.offerId === offerId))
    .map((d, i) => ({
      eventId: `learn-${d.decisionId}-${i}`,
      decisionId: d.decisionId,
      offerId,
      customerId: d.customerId,
      type: 'accept',
    }));
  for (let i = 0; i < events.length; i += 200) {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/feedback',
      headers: auth('agent-key'),
      payload: { events: events.slice(i, i + 200) },
    });
    expect(res.statusCode).toBe(202);
    expect(new Set((res.json().results as { status: string }[]).map((r) => r.status))).toEqual(
      new Set(['accepted']),
    );
  }
  return events.length;
}

async function getLearning(app: FastifyInstance, query = ''): Promise<LearningJson> {
  const res = await app.inject({ url: `/v1/learning${query}`, headers: auth('report-key') });
  expect(res.statusCode).toBe(200);
  return res.json() as LearningJson;
}

/** The propensity before learning: the customer's affinity for the product, or the offer's base propensity. */
async function priorOf(server: TestServer, customerId: string, offer: OfferJson): Promise<number> {
  const { profile } = await server.services.profiles.get(customerId);
  return (
    profile?.affinities.get(offer.productId) ??
    server.services.rules.current.offerById.get(offer.offerId)!.basePropensity
  );
}

/** Every offer of every decision scored with propensity = prior: nothing learned applies. */
async function expectUnlearned(server: TestServer, decisions: readonly DecisionJson[]) {
  let offers = 0;
  for (const d of decisions) {
    for (const o of d.offers) {
      expect(o.propensity, `${d.customerId} ${o.offerId}`).toBe(
        round4(await priorOf(server, d.customerId, o)),
      );
      offers++;
    }
  }
  expect(offers).toBeGreaterThan(0);
}

/** What a world taught: X was accepted at every impression on web, nothing else anywhere. */
interface Taught {
  readonly offerX: string;
  readonly accepts: number;
  readonly webTraining: readonly DecisionJson[];
}

/**
 * Decides on web and mobile for customers 1…`trained`, accepts every web impression of the offer
 * shown most, and nothing else. Before learning every propensity is the prior.
 */
async function teach(server: TestServer, trained: number): Promise<Taught> {
  const webTraining = await decideMany(server.app, 1, trained, 'web');
  const mobileTraining = await decideMany(server.app, 1, trained, 'mobile');
  await expectUnlearned(server, [...webTraining, ...mobileTraining]);
  const offerX = mostShown(webTraining);
  const accepts = await acceptAll(server.app, webTraining, offerX);
  expect(accepts).toBeGreaterThan(30);
  return { offerX, accepts, webTraining };
}

describe('learning on the embedded server', () => {
  let server: TestServer;
  let now = NOW;
  let taught: Taught;
  const TRAINED = 400;

  beforeAll(async () => {
    server = await testServer({ ...ENV, ...demoWorld(600) }, () => now);
    taught = await teach(server, TRAINED);
    now += 60_000;
    await server.services.learning.refresh();
  }, 30_000);
  afterAll(() => server?.close());

  it('raises the accepted offer above what the affinities expected, and lowers the others on its channel', async () => {
    const learning = await getLearning(server.app);
    expect(learning).toMatchObject({
      enabled: true,
      builtAt: new Date(now).toISOString(),
      refreshSeconds: 86_400,
      exploration: 0,
      priorStrength: 50,
    });
    const x = learning.cells.find((c) => c.offerId === taught.offerX && c.channel === 'web')!;
    expect(x).toMatchObject({ segmentId: null, accepts: taught.accepts, impressions: taught.accepts });
    expect(x.learnedRate).toBeGreaterThan(x.expectedRate);
    expect(x.ratio).toBeGreaterThan(1);
    expect(x.ci95[0]).toBeLessThan(x.learnedRate);
    expect(x.ci95[1]).toBeGreaterThan(x.learnedRate);

    // Every other offer shown on web was never accepted there: its learned rate and ratio go down.
    const others = learning.cells.filter((c) => c.channel === 'web' && c.offerId !== taught.offerX);
    expect(others.length).toBeGreaterThan(0);
    for (const c of others) {
      expect(c.accepts, c.offerId).toBe(0);
      expect(c.learnedRate, c.offerId).toBeLessThan(c.expectedRate);
      expect(c.ratio, c.offerId).toBeLessThan(1);
    }
    // Mobile had impressions but never an accept: a channel that does not report accepts learns nothing.
    expect(learning.cells.filter((c) => c.channel === 'mobile')).toEqual([]);
    // Impressions on web add up to what the training decisions showed.
    const shown = taught.webTraining.reduce((n, d) => n + d.offers.length, 0);
    expect(learning.cells.filter((c) => c.segmentId === null).reduce((n, c) => n + c.impressions, 0)).toBe(
      shown,
    );
  });

  it('decides with the learned propensity: the accepted offer above its prior, by the cell’s ratio', async () => {
    const [x] = (await getLearning(server.app, `?offerId=${taught.offerX}&channel=web`)).cells;
    const ratios = new Map(
      (await getLearning(server.app, '?channel=web&limit=5000')).cells
        .filter((c) => c.segmentId === null)
        .map((c) => [c.offerId, c.ratio]),
    );
    const fresh = await decideMany(server.app, TRAINED + 1, 600, 'web');
    let raised = 0;
    for (const d of fresh) {
      for (const o of d.offers) {
        const prior = await priorOf(server, d.customerId, o);
        // An offer first shown now has no cell: ratio 1, the prior exactly (4 decimals in responses).
        expect(o.propensity, o.offerId).toBe(round4(calibrated(prior, ratios.get(o.offerId) ?? 1)));
        // An affinity of exactly 1 (the demo population has a few) stays 1 whatever the ratio.
        if (o.offerId === taught.offerX && prior < 1) {
          expect(o.propensity).toBeGreaterThan(round4(prior));
          raised++;
        }
      }
    }
    expect(x!.ratio).toBeGreaterThan(1);
    expect(raised).toBeGreaterThan(10);
    // Shown more often than before learning, among customers like the trained ones.
    const share = (ds: readonly DecisionJson[]) =>
      ds.filter((d) => d.offers.some((o) => o.offerId === taught.offerX)).length / ds.length;
    expect(share(fresh)).toBeGreaterThanOrEqual(share(taught.webTraining));
    // Mobile learned nothing: every propensity there is still the prior.
    await expectUnlearned(server, await decideMany(server.app, TRAINED + 1, 600, 'mobile'));
  });

  it('filters, sorts by impressions and bounds GET /v1/learning', async () => {
    const all = await getLearning(server.app);
    expect(all.total).toBe(all.cells.length);
    const impressions = all.cells.map((c) => c.impressions);
    expect(impressions).toEqual([...impressions].sort((a, b) => b - a));
    const two = await getLearning(server.app, '?limit=2');
    expect(two.total).toBe(all.total);
    expect(two.cells).toEqual(all.cells.slice(0, 2));
    const min = all.cells[2]!.impressions;
    const busy = await getLearning(server.app, `?minImpressions=${min}`);
    expect(busy.cells.length).toBeGreaterThanOrEqual(3);
    expect(busy.cells.every((c) => c.impressions >= min)).toBe(true);
    expect((await getLearning(server.app, '?channel=email')).cells).toEqual([]);
    for (const [query, message] of [
      ['limit=5001', /querystring.limit must be <= 5000/],
      ['limit=0', /querystring.limit must be >= 1/],
      ['channel=fax', /querystring.channel must be one of/],
      ['minImpressions=-1', /querystring.minImpressions must be >= 0/],
      ['colour=red', /unknown field 'colour'/],
    ] as const) {
      const res = await server.app.inject({ url: `/v1/learning?${query}`, headers: auth('report-key') });
      expect(res.statusCode, query).toBe(400);
      expect(res.json().error.message, query).toMatch(message);
    }
    expect((await server.app.inject({ url: '/v1/learning' })).statusCode).toBe(401);
    expect((await server.app.inject({ url: '/v1/learning', headers: auth('decide-key') })).statusCode).toBe(
      403,
    );
    await server.app.ready();
    expect((server.app.swagger().paths as Record<string, unknown>)['/v1/learning']).toBeDefined();
  });
});

describe('with OFFERLOOP_LEARNING=false', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await testServer({ ...ENV, ...demoWorld(300), OFFERLOOP_LEARNING: 'false' }, () => NOW);
  });
  afterAll(() => server?.close());

  it('keeps every propensity at the affinity after the same feedback', async () => {
    await teach(server, 200);
    await server.services.learning.refresh();
    await expectUnlearned(server, await decideMany(server.app, 201, 300, 'web'));
    expect(await getLearning(server.app)).toMatchObject({
      enabled: false,
      builtAt: null,
      cells: [],
      total: 0,
    });
  });
});

describe('exploration (OFFERLOOP_EXPLORATION=0.5)', () => {
  let server: TestServer;
  const EPSILON = 0.5;
  const N = 800;

  beforeAll(async () => {
    server = await testServer({ ...ENV, ...demoWorld(N), OFFERLOOP_EXPLORATION: String(EPSILON) }, () => NOW);
  });
  afterAll(() => server?.close());

  it('explores about half the decisions, and logs and answers the exact probabilities', async () => {
    const decisions = await decideMany(server.app, 1, N, 'web');
    const k = server.services.rules.current.channels[channelIndex('web')]!.all.byStaticScore.length;
    const greedyLast = 1 - EPSILON + EPSILON / k;
    const explored = EPSILON / k;
    let exploringOffers = 0;
    for (const d of decisions) {
      d.offers.forEach((o, i) => {
        const last = i === d.offers.length - 1;
        expect(o.probability).toBeGreaterThan(0);
        expect(o.probability).toBeLessThanOrEqual(1);
        if (o.reasons.includes('exploration')) {
          exploringOffers++;
          expect(last).toBe(true);
          expect(o.probability).toBeCloseTo(explored, 12);
        } else if (!last) {
          expect(o.probability).toBe(1);
        } else {
          // The last greedy offer: 1 − ε + ε/K when it held a full slate's last slot, else 1.
          expect(
            [1, greedyLast].some((p) => Math.abs(o.probability - p) < 1e-12),
            String(o.probability),
          ).toBe(true);
        }
      });
    }
    expect(exploringOffers).toBeGreaterThan(0);

    // The log says which decisions explored: web needs no consent and the example rules hold
    // nobody out globally, so every one of these decisions tossed the coin.
    const byId = new Map<string, LogEntry>();
    for (const e of (server.services.feedbackLog as MemoryFeedbackLog).entries())
      if (e.kind === 'decision') byId.set(e.decision.decisionId, e);
    const logged = decisions.map((d) => byId.get(d.decisionId));
    expect(logged.every((e) => e?.kind === 'decision')).toBe(true);
    const exploring = logged.filter((e) => e?.kind === 'decision' && e.decision.explored === true).length;
    // Binomial(800, 0.5): sd ≈ 14, so 0.4…0.6 is ±5.6 sd.
    expect(exploring / N).toBeGreaterThan(0.4);
    expect(exploring / N).toBeLessThan(0.6);
    decisions.forEach((d, i) => {
      const entry = logged[i]!;
      if (entry.kind !== 'decision') return;
      expect(entry.decision.offers.map((o) => o.probability)).toEqual(d.offers.map((o) => o.probability));
      if (d.offers.some((o) => o.reasons.includes('exploration'))) expect(entry.decision.explored).toBe(true);
    });
  });
});

describe('learning on one Redis', () => {
  let redis: RedisProcess;
  let node: TestServer;
  const TRAINED = 200;
  const CUSTOMERS = 300;

  beforeAll(async () => {
    redis = await startRedis();
    const target = redisTarget({ url: redis.url });
    const rules = await loadRuleset(EXAMPLE_RULES, NOW);
    const products = [...new Set(rules.offers.map((o) => o.productId))].sort();
    await loadRecords(target, [...generatePopulation(CUSTOMERS, products, { seed: 7, affinities: 20 })]);
    node = await startNode(target, { ...ENV, OFFERLOOP_RULES: EXAMPLE_RULES, REDIS_TIMEOUT_MS: '150' });
  }, 30_000);
  afterAll(async () => {
    await node?.close();
    await redis?.stop();
  });

  it('learns from the counters the feedback consumer writes, and keeps deciding with them when Redis dies', async () => {
    const taught = await teach(node, TRAINED);
    // The consumer applies feedback asynchronously: refresh until every accept has arrived.
    let x: LearnedCell | undefined;
    await eventually(async () => {
      await node.services.learning.refresh();
      x = (await getLearning(node.app, `?offerId=${taught.offerX}&channel=web`)).cells[0];
      expect(x).toMatchObject({ accepts: taught.accepts, impressions: taught.accepts });
    }, 15_000);
    expect(x!.ratio).toBeGreaterThan(1);
    const learned = await getLearning(node.app);

    // Fresh customers (now in the server's memory tier), decided with the learned model.
    const before = await decideMany(node.app, TRAINED + 1, CUSTOMERS, 'web');
    const propensityOfX = new Map<string, number>();
    for (const d of before) {
      const o = d.offers.find((offer) => offer.offerId === taught.offerX);
      if (o === undefined) continue;
      const prior = await priorOf(node, d.customerId, o);
      expect(o.propensity).toBe(round4(calibrated(prior, x!.ratio)));
      if (prior < 1) expect(o.propensity).toBeGreaterThan(round4(prior));
      propensityOfX.set(d.customerId, o.propensity);
    }
    expect(propensityOfX.size).toBeGreaterThan(10);

    const ready = async () => {
      const res = await node.app.inject({ url: '/health/ready' });
      expect(res.statusCode).toBe(200);
      return res.json() as { status: string; learning: { failures: number; builtAt: number; cells: number } };
    };
    const failuresBefore = (await ready()).learning.failures;
    await redis.kill();
    // The refresh fails and counts it; the model it had keeps serving.
    await eventually(async () => {
      await node.services.learning.refresh();
      expect((await ready()).learning.failures).toBeGreaterThan(failuresBefore);
    }, 10_000);
    const health = await ready();
    expect(health.status).toBe('degraded');
    expect(health.learning).toMatchObject({ builtAt: NOW, cells: learned.total });
    expect(await getLearning(node.app)).toEqual(learned);

    let again = 0;
    for (const customerId of propensityOfX.keys()) {
      const d = await decideFor(node.app, customerId, 'web');
      expect(d).toMatchObject({ customerKnown: true, degraded: true });
      const o = d.offers.find((offer) => offer.offerId === taught.offerX);
      if (o === undefined) continue;
      expect(o.propensity).toBe(propensityOfX.get(customerId));
      again++;
    }
    expect(again).toBeGreaterThan(0);
    await node.services.learning.refresh();
    expect((await ready()).learning.failures).toBeGreaterThan(failuresBefore + 1);
  }, 35_000);
});
