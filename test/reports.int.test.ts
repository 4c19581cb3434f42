import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelIndex } from '../src/domain/channel.js';
import type { CampaignReport, CampaignsReport } from '../src/evaluation/campaign-report.js';
import type { SegmentEconomicsReport } from '../src/evaluation/segment-economics.js';
import { loadRuleset } from '../src/ruleset/load.js';
import type { RulesetSnapshot } from '../src/ruleset/snapshot.js';
import { generatePopulation } from '../src/sim/population.js';
import { demoWorld, EXAMPLE_RULES, postDecision, type TestServer, testServer } from './helpers.js';
import { eventually, loadRecords, NOW, redisDeployments, startNode } from './support/offerloop-node.js';

// Campaign reports over real decisions and real feedback: what the report counts must be exactly
// what was shown, held out and reacted to. Embedded first, then on Redis (one node and a cluster),
// where the counters arrive through the stream consumers.

const KEYS = 'agent-key=decide+feedback,report-key=report,decide-key=decide';
/** No exploration: an explored offer held out for a control group is not listed in `suppressed`. */
const ENV = { OFFERLOOP_API_KEYS: KEYS, OFFERLOOP_EXPLORATION: '0' };
const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const TODAY = '2026-11-22';
/** 29 days before TODAY: the default start of a report. */
const DEFAULT_FROM = '2026-10-24';

interface Shown {
  readonly decisionId: string;
  readonly customerId: string;
  readonly channel: string;
  readonly offerId: string;
  readonly campaignId: string;
}

/** What the report of one campaign must say, counted on the client side. */
interface Expected {
  readonly campaignId: string;
  readonly counts: Record<string, number>;
  readonly cost: number;
  readonly byChannel: Record<string, number>;
  readonly byOffer: Record<string, number>;
  /** Impressions and controls of every campaign, for the list endpoint. */
  readonly allImpressions: number;
  readonly allControls: number;
}

const tally = (into: Record<string, number>, key: string, n = 1) => {
  into[key] = (into[key] ?? 0) + n;
};

/**
 * Decides for `customers` customers on two channels (explain: true shows what the control group
 * withheld), picks the campaign with held-out offers and the most impressions, and sends feedback
 * for its offers: every impression seen, every 2nd clicked, accepts/rejects/dismissals in turn,
 * every 6th converted (25.5), and two conversions of held-out offers (10 each).
 */
async function exercise(
  app: FastifyInstance,
  snapshot: RulesetSnapshot,
  customers: number,
): Promise<Expected> {
  const shown: Shown[] = [];
  const heldOut: Shown[] = [];
  for (let n = 1; n <= customers; n++) {
    for (const channel of ['web', 'call_center']) {
      const customerId = `cust-${n}`;
      const res = await postDecision(app, 'agent-key', { customerId, channel, explain: true });
      expect(res.statusCode).toBe(200);
      const d = res.json() as {
        decisionId: string;
        offers: { offerId: string; campaignId: string }[];
        suppressed: { offerId: string; campaignId: string; reason: string }[];
      };
      const base = { decisionId: d.decisionId, customerId, channel };
      for (const o of d.offers) shown.push({ ...base, offerId: o.offerId, campaignId: o.campaignId });
      for (const s of d.suppressed) {
        if (s.reason === 'control_group' || s.reason === 'global_holdout')
          heldOut.push({ ...base, offerId: s.offerId, campaignId: s.campaignId });
      }
    }
  }
  const impressions: Record<string, number> = {};
  const controls: Record<string, number> = {};
  for (const s of shown) tally(impressions, s.campaignId);
  for (const h of heldOut) tally(controls, h.campaignId);
  const campaignId = Object.keys(impressions).sort(
    (a, b) => Number(controls[b] > 0) - Number(controls[a] > 0) || impressions[b]! - impressions[a]!,
  )[0]!;
  expect(controls[campaignId]).toBeGreaterThan(0);

  const counts: Record<string, number> = {
    impressions: 0,
    views: 0,
    clicks: 0,
    accepts: 0,
    rejects: 0,
    dismissals: 0,
    conversions: 0,
    revenue: 0,
    controls: controls[campaignId]!,
    controlConversions: 0,
    controlRevenue: 0,
  };
  let cost = 0;
  const byChannel: Record<string, number> = {};
  const byOffer: Record<string, number> = {};
  const events: object[] = [];
  let seq = 0;
  const event = (s: Shown, type: string, value?: number) =>
    events.push({
      eventId: `rep-${++seq}`,
      decisionId: s.decisionId,
      offerId: s.offerId,
      customerId: s.customerId,
      type,
      ...(value === undefined ? {} : { value }),
    });
  shown
    .filter((s) => s.campaignId === campaignId)
    .forEach((s, i) => {
      counts.impressions!++;
      cost += snapshot.policies[channelIndex(s.channel)]!.cost;
      tally(byChannel, s.channel);
      tally(byOffer, s.offerId);
      event(s, 'impression');
      counts.views!++;
      if (i % 2 === 0) {
        event(s, 'click');
        counts.clicks!++;
      }
      const terminal = (['accept', 'reject', 'dismiss'] as const)[i % 3]!;
      event(s, terminal);
      counts[{ accept: 'accepts', reject: 'rejects', dismiss: 'dismissals' }[terminal]]!++;
      if (i % 6 === 0) {
        event(s, 'convert', 25.5);
        counts.conversions!++;
        counts.revenue! += 25.5;
      }
    });
  for (const h of heldOut.filter((x) => x.campaignId === campaignId).slice(0, 2)) {
    event(h, 'convert', 10);
    counts.controlConversions!++;
    counts.controlRevenue! += 10;
  }
  // Feedback on another campaign's offer must not count for this one.
  const other = shown.find((s) => s.campaignId !== campaignId);
  if (other) event(other, 'click');

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
  return {
    campaignId,
    counts,
    cost,
    byChannel,
    byOffer,
    allImpressions: shown.length,
    allControls: heldOut.length,
  };
}

