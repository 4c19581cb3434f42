import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SegmentReport, SegmentsReport } from '../src/evaluation/segment-assumptions.js';
import { loadRuleset } from '../src/ruleset/load.js';
import { generatePopulation } from '../src/sim/population.js';
import { demoWorld, EXAMPLE_RULES, postDecision, type TestServer, testServer } from './helpers.js';
import { eventually, loadRecords, NOW, redisDeployments, startNode } from './support/offerloop-node.js';

// The segment report over real decisions and real feedback: each shown offer is counted under the
// segment its reasons name (`segment:<id>`, the campaign's first target segment the customer is in;
// none when the campaign targets everybody), and the report must count exactly that, per segment,
// for the rest, and per campaign, offer and channel. Embedded, then on Redis (one node and a
// cluster), where the counters arrive through the stream consumers.

const KEYS = 'agent-key=decide+feedback,report-key=report';
/** No exploration: every shown offer is the engine's choice, its segment in its reasons. */
const ENV = { OFFERLOOP_API_KEYS: KEYS, OFFERLOOP_EXPLORATION: '0' };
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

interface Counts {
  impressions: number;
  accepts: number;
}

/** What the client counted: per segment (`-` for none), and per segment × scope (`campaign:<id>`, …). */
interface Expected {
  readonly total: Counts;
  readonly bySegment: Map<string, Counts>;
  readonly byScope: Map<string, Counts>;
}

function add(map: Map<string, Counts>, key: string, accepted: boolean): void {
  const counts = map.get(key) ?? { impressions: 0, accepts: 0 };
  counts.impressions++;
  if (accepted) counts.accepts++;
  map.set(key, counts);
}

/**
 * Decides for `customers` customers on the web and by phone, then accepts every third shown offer
 * and rejects every fifth of the others (rejects are not responses).
 */
async function exercise(app: FastifyInstance, customers: number): Promise<Expected> {
  const expected: Expected = {
    total: { impressions: 0, accepts: 0 },
    bySegment: new Map(),
    byScope: new Map(),
  };
  const events: object[] = [];
  let shown = 0;
  for (let n = 1; n <= customers; n++) {
    for (const channel of ['web', 'call_center']) {
      const customerId = `cust-${n}`;
      const res = await postDecision(app, 'agent-key', { customerId, channel });
      expect(res.statusCode).toBe(200);
      const d = res.json() as {
        decisionId: string;
        offers: { offerId: string; campaignId: string; reasons: string[] }[];
      };
      for (const o of d.offers) {
        const segment = o.reasons.find((r) => r.startsWith('segment:'))?.slice('segment:'.length) ?? '-';
        const accepted = shown++ % 3 === 0;
        const base = { decisionId: d.decisionId, offerId: o.offerId, customerId };
        if (accepted) events.push({ ...base, eventId: `seg-${shown}`, type: 'accept' });
        else if (shown % 5 === 0) events.push({ ...base, eventId: `seg-${shown}`, type: 'reject' });
        expected.total.impressions++;
        if (accepted) expected.total.accepts++;
        add(expected.bySegment, segment, accepted);
        for (const scope of [`campaign:${o.campaignId}`, `offer:${o.offerId}`, `channel:${channel}`]) {
          add(expected.byScope, `${segment}|${scope}`, accepted);
          add(expected.byScope, `*|${scope}`, accepted);
        }
      }
    }
  }
  for (let i = 0; i < events.length; i += 200) {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/feedback',
      headers: auth('agent-key'),
      payload: { events: events.slice(i, i + 200) },
    });
    expect(res.statusCode).toBe(202);
    const statuses = new Set((res.json().results as { status: string }[]).map((r) => r.status));
    expect([...statuses]).toEqual(['accepted']);
  }
  return expected;
}

const counted = (c: { impressions: number; accepts: number }) => ({
  impressions: c.impressions,
  accepts: c.accepts,
});
const zero = { impressions: 0, accepts: 0 };
const minus = (a: Counts, b: Counts) => ({
  impressions: a.impressions - b.impressions,
  accepts: a.accepts - b.accepts,
});

function getReport(app: FastifyInstance, url: string) {
  return app.inject({ method: 'GET', url, headers: auth('report-key') });
}

/** The list counts what the client counted, per segment and for the rest. */
function expectList(list: SegmentsReport, expected: Expected): void {
  expect(counted(list.population)).toEqual(expected.total);
  for (const s of list.segments) {
    const mine = expected.bySegment.get(s.id) ?? zero;
    expect(counted(s.overall.segment), s.id).toEqual(mine);
    expect(counted(s.overall.rest), s.id).toEqual(minus(expected.total, mine));
  }
}

