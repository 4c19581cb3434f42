import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CampaignReport } from '../src/evaluation/campaign-report.js';
import { type PlanReport, planReport } from '../src/evaluation/plan-report.js';
import { type CounterIncrement, counterField, dayOf, type Metric } from '../src/feedback/feedback-effects.js';
import { MemoryFeedbackLog } from '../src/feedback/log/memory-feedback-log.js';
import type { Services } from '../src/services.js';
import { demoWorld, EXAMPLE_RULES, type TestServer, testServer } from './helpers.js';

// GET /v1/reports/plan over counters written straight into the store for a day of their own: the
// answer is the pure roll-up of those counters (evaluation/plan-report.ts) against the example plan
// (rules/plan.yaml), with the figures checked by hand too. Bad input is a 4xx that names the field;
// a plan with an unknown reference is a rules error with file and line, and the live plan stays.

const KEYS = 'report-key=report,decide-key=decide,ops-key=admin';
const NOW = Date.parse('2026-11-22T12:00:00Z');
const DAY = '2026-11-20';
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

let dir: string;
let server: TestServer;
let app: FastifyInstance;
let services: Services;
const counters = new Map<string, number>();

/** Writes counters of one campaign's first web offer on DAY, and keeps them for the expected answer. */
function count(campaignId: string, amounts: Partial<Record<Metric, number>>): void {
  const offer = services.rules.current.offers.find(
    (o) => o.campaign.id === campaignId && o.channels.includes('web'),
  );
  assert(offer, `no web offer of ${campaignId}`);
  const increments: CounterIncrement[] = Object.entries(amounts).map(([metric, amount]) => ({
    day: dayOf(Date.parse(`${DAY}T12:00:00Z`)),
    field: counterField(offer.id, 'web', null, metric as Metric),
    amount: amount!,
    float: metric === 'revenue' || metric.endsWith('PositionBased'),
  }));
  for (const i of increments) counters.set(i.field, (counters.get(i.field) ?? 0) + i.amount);
  assert(services.feedbackLog instanceof MemoryFeedbackLog);
  services.feedbackLog.stats.add(increments);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'offerloop-plan-'));
  await cp(EXAMPLE_RULES, dir, { recursive: true });
  server = await testServer({ ...demoWorld(20), OFFERLOOP_RULES: dir, OFFERLOOP_API_KEYS: KEYS }, () => NOW);
  ({ app, services } = server);
  count('lending-2026', { impressions: 400, accepts: 40, conversions: 8, revenue: 1_250_000 });
  count('cards-upgrade', { impressions: 1000, accepts: 30, revenue: 400_000 });
  count('grow-your-savings', { impressions: 200, accepts: 20, conversions: 5, revenue: 800_000.5 });
  count('protect-your-home', { impressions: 500, accepts: 25, conversions: 6_000 });
  count('go-digital', { impressions: 800, accepts: 80, conversions: 24, customersPositionBased: 1_500.25 });
  count('student-starter', { impressions: 100, accepts: 10, conversions: 3, customersPositionBased: 999.75 });
  count('stay-with-us', { impressions: 100, accepts: 12 });
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const get = (url: string, key = 'report-key') => app.inject({ url, headers: auth(key) });

