import assert from 'node:assert/strict';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KpiProgress } from '../../src/evaluation/kpi.js';
import type { PlanGoal, PlanReport } from '../../src/evaluation/plan-report.js';
import { counterField, dayOf, type Metric } from '../../src/feedback/feedback-effects.js';
import { MemoryFeedbackLog } from '../../src/feedback/log/memory-feedback-log.js';
import { demoWorld, FIXTURE_RULES, listen, type TestServer, testServer } from '../helpers.js';
import {
  openWorkbench,
  type WorkbenchBrowser,
  watchPage,
  workbenchBrowser,
} from '../support/workbench-page.js';

// The plan in a real Chromium: counters of known values, written for a day of their own into the
// example ruleset's world (rules/plan.yaml, rules/campaigns.yaml), and the page must show exactly
// what GET /v1/reports/plan answers for that day: each goal with its objective, period, progress
// against its target, its factors and the campaigns serving them with every KPI. A range outside
// the goals' periods counts nothing; a bad range shows the server's reason.

const KEYS = 'analyst-key=report';
const NOW = Date.parse('2026-11-22T12:00:00Z');
const DAY = '2026-02-01';

/** [campaign, counts] of DAY, on the campaign's first web offer. */
const COUNTS: [string, Partial<Record<Metric, number>>][] = [
  ['lending-2026', { impressions: 400, accepts: 40, conversions: 8, revenue: 1_250_000 }],
  ['cards-upgrade', { impressions: 1000, accepts: 30, revenue: 400_000 }],
  ['grow-your-savings', { impressions: 200, accepts: 20, conversions: 5, revenue: 800_000.5 }],
  ['protect-your-home', { impressions: 500, accepts: 25, conversions: 6_000 }],
  ['go-digital', { impressions: 800, accepts: 80, conversions: 24, customersPositionBased: 1_500.25 }],
  ['stay-with-us', { impressions: 100, accepts: 12 }],
];

/** The page's words and formats (workbench-plan.js). */
const LABELS: Record<string, string> = {
  accept_rate: 'Accept rate',
  conversion_rate: 'Conversion rate',
  conversions: 'Conversions',
  revenue: 'Revenue',
  new_customers: 'New customers',
  retention: 'Retention',
};
function value(metric: string, x: number | null): string {
  if (x === null) return '—';
  if (['accept_rate', 'conversion_rate', 'retention'].includes(metric)) return `${(x * 100).toFixed(2)}%`;
  if (metric === 'revenue')
    return new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(x);
  if (metric === 'conversions') return new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 }).format(x);
  return new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 }).format(x);
}
const percent = (p: number) => `${Math.round(p * 100)}%`;
const progressText = (p: number | null) => (p === null ? 'no data yet' : percent(p));
const ofTarget = (metric: string, actual: number | null, target: number) =>
  `${LABELS[metric]} ${value(metric, actual)} of ${value(metric, target)}`;
const kpiText = (k: KpiProgress) => `${ofTarget(k.metric, k.actual, k.target)} (${progressText(k.progress)})`;