/** The segment with the most impressions: the one whose breakdowns say the most. */
function busiest(expected: Expected): string {
  const [id] = [...expected.bySegment]
    .filter(([k]) => k !== '-')
    .sort((a, b) => b[1].impressions - a[1].impressions)[0]!;
  return id;
}

/** Each breakdown row counts the segment's impressions in that scope, and the rest's. */
function expectBreakdowns(report: SegmentReport, expected: Expected): void {
  const s = report.segment;
  const rows = [
    ...s.byCampaign.map((r) => [`campaign:${r.key}`, r] as const),
    ...s.byOffer.map((r) => [`offer:${r.key}`, r] as const),
    ...s.byChannel.map((r) => [`channel:${r.key}`, r] as const),
  ];
  for (const [scope, row] of rows) {
    const mine = expected.byScope.get(`${s.id}|${scope}`) ?? zero;
    expect(counted(row.segment), scope).toEqual(mine);
    expect(counted(row.rest), scope).toEqual(minus(expected.byScope.get(`*|${scope}`) ?? zero, mine));
  }
  // Every offer and channel the segment was shown on has its row.
  const shownScopes = [...expected.byScope.keys()]
    .filter((k) => k.startsWith(`${s.id}|offer:`) || k.startsWith(`${s.id}|channel:`))
    .map((k) => k.slice(s.id.length + 1))
    .sort();
  expect(
    rows
      .map(([scope]) => scope)
      .filter((k) => !k.startsWith('campaign:'))
      .sort(),
  ).toEqual(shownScopes);
}

describe('the segment report on the embedded server', () => {
  let server: TestServer;
  let expected: Expected;

  beforeAll(async () => {
    server = await testServer({ ...ENV, ...demoWorld(300) }, () => NOW);
    expected = await exercise(server.app, 150);
  });
  afterAll(() => server?.close());

  it('counts each shown offer under the segment its reasons name, and the rest', async () => {
    expect(expected.bySegment.size).toBeGreaterThan(3);
    const res = await getReport(server.app, '/v1/reports/segments');
    expect(res.statusCode).toBe(200);
    const list = res.json() as SegmentsReport;
    expect(list.segments.map((s) => s.id)).toEqual(server.services.rules.current.segments.map((s) => s.id));
    expectList(list, expected);
    // The response schema serializes every field of the report, as the service built it.
    expect(list).toEqual(JSON.parse(JSON.stringify(await server.services.reports.segments({}))));
  });

  it('breaks the busiest segment down per campaign, offer and channel', async () => {
    const id = busiest(expected);
    const res = await getReport(server.app, `/v1/reports/segments/${id}?from=2026-11-20&to=2026-11-22`);
    expect(res.statusCode).toBe(200);
    const report = res.json() as SegmentReport;
    expect([report.from, report.to, report.segment.id]).toEqual(['2026-11-20', '2026-11-22', id]);
    expectBreakdowns(report, expected);
    expect(report).toEqual(
      JSON.parse(
        JSON.stringify(await server.services.reports.segment(id, { from: '2026-11-20', to: '2026-11-22' })),
      ),
    );
  });

  it('is described in the OpenAPI document', async () => {
    await server.app.ready();
    const paths = server.app.swagger().paths as Record<string, unknown>;
    expect(paths['/v1/reports/segments']).toBeDefined();
    expect(paths['/v1/reports/segments/{id}']).toBeDefined();
  });
});

describe.each(redisDeployments())('the segment report on %s', (_name, makeTarget) => {
  let node: TestServer;

  beforeAll(async () => {
    const target = makeTarget();
    // Customers with affinities for what the example rules offer, as the demo population has.
    const rules = await loadRuleset(EXAMPLE_RULES, NOW);
    const products = [...new Set(rules.offers.map((o) => o.productId))].sort();
    await loadRecords(target, [...generatePopulation(60, products, { seed: 7, affinities: 20 })]);
    // Two feedback shards: the report sums each day's hash over both (on a cluster, two slots).
    node = await startNode(target, { ...ENV, OFFERLOOP_RULES: EXAMPLE_RULES, FEEDBACK_SHARDS: '2' });
  });
  afterAll(() => node?.close());

  it('reports exactly the counts the stream consumers aggregated', async () => {
    const expected = await exercise(node.app, 60);
    // The consumers apply feedback asynchronously: wait (boundedly) until every count has arrived.
    await eventually(async () => {
      const res = await getReport(node.app, '/v1/reports/segments');
      expect(res.statusCode).toBe(200);
      expectList(res.json() as SegmentsReport, expected);
    }, 15_000);
    const res = await getReport(node.app, `/v1/reports/segments/${busiest(expected)}`);
    expectBreakdowns(res.json() as SegmentReport, expected);
  });
});