function getReport(app: FastifyInstance, url: string, key = 'report-key', headers: object = {}) {
  return app.inject({ method: 'GET', url, headers: { ...auth(key), ...headers } });
}

function expectTotals(report: CampaignReport, expected: Expected): void {
  expect(report.totals).toMatchObject(expected.counts);
  expect(report.totals.cost).toBeCloseTo(expected.cost, 9);
}

describe('campaign reports on the embedded server', () => {
  let server: TestServer;
  let app: FastifyInstance;
  let expected: Expected;

  beforeAll(async () => {
    server = await testServer({ ...ENV, ...demoWorld(300) }, () => NOW);
    app = server.app;
    expected = await exercise(app, server.services.rules.current, 150);
  });
  afterAll(() => server?.close());

  it('counts exactly what was shown, held out and reacted to, over the last 30 days by default', async () => {
    const res = await getReport(app, `/v1/reports/campaigns/${expected.campaignId}`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const report = res.json() as CampaignReport;
    const campaign = server.services.rules.current.campaignById.get(expected.campaignId)!;
    expect(report.campaign).toMatchObject({
      id: campaign.id,
      name: campaign.name,
      objective: campaign.objective,
    });
    expect(report.campaign.controlShare).toBe(campaign.controlShare);
    expect([report.from, report.to, report.groupBy, report.groups]).toEqual([DEFAULT_FROM, TODAY, null, []]);
    expectTotals(report, expected);
    const n = expected.counts.impressions!;
    expect(report.totals.rates.acceptRate).toBe(expected.counts.accepts! / n);
    expect(report.totals.funnel.map((s) => s.count)).toEqual([
      n,
      expected.counts.accepts,
      expected.counts.conversions,
    ]);
    expect(report.totals.uplift).toMatchObject({
      metric: 'conversion_rate',
      treatedRate: expected.counts.conversions! / n,
      controlRate: expected.counts.controlConversions! / expected.counts.controls!,
    });
    expect(report.totals.uplift.ci95).toHaveLength(2);
    expect(report.kpi).toMatchObject({ metric: campaign.kpi!.metric, target: campaign.kpi!.target });
    expect(report.kpi!.progress).toBe(report.kpi!.actual! / campaign.kpi!.target);
  });

  it('breaks the totals down by channel, offer, segment and day', async () => {
    const url = (groupBy: string) => `/v1/reports/campaigns/${expected.campaignId}?groupBy=${groupBy}`;
    const keyed = (r: CampaignReport) => Object.fromEntries(r.groups.map((g) => [g.key, g.impressions]));
    const byChannel = (await getReport(app, url('channel'))).json() as CampaignReport;
    expect(byChannel.groupBy).toBe('channel');
    expect(keyed(byChannel)).toEqual(expected.byChannel);
    expect(byChannel.groups.map((g) => g.key)).toEqual(Object.keys(expected.byChannel).sort());
    expect(keyed((await getReport(app, url('offer'))).json())).toEqual(expected.byOffer);
    const bySegment = (await getReport(app, url('segment'))).json() as CampaignReport;
    expect(bySegment.groups.reduce((sum, g) => sum + g.impressions, 0)).toBe(expected.counts.impressions);
    const byDay = (await getReport(app, `${url('day')}&from=2026-11-20`)).json() as CampaignReport;
    expect(byDay.groups.map((g) => [g.key, g.impressions])).toEqual([
      ['2026-11-20', 0],
      ['2026-11-21', 0],
      [TODAY, expected.counts.impressions],
    ]);
    expect(byDay.groups[0]!.rates.acceptRate).toBeNull();
    // The response schema serializes every field of the report, as the service built it.
    const direct = await server.services.reports.campaign(expected.campaignId, { groupBy: 'segment' });
    expect(bySegment).toEqual(JSON.parse(JSON.stringify(direct)));
  });

  it('lists every campaign of the ruleset with its totals', async () => {
    const res = await getReport(app, '/v1/reports/campaigns?from=2026-11-01');
    expect(res.statusCode).toBe(200);
    const list = res.json() as CampaignsReport;
    expect([list.from, list.to]).toEqual(['2026-11-01', TODAY]);
    expect(list.campaigns.map((c) => c.id)).toEqual(server.services.rules.current.campaigns.map((c) => c.id));
    const mine = list.campaigns.find((c) => c.id === expected.campaignId)!;
    const report = (await getReport(app, `/v1/reports/campaigns/${expected.campaignId}`)).json();
    expect(mine.totals).toEqual(report.totals);
    expect(mine.kpi).toEqual(report.kpi);
    expect(list).toEqual(
      JSON.parse(JSON.stringify(await server.services.reports.campaigns({ from: '2026-11-01' }))),
    );
    expect(list.campaigns.reduce((sum, c) => sum + c.totals.impressions, 0)).toBe(expected.allImpressions);
    expect(list.campaigns.reduce((sum, c) => sum + c.totals.controls, 0)).toBe(expected.allControls);
    // A range before any activity: zeros and nulls, never NaN.
    const empty = (await getReport(app, '/v1/reports/campaigns?from=2026-01-01&to=2026-01-31')).json();
    expect(empty.campaigns[0].totals).toMatchObject({ impressions: 0, roi: null, acceptRateCi95: null });
  });

  it('reports channel economics per segment over the same counters: every impression, priced', async () => {
    const res = await getReport(app, '/v1/reports/channel-economics');
    expect(res.statusCode).toBe(200);
    const report = res.json() as SegmentEconomicsReport;
    expect(report.rows.reduce((sum, r) => sum + r.impressions, 0)).toBe(expected.allImpressions);
    const snapshot = server.services.rules.current;
    for (const row of report.rows) {
      expect(row.contactCost).toBeCloseTo(row.impressions * row.costPerContact, 9);
      const segment = row.segmentId === null ? undefined : snapshot.segmentById.get(row.segmentId);
      const ch = channelIndex(row.channel);
      expect(row.costPerContact).toBe(segment?.economics?.cost[ch] ?? snapshot.policies[ch]!.cost);
    }
    expect(report.segments.map((s) => s.id)).toEqual(snapshot.segments.map((s) => s.id));
  });

  it('answers CSV for format=csv or Accept: text/csv, as a download', async () => {
    const url = `/v1/reports/campaigns/${expected.campaignId}?groupBy=channel`;
    const res = await getReport(app, `${url}&format=csv`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe(
      `attachment; filename="campaign-${expected.campaignId}-${DEFAULT_FROM}-${TODAY}.csv"`,
    );
    const lines = res.body.trimEnd().split('\r\n');
    expect(lines[0]!.startsWith('key,impressions,views,clicks,')).toBe(true);
    expect(lines.slice(1).map((l) => l.split(',').slice(0, 2))).toEqual([
      ...Object.keys(expected.byChannel)
        .sort()
        .map((ch) => [ch, String(expected.byChannel[ch])]),
      ['total', String(expected.counts.impressions)],
    ]);
    const accepted = await getReport(app, url, 'report-key', { accept: 'text/csv' });
    expect(accepted.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(accepted.body).toBe(res.body);
    const json = await getReport(app, `${url}&format=json`, 'report-key', { accept: 'text/csv' });
    expect(json.headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it('needs a key with the report scope', async () => {
    const url = `/v1/reports/campaigns/${expected.campaignId}`;
    expect((await app.inject({ method: 'GET', url })).statusCode).toBe(401);
    const forbidden = await getReport(app, url, 'decide-key');
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().error.message).toMatch(/'report' scope/);
    expect((await getReport(app, '/v1/reports/campaigns', 'decide-key')).statusCode).toBe(403);
  });

  it('refuses a bad query with a 400 that says what is wrong, and an unknown campaign with a 404', async () => {
    const base = `/v1/reports/campaigns/${expected.campaignId}`;
    for (const [query, message] of [
      ['from=2026-02-30', /querystring.from must be a date YYYY-MM-DD, got '2026-02-30'/],
      ['to=yesterday', /querystring.to must match pattern/],
      ['from=2026-11-22&to=2026-11-01', /from \(2026-11-22\) is after querystring.to \(2026-11-01\)/],
      ['from=2026-11-23', /after querystring.to \(2026-11-22\)/],
      ['from=2025-11-21&to=2026-11-22', /at most 366 days; from..to spans 367/],
      ['groupBy=week', /querystring.groupBy must be one of: channel, segment, offer, day/],
      ['format=xml', /querystring.format must be one of: json, csv/],
      ['colour=red', /unknown field 'colour'/],
    ] as const) {
      const res = await getReport(app, `${base}?${query}`);
      expect(res.statusCode, query).toBe(400);
      expect(res.json().error.message, query).toMatch(message);
    }
    expect((await getReport(app, `${base}?from=2025-11-22&to=2026-11-22`)).statusCode).toBe(200);
    expect((await getReport(app, '/v1/reports/campaigns?to=2026-13-01')).statusCode).toBe(400);
    const missing = await getReport(app, '/v1/reports/campaigns/no-such-campaign');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toEqual({
      code: 'not_found',
      message: "no campaign 'no-such-campaign' in the ruleset in force",
    });
  });

  it('is described in the OpenAPI document', async () => {
    await app.ready();
    const paths = app.swagger().paths as Record<string, unknown>;
    expect(paths['/v1/reports/campaigns']).toBeDefined();
    expect(paths['/v1/reports/campaigns/{id}']).toBeDefined();
  });
});

describe.each(redisDeployments())('campaign reports on %s', (_name, makeTarget) => {
  let node: TestServer;

  beforeAll(async () => {
    const target = makeTarget();
    // Customers with affinities for what the example rules offer, as the demo population has.
    const rules = await loadRuleset(EXAMPLE_RULES, NOW);
    const products = [...new Set(rules.offers.map((o) => o.productId))].sort();
    await loadRecords(target, [...generatePopulation(60, products, { seed: 7, affinities: 20 })]);
    // Two feedback shards: the report sums each day's hash over both (on a cluster, two slots).
    node = await startNode(target, {
      ...ENV,
      OFFERLOOP_RULES: EXAMPLE_RULES,
      FEEDBACK_SHARDS: '2',
    });
  });
  afterAll(() => node?.close());

  it('reports exactly the counts the stream consumers aggregated', async () => {
    const expected = await exercise(node.app, node.services.rules.current, 60);
    let report: CampaignReport | undefined;
    // The consumers apply feedback asynchronously: wait (boundedly) until every count has arrived.
    await eventually(async () => {
      const res = await getReport(node.app, `/v1/reports/campaigns/${expected.campaignId}?groupBy=offer`);
      expect(res.statusCode).toBe(200);
      report = res.json() as CampaignReport;
      expectTotals(report, expected);
    }, 15_000);
    expect(Object.fromEntries(report!.groups.map((g) => [g.key, g.impressions]))).toEqual(expected.byOffer);
    const list = (await getReport(node.app, '/v1/reports/campaigns')).json() as CampaignsReport;
    expect(list.campaigns.reduce((sum, c) => sum + c.totals.impressions, 0)).toBe(expected.allImpressions);
    expect(list.campaigns.reduce((sum, c) => sum + c.totals.controls, 0)).toBe(expected.allControls);
  });
});
