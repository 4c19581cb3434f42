import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChallengerReport } from '../../src/evaluation/challenger-report.js';
import { FIXTURE_RULES, listen, type TestServer, testServer } from '../helpers.js';
import {
  openWorkbench,
  type WorkbenchBrowser,
  watchPage,
  workbenchBrowser,
} from '../support/workbench-page.js';

// The workbench's champion/challenger in a real Chromium: the page shows the test running and the
// comparison GET /v1/reports/challenger answers; Start, Stop and Promote do what the API does, a
// key without admin reads the server's refusal, bad input reads the server's message, and nothing
// changes then.

const NOW = Date.parse('2026-11-22T12:00:00Z');
const KEYS = 'admin-key=admin+report,analyst-key=report,agent-key=decide+feedback';
const POLL = { timeout: 5_000, interval: 50 };
const FILES = ['campaigns.yaml', 'offers.yaml', 'policies.yaml', 'segments.yaml'];

/** The page's formats (workbench-challenger.js). */
const count = (n: number) => new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 }).format(n);
const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(2)}%`);
function points(x: number): string {
  const rounded = Number((x * 100).toFixed(2));
  return `${rounded > 0 ? '+' : rounded < 0 ? '−' : ''}${Math.abs(rounded).toFixed(2)}`;
}
const rateText = (rate: number | null, ci: [number, number] | null) =>
  ci === null ? pct(rate) : `${pct(rate)}${pct(ci[0])} to ${pct(ci[1])}`;
const pointsText = (d: { difference: number | null; ci95: [number, number] | null }) =>
  d.difference === null ? '—' : `${points(d.difference)} pp${points(d.ci95![0])} to ${points(d.ci95![1])}`;

describe("the workbench's champion/challenger", () => {
  let server: TestServer;
  let origin: string;
  let chromium: WorkbenchBrowser | undefined;
  let context: BrowserContext;
  let challengerVersion: string;

  const api = async (method: string, url: string, key: string, payload?: object) => {
    const res = await server.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${key}` },
      payload,
    });
    return { status: res.statusCode, body: res.body === '' ? null : res.json() };
  };
  const runningTest = async () => (await api('GET', '/v1/ruleset/challenger', 'analyst-key')).body.challenger;

  beforeAll(async () => {
    server = await testServer({ OFFERLOOP_API_KEYS: KEYS }, () => NOW);
    origin = `http://127.0.0.1:${await listen(server.app)}`;
    const files = Object.fromEntries(
      FILES.map((f) => [f, readFileSync(path.join(FIXTURE_RULES, f), 'utf8')]),
    );
    files['offers.yaml'] = files['offers.yaml']!.replace('name: Gold card', 'name: Gold card, challenger');
    const put = await api('PUT', '/v1/ruleset/candidates/reworded', 'admin-key', { files });
    expect(put.status).toBe(200);
    challengerVersion = put.body.version;
    expect(
      (await api('PUT', '/v1/ruleset/challenger', 'admin-key', { candidate: 'reworded', share: 0.3 })).status,
    ).toBe(200);
    // Decisions in both arms; the challenger's customers accept and convert more.
    const events: object[] = [];
    for (let i = 0; i < 300; i++) {
      const customerId = `wb-${i}`;
      const d = await api('POST', '/v1/decisions', 'agent-key', {
        customerId,
        channel: 'web',
        placement: 'home-hero',
      });
      const gold = d.body.offers.find((o: { offerId: string }) => o.offerId === 'gold-card');
      if (gold === undefined || (d.body.arm !== 'challenger' && i % 5 !== 0)) continue;
      const base = { decisionId: d.body.decisionId, offerId: 'gold-card', customerId };
      events.push({ ...base, eventId: `${customerId}-a`, type: 'accept' });
      if (i % 2 === 0) events.push({ ...base, eventId: `${customerId}-c`, type: 'convert', value: 80 });
    }
    expect((await api('POST', '/v1/feedback', 'agent-key', { events })).status).toBe(202);
    chromium = await workbenchBrowser();
    context = chromium.context;
  }, 120_000);

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
  });

  const cellsOf = (row: Locator) => row.locator('th, td').allInnerTexts();
  const flat = (texts: string[]) => texts.map((t) => t.replace(/\s*\n\s*/g, ''));
  const current = (page: Page) => page.locator('#challenger-current').textContent();
  const message = (page: Page) => page.locator('#challenger-message');

  it('shows the test running and the arms compared as the API answers them', async () => {
    const report = (await api('GET', '/v1/reports/challenger', 'analyst-key')).body as ChallengerReport;
    expect(report.challenger.customers).toBeGreaterThan(0);
    expect(report.champion.customers).toBeGreaterThan(0);
    const page = await context.newPage();
    const watch = watchPage(page);
    await openWorkbench(page, origin, 'analyst-key', 'challenger');
    await expect.poll(() => current(page), POLL).toContain('Candidate reworded');
    expect(await current(page)).toContain(`version ${challengerVersion}`);
    expect(await current(page)).toContain('30.00% of customers since 2026-11-22T12:00:00.000Z');

    const rows = page.locator('#challenger-comparison tbody tr');
    await expect.poll(() => rows.count(), POLL).toBe(4);
    const { champion: a, challenger: b } = report;
    expect(flat(await cellsOf(rows.nth(0)))).toEqual([
      'Customers reached',
      count(a.customers),
      count(b.customers),
      '',
    ]);
    expect(flat(await cellsOf(rows.nth(1)))).toEqual([
      'Conversion rate per customer',
      rateText(a.conversionRate, a.conversionRateCi95),
      rateText(b.conversionRate, b.conversionRateCi95),
      pointsText(report.conversionRate),
    ]);
    expect(flat(await cellsOf(rows.nth(3)))).toEqual([
      'Accept rate',
      rateText(a.acceptRate, a.acceptRateCi95),
      rateText(b.acceptRate, b.acceptRateCi95),
      pointsText(report.acceptRate),
    ]);
    const cards = report.campaigns.find((c) => c.campaignId === 'cards')!;
    expect(flat(await cellsOf(page.locator('#challenger-campaigns tr[data-campaign="cards"]')))).toEqual([
      'cards',
      count(cards.champion.customers),
      rateText(cards.champion.conversionRate, cards.champion.conversionRateCi95),
      count(cards.challenger.customers),
      rateText(cards.challenger.conversionRate, cards.challenger.conversionRateCi95),
      pointsText(cards.conversionRate),
    ]);
    expect(await watch.all()).toEqual([]);
    await page.close();
  });

  it('a key without admin reads the refusal, and the test goes on', async () => {
    const page = await context.newPage();
    const watch = watchPage(page);
    await openWorkbench(page, origin, 'analyst-key', 'challenger');
    await expect.poll(() => current(page), POLL).toContain('Candidate reworded');
    await page.getByRole('button', { name: 'Promote' }).click();
    await expect.poll(() => message(page).textContent(), POLL).toMatch(/^Promote failed: Refused: .*admin/);
    expect(await runningTest()).toMatchObject({ candidate: 'reworded', share: 0.3 });
    expect(server.services.rules.current.version).not.toBe(challengerVersion);
    // The only problems: the browser's own log line of the 403.
    expect((await watch.all()).every((p) => p.includes('403'))).toBe(true);
    await page.close();
  });

  it("bad input reads the server's message and changes nothing; Stop, Start and Promote do what they say", async () => {
    const page = await context.newPage();
    const watch = watchPage(page);
    await openWorkbench(page, origin, 'admin-key', 'challenger');
    await expect.poll(() => current(page), POLL).toContain('Candidate reworded');

    await page.getByLabel('Share (0 to 1)').fill('1.5');
    await page.getByRole('button', { name: 'Start' }).click();
    await expect.poll(() => message(page).textContent(), POLL).toMatch(/^Start failed: .*share/);
    expect(await runningTest()).toMatchObject({ candidate: 'reworded', share: 0.3 });

    await page.getByLabel('Candidate').fill('nope');
    await page.getByLabel('Share (0 to 1)').fill('0.5');
    await page.getByRole('button', { name: 'Start' }).click();
    await expect
      .poll(() => message(page).textContent(), POLL)
      .toBe("Start failed: no candidate ruleset 'nope'");
    expect(await runningTest()).toMatchObject({ candidate: 'reworded', share: 0.3 });

    await page.getByRole('button', { name: 'Stop' }).click();
    await expect.poll(() => current(page), POLL).toContain('No test is running');
    expect(await message(page).isHidden()).toBe(true);
    expect(await runningTest()).toBeNull();
    expect(await page.getByRole('button', { name: 'Promote' }).isDisabled()).toBe(true);

    await page.getByLabel('Candidate').fill('reworded');
    await page.getByRole('button', { name: 'Start' }).click();
    await expect.poll(() => current(page), POLL).toContain('50.00% of customers');
    expect(await runningTest()).toMatchObject({ candidate: 'reworded', share: 0.5 });

    await page.getByRole('button', { name: 'Promote' }).click();
    await expect
      .poll(() => page.locator('#challenger-notice').textContent(), POLL)
      .toBe(`Promoted: reworded is the ruleset in force (version ${challengerVersion}).`);
    await expect.poll(() => current(page), POLL).toContain('No test is running');
    expect(server.services.rules.current.version).toBe(challengerVersion);
    expect(server.services.rules.history()[0]).toMatchObject({
      cause: 'promote',
      version: challengerVersion,
    });
    expect((await watch.all()).every((p) => p.includes('400') || p.includes('404'))).toBe(true);
    await page.close();
  });
});
