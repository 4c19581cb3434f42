import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisUnavailableError } from '../src/errors.js';
import { Metrics } from '../src/metrics/metrics.js';
import { RedisConnection } from '../src/store/redis/redis-connection.js';
import { listen, postDecision, type TestServer, testLog, testServer } from './helpers.js';
import { auth, KEYS, type OfferloopNode, redisDeployments, startNode } from './support/offerloop-node.js';
import { type Exposition, familyOf, parseExposition, samplesOf, sumOf } from './support/prometheus-text.js';
import { TestWsClient } from './support/ws-client.js';

// GET /metrics: access by scope, the exposition's format, and metrics that move exactly with the
// traffic sent (embedded store); Redis calls, the memory tier and stream lag on Redis; the Grafana
// dashboard's queries against what a server exposes.

const DASHBOARD = fileURLToPath(new URL('../docker/grafana/offerloop-dashboard.json', import.meta.url));

async function scrape(app: TestServer['app'], key = 'prom-key'): Promise<Exposition> {
  const res = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${key}` } });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(res.body);
}

/** The value of a sample, 0 when the exposition has none (a series not created yet). */
const sampleValue = (e: Exposition, name: string, where: Record<string, string> = {}) =>
  sumOf(e, name, where);

describe('embedded server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await testServer({ OFFERLOOP_API_KEYS: 'agent-key=decide+feedback,prom-key=metrics' });
  });
  afterAll(() => server.close());

  it('asks for a key with the metrics scope', async () => {
    const get = (headers: Record<string, string>) => server.app.inject({ url: '/metrics', headers });
    expect((await get({})).statusCode).toBe(401);
    expect((await get({ authorization: 'Bearer wrong-key' })).statusCode).toBe(401);
    expect((await get({ authorization: 'Bearer agent-key' })).statusCode).toBe(403);
    const ok = await get({ authorization: 'Bearer prom-key' });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['cache-control']).toBe('no-store');
  });

  it('counts decisions, offers, feedback, requests and sessions exactly', async () => {
    const before = await scrape(server.app);
    // Decisions over REST, by channel; the offers they showed, by campaign.
    const sent = { call_center: 0, web: 0 };
    const shown = new Map<string, number>();
    const decisions: { decisionId: string; customerId: string; offerId: string }[] = [];
    for (let i = 1; i <= 8; i++) {
      const channel = i % 3 === 0 ? 'web' : 'call_center';
      const customerId = `cust-${(i % 5) + 1}`;
      const res = await postDecision(server.app, 'agent-key', { customerId, channel });
      expect(res.statusCode, res.body).toBe(200);
      sent[channel]++;
      const body = res.json() as { decisionId: string; offers: { offerId: string; campaignId: string }[] };
      for (const o of body.offers) shown.set(o.campaignId, (shown.get(o.campaignId) ?? 0) + 1);
      if (body.offers[0])
        decisions.push({ decisionId: body.decisionId, customerId, offerId: body.offers[0].offerId });
    }
    expect(decisions.length).toBeGreaterThan(0);
    const invalid = await postDecision(server.app, 'agent-key', { customerId: 'cust-1' });
    expect(invalid.statusCode).toBe(400);

    // Feedback: one accepted, then the same event again (duplicate), and one for no decision.
    const d = decisions[0]!;
    const event = {
      eventId: 'ev-m-1',
      decisionId: d.decisionId,
      offerId: d.offerId,
      customerId: d.customerId,
    };
    const feedback = (events: object[]) =>
      server.app.inject({
        method: 'POST',
        url: '/v1/feedback',
        headers: { authorization: 'Bearer agent-key' },
        payload: { events },
      });
    expect((await feedback([{ ...event, type: 'impression' }])).json()).toMatchObject({ accepted: 1 });
    expect(
      (
        await feedback([
          { ...event, type: 'impression' },
          { ...event, eventId: 'ev-m-2', decisionId: 'no-such-decision', type: 'click' },
        ])
      ).json(),
    ).toMatchObject({ duplicates: 1, rejected: 1 });

    // A dossier (a route with a customer id in its URL) and a URL that matches no route.
    const dossier = await server.app.inject({ url: '/v1/customers/cust-1', headers: auth('agent-key') });
    const nowhere = await server.app.inject({ url: '/v1/cust-2/nowhere', headers: auth('agent-key') });
    expect(nowhere.statusCode).toBe(404);

    // A WebSocket session, open while scraping, that decides once.
    const port = await listen(server.app);
    const client = await TestWsClient.open(`ws://127.0.0.1:${port}/v1/ws`, { key: 'agent-key' });
    try {
      const answer = await client.request({
        type: 'decide',
        request: { customerId: 'cust-3', channel: 'web' },
      });
      expect(answer.type).toBe('result');
      sent.web++;
      const result = answer.result as { offers: { campaignId: string }[] };
      for (const o of result.offers) shown.set(o.campaignId, (shown.get(o.campaignId) ?? 0) + 1);

      const after = await scrape(server.app);
      const delta = (name: string, where: Record<string, string> = {}) =>
        sampleValue(after, name, where) - sampleValue(before, name, where);

      for (const [channel, n] of Object.entries(sent)) {
        expect(delta('offerloop_decisions_total', { channel })).toBe(n);
      }
      expect(delta('offerloop_decisions_total')).toBe(sent.call_center + sent.web);
      for (const [campaign, n] of shown) expect(delta('offerloop_offers_shown_total', { campaign })).toBe(n);
      expect(delta('offerloop_offers_shown_total')).toBe([...shown.values()].reduce((a, b) => a + b, 0));
      expect(after.types.get('offerloop_offers_held_out_total')).toBe('counter');
      expect(delta('offerloop_decisions_explored_total')).toBe(0);

      expect(delta('offerloop_feedback_events_total', { status: 'accepted' })).toBe(1);
      expect(delta('offerloop_feedback_events_total', { status: 'duplicate' })).toBe(1);
      expect(delta('offerloop_feedback_events_total', { status: 'unknown_decision' })).toBe(1);
      expect(delta('offerloop_feedback_events_total', { status: 'queued' })).toBe(0);

      const decisionsRoute = { method: 'POST', route: '/v1/decisions' };
      expect(
        delta('offerloop_http_request_duration_seconds_count', { ...decisionsRoute, status_code: '200' }),
      ).toBe(8);
      expect(
        delta('offerloop_http_request_duration_seconds_count', { ...decisionsRoute, status_code: '400' }),
      ).toBe(1);
      expect(delta('offerloop_http_request_duration_seconds_count', decisionsRoute)).toBe(9);
      const inf = samplesOf(after, 'offerloop_http_request_duration_seconds_bucket', {
        ...decisionsRoute,
        status_code: '200',
        le: '+Inf',
      });
      expect(inf.map((s) => s.value)).toEqual([
        sampleValue(after, 'offerloop_http_request_duration_seconds_count', {
          ...decisionsRoute,
          status_code: '200',
        }),
      ]);
      expect(
        delta('offerloop_http_request_duration_seconds_count', {
          route: '/v1/customers/:id',
          status_code: String(dossier.statusCode),
        }),
      ).toBe(1);
      expect(
        delta('offerloop_http_request_duration_seconds_count', { route: 'unmatched', status_code: '404' }),
      ).toBe(1);
      // The previous scrape is counted once it has been sent.
      expect(delta('offerloop_http_request_duration_seconds_count', { route: '/metrics' })).toBe(1);

      expect(sampleValue(after, 'offerloop_websocket_sessions')).toBe(1);
      expect(sampleValue(after, 'offerloop_feedback_log_mode', { mode: 'embedded' })).toBe(1);
      expect(sampleValue(after, 'offerloop_feedback_spool_bytes')).toBe(0);
      expect(sampleValue(after, 'offerloop_feedback_decisions_lost_total')).toBe(0);
      expect(after.types.get('offerloop_learning_refresh_failures_total')).toBe('counter');
      expect(after.types.get('offerloop_learning_model_age_seconds')).toBe('gauge');
      // No Redis, no memory tier: those are not exposed at all rather than as zeros.
      expect(after.types.has('offerloop_redis_command_duration_seconds')).toBe(true);
      expect(samplesOf(after, 'offerloop_redis_command_duration_seconds_count')).toEqual([]);
      expect(after.types.has('offerloop_feedback_stream_lag')).toBe(false);
      expect(after.types.has('offerloop_profile_cache_hits_total')).toBe(false);

      // Process metrics: prom-client's defaults and the event-loop delay summary.
      expect(sampleValue(after, 'process_resident_memory_bytes')).toBeGreaterThan(0);
      expect(after.types.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
      expect(after.types.get('offerloop_event_loop_delay_seconds')).toBe('summary');
      expect(sampleValue(after, 'offerloop_event_loop_delay_seconds_count')).toBeGreaterThan(0);

      // Customer ids, decision ids and URLs are never label values.
      for (const s of after.samples) {
        for (const value of Object.values(s.labels)) expect(value).not.toMatch(/cust-|no-such|nowhere/);
      }
      // Names follow the conventions: our prefix, counters end in _total, base units.
      for (const [family, type] of after.types) {
        expect(family).toMatch(/^(offerloop|process|nodejs)_[a-z0-9_]+$/);
        if (family.startsWith('offerloop_') && type === 'counter') expect(family).toMatch(/_total$/);
        expect(family).not.toMatch(/_(ms|milliseconds|kb|mb)(_|$)/);
      }
    } finally {
      client.close();
      await client.closed().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(sampleValue(await scrape(server.app), 'offerloop_websocket_sessions')).toBe(0);
  });
});