describe('GET /v1/reports/plan', () => {
  it('answers the roll-up of the counters: factors pool their campaigns, goals their factors', async () => {
    const res = await get(`/v1/reports/plan?from=${DAY}&to=${DAY}`);
    expect(res.statusCode).toBe(200);
    const report = res.json() as PlanReport;
    const range = { from: dayOf(Date.parse(DAY)), to: dayOf(Date.parse(DAY)) };
    const expected = planReport({
      snapshot: services.rules.current,
      counters: new Map([[range.from, counters]]),
      range,
    });
    expect(report).toEqual(JSON.parse(JSON.stringify(expected)));

    // The same, by hand, for the example plan.
    const [deepen, win] = report.goals;
    expect(deepen).toMatchObject({
      id: 'deepen-relationships',
      counted: { from: DAY, to: DAY },
      target: { metric: 'revenue', value: 5_000_000 },
      actual: 2_450_000.5,
      progress: 2_450_000.5 / 5_000_000,
    });
    const factor = (id: string) => report.goals.flatMap((g) => g.factors).find((f) => f.id === id)!;
    expect(factor('lending-revenue')).toMatchObject({ actual: 1_250_000, progress: 0.5 });
    expect(factor('premium-relationships')).toMatchObject({ actual: 1_200_000.5 });
    expect(factor('protection-sales').actual).toBe(6_000);
    // go-digital and student-starter both serve it: 1500.25 + 999.75 persons.
    expect(factor('new-customers-won')).toMatchObject({ actual: 2_500, progress: 0.5 });
    // Pooled, not averaged: 24 conversions over 800 impressions of the one campaign serving it.
    expect(factor('digital-first')).toMatchObject({ actual: 24 / 800, progress: 24 / 800 / 0.02 });
    expect(factor('at-risk-saved')).toMatchObject({ actual: 0.12, progress: 0.12 / 0.15 });
    expect(win).toMatchObject({ actual: 2_500, progress: 0.5, factorsMet: 1 });
    const lending = factor('lending-revenue').campaigns[0]!;
    expect(lending).toMatchObject({ id: 'lending-2026', actual: 1_250_000 });
    expect(lending.kpis).toEqual([
      { metric: 'revenue', target: 2_500_000, actual: 1_250_000, progress: 0.5 },
      { metric: 'conversion_rate', target: 0.01, actual: 8 / 400, progress: 8 / 400 / 0.01 },
    ]);
    expect(report.unplanned).toEqual([]);
  });

  it('counts nothing of a goal before its period', async () => {
    const report = (await get('/v1/reports/plan?from=2025-11-01&to=2025-11-30')).json() as PlanReport;
    expect(report.goals.map((g) => [g.id, g.counted, g.actual])).toEqual([
      ['deepen-relationships', null, null],
      ['win-and-keep', null, null],
    ]);
  });

  it('defaults to the 30 days up to today', async () => {
    const report = (await get('/v1/reports/plan')).json() as PlanReport;
    expect([report.from, report.to]).toEqual(['2026-10-24', '2026-11-22']);
    expect(report.goals[0]!.actual).toBe(2_450_000.5);
  });

  it('shows every KPI of a campaign in its report, the first as kpi', async () => {
    const report = (
      await get(`/v1/reports/campaigns/lending-2026?from=${DAY}&to=${DAY}`)
    ).json() as CampaignReport;
    expect(report.kpis.map((k) => k.metric)).toEqual(['revenue', 'conversion_rate']);
    expect(report.kpi).toEqual(report.kpis[0]);
    const list = (await get(`/v1/reports/campaigns?from=${DAY}&to=${DAY}`)).json();
    expect(list.campaigns.find((c: { id: string }) => c.id === 'go-digital').kpis).toEqual([
      { metric: 'conversions', target: 50_000, actual: 24, progress: 24 / 50_000 },
      { metric: 'new_customers', target: 2_000, actual: 1_500.25, progress: 1_500.25 / 2_000 },
    ]);
  });

  it('refuses bad input with a 4xx that names the field', async () => {
    const bad = async (url: string, status: number, message: RegExp, key = 'report-key') => {
      const res = await get(url, key);
      expect(res.statusCode, url).toBe(status);
      expect(res.json().error.message).toMatch(message);
    };
    await bad('/v1/reports/plan?from=2026-02-30', 400, /querystring\.from must be a date/);
    await bad(
      '/v1/reports/plan?from=2026-11-02&to=2026-11-01',
      400,
      /querystring\.from .* is after querystring\.to/,
    );
    await bad('/v1/reports/plan?from=nope', 400, /querystring\/from|querystring\.from/);
    await bad('/v1/reports/plan?goal=x', 400, /goal/);
    await bad('/v1/reports/plan?from=2024-01-01&to=2026-01-01', 400, /at most 366 days/);
    expect((await app.inject({ url: '/v1/reports/plan' })).statusCode).toBe(401);
    expect((await get('/v1/reports/plan', 'decide-key')).statusCode).toBe(403);
  });

  it('is described in the OpenAPI document', async () => {
    await app.ready();
    const paths = app.swagger().paths as Record<string, { get?: { summary?: string } }>;
    expect(paths['/v1/reports/plan']?.get?.summary).toMatch(/goals/);
  });

  it('a plan with an unknown reference is a rules error at its file and line; the live plan keeps serving', async () => {
    const before = (await get(`/v1/reports/plan?from=${DAY}&to=${DAY}`)).json();
    const file = path.join(dir, 'plan.yaml');
    const good = await readFile(file, 'utf8');
    await writeFile(file, good.replace('goal: win-and-keep', 'goal: win-and-kept'));
    const res = await app.inject({ method: 'POST', url: '/v1/ruleset/reload', headers: auth('ops-key') });
    expect(res.statusCode).toBe(422);
    const problem = res.json().error.details.problems[0];
    expect(problem).toMatchObject({ file: 'plan.yaml', path: '/factors/3/goal' });
    expect(problem.message).toBe("unknown goal 'win-and-kept' (known: deepen-relationships, win-and-keep)");
    const line = good.split('\n').findIndex((l) => l.includes('goal: win-and-keep')) + 1;
    expect(problem.line).toBe(line);
    expect(res.json().error.message).toContain(`plan.yaml:${line}:`);
    expect((await get(`/v1/reports/plan?from=${DAY}&to=${DAY}`)).json()).toEqual(before);
    await writeFile(file, good);
  });
});