describe("the workbench's plan", () => {
  let server: TestServer;
  let origin: string;
  let chromium: WorkbenchBrowser | undefined;
  let context: BrowserContext;
  let plan: PlanReport;

  async function get(path: string) {
    const res = await fetch(`${origin}${path}`, { headers: { authorization: 'Bearer analyst-key' } });
    return { status: res.status, body: (await res.json()) as PlanReport & { error?: { message: string } } };
  }

  beforeAll(async () => {
    server = await testServer({ ...demoWorld(20), OFFERLOOP_API_KEYS: KEYS }, () => NOW);
    origin = `http://127.0.0.1:${await listen(server.app)}`;
    const log = server.services.feedbackLog;
    assert(log instanceof MemoryFeedbackLog);
    const day = dayOf(Date.parse(`${DAY}T12:00:00Z`));
    for (const [campaignId, counts] of COUNTS) {
      const offer = server.services.rules.current.offers.find(
        (o) => o.campaign.id === campaignId && o.channels.includes('web'),
      );
      assert(offer, `no web offer of ${campaignId}`);
      log.stats.add(
        Object.entries(counts).map(([metric, amount]) => ({
          day,
          field: counterField(offer.id, 'web', null, metric as Metric),
          amount: amount!,
          float: metric === 'revenue' || metric.endsWith('PositionBased'),
        })),
      );
    }
    const { status, body } = await get(`/v1/reports/plan?from=${DAY}&to=${DAY}`);
    expect(status, JSON.stringify(body)).toBe(200);
    plan = body;
    chromium = await workbenchBrowser();
    context = chromium.context;
  }, 120_000);

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
  });

  /** Signs in on the plan and shows the days from..to. */
  async function showPlan(page: Page, from: string, to: string): Promise<void> {
    await openWorkbench(page, origin, 'analyst-key', 'plan');
    await page.getByLabel('From', { exact: true }).fill(from);
    await page.getByLabel('To', { exact: true }).fill(to);
    await page.getByRole('button', { name: 'Show' }).click();
  }

  it('the API rolls the counters up to factors and goals', () => {
    const [deepen, win] = plan.goals;
    expect(deepen).toMatchObject({
      id: 'deepen-relationships',
      actual: 2_450_000.5,
      progress: 2_450_000.5 / 5_000_000,
    });
    expect(win).toMatchObject({ id: 'win-and-keep', actual: 1_500.25, progress: 1_500.25 / 5_000 });
    expect(deepen!.factors.map((f) => [f.id, f.actual])).toEqual([
      ['lending-revenue', 1_250_000],
      ['premium-relationships', 1_200_000.5],
      ['protection-sales', 6_000],
    ]);
  });

  it('shows every goal, factor and campaign as the API answers them', async () => {
    const page = await context.newPage();
    const watch = watchPage(page);
    await showPlan(page, DAY, DAY);
    await page.locator('#section-status').getByText(`2 goals, ${DAY} to ${DAY}`).waitFor();
    const goals = page.locator('[data-goal]');
    expect(await goals.count()).toBe(plan.goals.length);
    for (const goal of plan.goals) await expectGoal(page, goal);
    // Every campaign of the example serves a factor.
    expect(plan.unplanned).toEqual([]);
    expect(await page.locator('#plan-unplanned').count()).toBe(0);
    // A bar beside the text, full at 100% or more.
    const lending = page.locator('[data-factor="lending-revenue"] meter');
    expect(await lending.getAttribute('value')).toBe('50');
    expect(await lending.getAttribute('aria-label')).toBe('50% of the revenue target');
    const digital = page.locator('[data-factor="digital-first"] meter');
    expect(await digital.getAttribute('value')).toBe('100');
    expect(await digital.getAttribute('aria-label')).toBe('150% of the conversion rate target');
    expect(await watch.all()).toEqual([]);
    await page.close();
  });

  async function expectGoal(page: Page, goal: PlanGoal): Promise<void> {
    const section = page.locator(`[data-goal="${goal.id}"]`);
    const text = async (selector: string) => (await section.locator(selector).first().textContent())?.trim();
    expect(await text('h3')).toBe(goal.name);
    expect(await text('[data-field="objective"]')).toBe(goal.objective);
    expect(await text('[data-field="period"]')).toBe(
      `Period ${goal.period.start.slice(0, 10)} to ${goal.period.end === null ? 'open' : goal.period.end.slice(0, 10)}; counted ${goal.counted!.from} to ${goal.counted!.to}.`,
    );
    expect(await text('[data-field="headline"]')).toBe(
      ofTarget(goal.target.metric, goal.actual, goal.target.value),
    );
    expect(await text('.kpi [data-field="progress"]')).toBe(progressText(goal.progress));
    const mean = goal.factorProgress === null ? '' : `; factors ${percent(goal.factorProgress)} on average`;
    expect(await text('[data-field="factors"]')).toBe(
      `${goal.factorsMet} of ${goal.factors.length} factors at target${mean}.`,
    );
    for (const factor of goal.factors) {
      const row = section.locator(`tr[data-factor="${factor.id}"]`);
      expect(await row.locator('th').textContent()).toBe(factor.name);
      expect(await row.locator('[data-field="actual"]').textContent()).toBe(
        value(factor.metric, factor.actual),
      );
      expect(await row.locator('[data-field="target"]').textContent()).toBe(
        value(factor.metric, factor.target),
      );
      expect(await row.locator('[data-field="progress"]').textContent()).toBe(progressText(factor.progress));
      const rows = section.locator(`tr[data-factor-of="${factor.id}"][data-campaign]`);
      expect(await rows.count()).toBe(factor.campaigns.length);
      for (const [i, campaign] of factor.campaigns.entries()) {
        const cells = rows.nth(i);
        expect(await cells.getAttribute('data-campaign')).toBe(campaign.id);
        expect(await cells.locator('td').first().textContent()).toBe(`↳ ${campaign.name}`);
        expect(await cells.locator('[data-field="actual"]').textContent()).toBe(
          value(factor.metric, campaign.actual),
        );
        expect(await cells.locator('[data-kpi]').allTextContents()).toEqual(campaign.kpis.map(kpiText));
      }
    }
  }

  it('counts nothing of a goal outside the days asked for, and shows a bad range refused', async () => {
    const page = await context.newPage();
    const watch = watchPage(page);
    await showPlan(page, '2025-06-01', '2025-06-30');
    await page.locator('#section-status').getByText('2 goals, 2025-06-01 to 2025-06-30').waitFor();
    const period = page.locator('[data-goal="deepen-relationships"] [data-field="period"]');
    expect(await period.textContent()).toBe(
      'Period 2026-01-01 to open: outside the days asked for, nothing counted.',
    );
    expect(
      await page.locator('[data-goal="deepen-relationships"] [data-field="headline"]').textContent(),
    ).toBe('Revenue — of 5,000,000.00');
    expect(
      await page.locator('[data-goal="deepen-relationships"] .kpi [data-field="progress"]').textContent(),
    ).toBe('no data yet');

    await page.getByLabel('From', { exact: true }).fill('2026-03-02');
    await page.getByLabel('To', { exact: true }).fill('2026-03-01');
    await page.getByRole('button', { name: 'Show' }).click();
    const error = page.locator('#error');
    await error.getByText('querystring.from (2026-03-02) is after querystring.to (2026-03-01)').waitFor();
    // Chromium logs the refused request itself; nothing else may appear.
    const refused =
      'console: Failed to load resource: the server responded with a status of 400 (Bad Request)';
    expect(await watch.all()).toEqual([refused]);
    await page.close();
  });

  it('a ruleset without a plan says so, and lists its campaigns outside the plan with their KPIs', async () => {
    const bare = await testServer({ OFFERLOOP_RULES: FIXTURE_RULES, OFFERLOOP_API_KEYS: KEYS }, () => NOW);
    try {
      const bareOrigin = `http://127.0.0.1:${await listen(bare.app)}`;
      const res = await fetch(`${bareOrigin}/v1/reports/plan`, {
        headers: { authorization: 'Bearer analyst-key' },
      });
      const answer = (await res.json()) as PlanReport;
      expect(answer.goals).toEqual([]);
      const page = await context.newPage();
      const watch = watchPage(page);
      await openWorkbench(page, bareOrigin, 'analyst-key', 'plan');
      await page.locator('#section-status').getByText(`0 goals, ${answer.from} to ${answer.to}`).waitFor();
      await page.getByText('The ruleset in force has no goals').waitFor();
      const items = page.locator('#plan-unplanned li[data-campaign]');
      expect(await items.evaluateAll((els) => els.map((e) => e.getAttribute('data-campaign')))).toEqual(
        answer.unplanned.map((c) => c.id),
      );
      for (const [i, campaign] of answer.unplanned.entries())
        expect(await items.nth(i).locator('[data-kpi]').allTextContents()).toEqual(
          campaign.kpis.map(kpiText),
        );
      expect(await watch.all()).toEqual([]);
      await page.close();
    } finally {
      await bare.close();
    }
  });
});