describe.each(redisDeployments())('on %s', (_name, target) => {
  let node: OfferloopNode;
  beforeAll(async () => {
    node = await startNode(target(), { OFFERLOOP_API_KEYS: `${KEYS},prom-key=metrics` });
  });
  afterAll(() => node.close());

  it('sees every call at the connection: answers, deadlines passed and error replies', async () => {
    const metrics = new Metrics();
    const redis = await RedisConnection.open(target().config, testLog);
    try {
      redis.instrument(metrics.redisCalls('feedback'));
      const key = `${target().config.prefix}:metrics-test`;
      await redis.send(key, ['SET', key, '1']);
      await redis.send(key, ['GET', key]);
      await expect(redis.send(key, ['NO-SUCH-COMMAND'])).rejects.toThrow(/unknown command/i);
      // BLPOP waits 1 s for an empty list: past a 20 ms deadline. (Last: it holds the connection.)
      await expect(
        redis.send(`${key}:empty`, ['BLPOP', `${key}:empty`, '1'], { timeoutMs: 20 }),
      ).rejects.toThrow(RedisUnavailableError);
      // BLPOP's own answer comes after 1 s, and must not be observed a second time.
      await new Promise((r) => setTimeout(r, 1_100));
      const e = parseExposition((await metrics.scrape()).body);
      expect(
        sampleValue(e, 'offerloop_redis_command_duration_seconds_count', { connection: 'feedback' }),
      ).toBe(4);
      expect(
        sampleValue(e, 'offerloop_redis_errors_total', { connection: 'feedback', kind: 'timeout' }),
      ).toBe(1);
      expect(sampleValue(e, 'offerloop_redis_errors_total', { connection: 'feedback', kind: 'reply' })).toBe(
        1,
      );
      // The timed-out call was observed at its deadline (20 ms), not when BLPOP answered (1 s).
      expect(
        sampleValue(e, 'offerloop_redis_command_duration_seconds_bucket', {
          connection: 'feedback',
          le: '0.25',
        }),
      ).toBe(4);
    } finally {
      redis.close();
    }
  });

  it('times Redis calls, and exposes the memory tier and the feedback stream lag', async () => {
    for (let i = 1; i <= 5; i++) {
      const res = await postDecision(node.app, 'agent-key', {
        customerId: `cust-${i}`,
        channel: 'call_center',
      });
      expect(res.statusCode, res.body).toBe(200);
    }
    const e = await scrape(node.app);
    expect(
      sampleValue(e, 'offerloop_redis_command_duration_seconds_count', { connection: 'main' }),
    ).toBeGreaterThan(0);
    expect(
      sampleValue(e, 'offerloop_redis_command_duration_seconds_count', { connection: 'feedback' }),
    ).toBeGreaterThan(0);
    expect(sampleValue(e, 'offerloop_redis_errors_total', { kind: 'timeout' })).toBe(0);
    expect(sampleValue(e, 'offerloop_decisions_total', { channel: 'call_center' })).toBe(5);
    expect(
      sampleValue(e, 'offerloop_profile_cache_hits_total') +
        sampleValue(e, 'offerloop_profile_cache_misses_total'),
    ).toBeGreaterThanOrEqual(5);
    expect(sampleValue(e, 'offerloop_feedback_log_mode', { mode: 'direct' })).toBe(1);
    const lag = samplesOf(e, 'offerloop_feedback_stream_lag');
    expect(lag).toHaveLength(1);
    expect(lag[0]!.value).toBeGreaterThanOrEqual(0);
    expect(samplesOf(e, 'offerloop_feedback_stream_pending')[0]!.value).toBeGreaterThanOrEqual(0);

    // Every metric the Grafana dashboard queries is one a server exposes (catches typos).
    const queried = dashboardMetricNames();
    expect(queried.size).toBeGreaterThan(10);
    const missing = [...queried].filter((name) => familyOf(e, name) === undefined);
    expect(missing).toEqual([]);
  });
});

/** Every metric name in the dashboard's PromQL expressions. */
function dashboardMetricNames(): Set<string> {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: unknown[] };
  const names = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'expr' && typeof v === 'string') {
          for (const m of v.matchAll(/\b(?:offerloop|process|nodejs)_[a-z0-9_]+/g)) names.add(m[0]);
        } else visit(v);
      }
    }
  };
  visit(dashboard);
  return names;
}
