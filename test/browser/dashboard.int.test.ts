import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  CampaignReport,
  CampaignsReport,
  CustomerUpliftReport,
} from '../../src/evaluation/campaign-report.js';
import { counterField, dayOf, type Metric } from '../../src/feedback/feedback-effects.js';
import { MemoryFeedbackLog } from '../../src/feedback/log/memory-feedback-log.js';
import type { Services } from '../../src/services.js';
import { demoWorld, listen, type TestServer, testServer } from '../helpers.js';
import { launchBrowser } from '../support/browser.js';

// The campaign dashboard (/dashboard/) in a real Chromium against real report data: decisions and
// feedback go in through the HTTP API, the page must show exactly what GET /v1/reports/campaigns
// answers, draw its charts, download the CSV with the key, refuse wrong keys, say "no data yet" for
// an empty range, and never trip its Content Security Policy. The per-customer uplift is also checked
// on counters written straight into the store for a day of their own (PER_CUSTOMER_DAY), with
// known counts, and so are the funnel journeys (JOURNEY_DAY).

const KEYS = 'ops-key=decide+feedback+report,desk-key=decide+feedback';
/** Demo customers to decide for, on the web and by phone. */
const CUSTOMERS = 400;
const POLL = { timeout: 5_000, interval: 50 };

/** The page's number formats (dashboard.js), to compare its text with the API's numbers. */
const count = (n: number) => new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 }).format(n);
const pct2 = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(2)}%`);
function ppNumber(x: number): string {
  const rounded = Number((x * 100).toFixed(2));
  return `${rounded > 0 ? '+' : rounded < 0 ? '−' : ''}${Math.abs(rounded).toFixed(2)}`;
}
const pp = (x: number) => `${ppNumber(x)} pp`;
const money = (n: number | null) =>
  n === null
    ? '—'
    : new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(n);

/** An uplift cell of a table: "+1.20 pp (−0.40 to +2.80)". */
const intervalCell = (uplift: number, [low, high]: [number, number]) =>
  `${pp(uplift)} (${ppNumber(low)} to ${ppNumber(high)})`;

/** What the list's per-customer uplift cell says: the uplift and its interval, or why there is none. */
function customerUpliftCell(cu: CustomerUpliftReport): string {
  if (cu.uplift !== null && cu.ci95 !== null) return intervalCell(cu.uplift, cu.ci95);
  if (cu.treated.customers === 0 && cu.control.customers === 0) return 'no customers yet';
  return cu.control.customers === 0 ? 'no control customers yet' : 'no treated customers yet';
}

/** A day far from today's range for the per-customer counters with known counts. */
const PER_CUSTOMER_DAY = '2021-03-01';
/** Per-customer counters of that day: 1000 customers, 600 converted, against 1000 control, 300. */
const PER_CUSTOMER: Partial<Record<Metric, number>> = {
  impressions: 1500,
  controls: 1400,
  customers: 1000,
  customerConversions: 600,
  customerRevenue: 12_000.5,
  controlCustomers: 1000,
  controlCustomerConversions: 300,
  controlCustomerRevenue: 3000,
};

/** Another day of its own, for funnel journeys with known counts. */
const JOURNEY_DAY = '2021-04-01';
/**
 * Journey counters of that day, as funnel-attribution.ts writes them: 200 prospects (customers
 * reached), leads and customers credited by three models, and the days histograms: leads 50 in
 * [3, 5), 45 in [7, 10), 35 in [14, 21) (the middle, the 65th, at 7 + 15 / 45 × 3 = 8 days);
 * customers 35 in [14, 21) (17.5 days); lead to customer 28 in [5, 7) (6 days).
 */
const JOURNEYS: Record<string, number> = {
  customers: 200,
  leadsFirstTouch: 130,
  leadsLastTouch: 110,
  leadsPositionBased: 120,
  customersFirstTouch: 35,
  customersLastTouch: 28,
  customersPositionBased: 31,
  'leadDays:3': 50,
  'leadDays:7': 45,
  'leadDays:14': 35,
  'customerDays:14': 35,
  'leadToCustomerDays:5': 28,
};

/** The list's journeys cell: position-based leads / customers. */
const decimal = (n: number) => new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 }).format(n);

interface Decision {
  decisionId: string;
  customerId: string;
  offers: { offerId: string; campaignId: string }[];
}

describe('the campaign dashboard', () => {
  let server: TestServer;
  let services: Services;
  let origin: string;
  let browser: Browser;
  let context: BrowserContext;
  /** The campaign the seeded feedback is for, and one of its offers shown on the web. */
  let campaignId: string;
  let webOfferId: string;
  let list: CampaignsReport;
  let byDay: CampaignReport;
  let byChannel: CampaignReport;

  async function api<T>(path: string, init: { method?: string; body?: unknown; key?: string } = {}) {
    const res = await fetch(`${origin}${path}`, {
      method: init.method ?? 'GET',
      headers: {
        authorization: `Bearer ${init.key ?? 'ops-key'}`,
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await res.text();
    expect(res.status, `${path}: ${text}`).toBeLessThan(300);
    return JSON.parse(text) as T;
  }

  let seq = 0;
  const event = (d: Decision, offerId: string, type: string, value?: number) => ({
    eventId: `ev-${++seq}`,
    decisionId: d.decisionId,
    offerId,
    customerId: d.customerId,
    type,
    ...(value === undefined ? {} : { value }),
  });

  /** Decisions for the demo population on two channels, then reactions to one campaign's offers. */
  async function seed(): Promise<void> {
    const decisions: Decision[] = [];
    for (let i = 1; i <= CUSTOMERS; i++) {
      const channel = i % 4 === 0 ? 'call_center' : 'web';
      decisions.push(
        await api<Decision>('/v1/decisions', { method: 'POST', body: { customerId: `cust-${i}`, channel } }),
      );
    }
    // Held-out offers are not in the answer: the decision log says which each decision withheld.
    assert(services.feedbackLog instanceof MemoryFeedbackLog);
    const heldOut = new Map<string, { offerId: string; campaignId: string }[]>();
    for (const e of services.feedbackLog.entries()) {
      if (e.kind !== 'decision') continue;
      heldOut.set(
        e.decision.decisionId,
        e.decision.heldOut.map((o) => ({ offerId: o.offerId, campaignId: o.campaignId })),
      );
    }
    // The campaign with the most impressions among those that also held offers out (for uplift).
    const shown = new Map<string, number>();
    const withheld = new Map<string, number>();
    for (const d of decisions) {
      for (const o of d.offers) shown.set(o.campaignId, (shown.get(o.campaignId) ?? 0) + 1);
      for (const o of heldOut.get(d.decisionId) ?? [])
        withheld.set(o.campaignId, (withheld.get(o.campaignId) ?? 0) + 1);
    }
    const candidates = [...shown].filter(([id]) => (withheld.get(id) ?? 0) > 0).sort((a, b) => b[1] - a[1]);
    assert(candidates.length > 0, 'some campaign both showed and held out offers');
    campaignId = candidates[0]![0];
    const webOffer = decisions
      .filter((_d, i) => (i + 1) % 4 !== 0)
      .flatMap((d) => d.offers)
      .find((o) => o.campaignId === campaignId);
    assert(webOffer !== undefined, `some web decision showed an offer of ${campaignId}`);
    webOfferId = webOffer.offerId;

    const events: object[] = [];
    let n = 0;
    for (const d of decisions) {
      for (const o of d.offers) {
        if (o.campaignId !== campaignId) continue;
        n++;
        events.push(event(d, o.offerId, 'impression'));
        if (n % 2 === 0) events.push(event(d, o.offerId, 'click'));
        if (n % 3 === 0) events.push(event(d, o.offerId, 'accept'));
        else if (n % 5 === 0) events.push(event(d, o.offerId, 'reject'));
        if (n % 6 === 0) events.push(event(d, o.offerId, 'convert', 120.5));
      }
      for (const o of heldOut.get(d.decisionId) ?? []) {
        if (o.campaignId === campaignId && ++n % 4 === 0) events.push(event(d, o.offerId, 'convert', 80));
      }
    }
    for (let i = 0; i < events.length; i += 100) {
      const receipt = await api<{ accepted: number; rejected: number }>('/v1/feedback', {
        method: 'POST',
        body: { events: events.slice(i, i + 100) },
      });
      expect(receipt.rejected).toBe(0);
    }
  }

  beforeAll(async () => {
    server = await testServer({ ...demoWorld(1000), OFFERLOOP_API_KEYS: KEYS });
    services = server.services;
    origin = `http://127.0.0.1:${await listen(server.app)}`;
    await seed();
    // The counters are what the page shows: wait until the reactions are counted, then keep the answers.
    for (const deadline = Date.now() + POLL.timeout; ; ) {
      const { totals } = await api<CampaignReport>(`/v1/reports/campaigns/${campaignId}`);
      if (totals.accepts > 0 && totals.conversions > 0 && totals.controlConversions > 0) break;
      assert(
        Date.now() < deadline,
        `the reactions to ${campaignId} are not counted: ${JSON.stringify(totals)}`,
      );
      await new Promise((resolve) => setTimeout(resolve, POLL.interval));
    }
    // Per-customer counters with known counts, on a day of their own, as the consumers keep them.
    const day = dayOf(Date.parse(`${PER_CUSTOMER_DAY}T12:00:00Z`));
    assert(services.feedbackLog instanceof MemoryFeedbackLog);
    services.feedbackLog.stats.add(
      Object.entries(PER_CUSTOMER).map(([metric, amount]) => ({
        day,
        field: counterField(webOfferId, 'web', null, metric as Metric),
        amount: amount!,
        float: metric.endsWith('Revenue'),
      })),
    );
    // Journeys with known counts, on a day of their own.
    services.feedbackLog.stats.add(
      Object.entries(JOURNEYS).map(([metric, amount]) => ({
        day: dayOf(Date.parse(`${JOURNEY_DAY}T12:00:00Z`)),
        field: counterField(webOfferId, 'web', null, metric as Metric),
        amount,
        float: metric.endsWith('PositionBased'),
      })),
    );
    list = await api<CampaignsReport>('/v1/reports/campaigns');
    byDay = await api<CampaignReport>(`/v1/reports/campaigns/${campaignId}?groupBy=day`);
    byChannel = await api<CampaignReport>(`/v1/reports/campaigns/${campaignId}?groupBy=channel`);
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
    context.setDefaultTimeout(10_000);
    // What the Content Security Policy blocks is reported to the page as an event: keep every one.
    // (Browser code as strings: the tests are compiled without the DOM types.)
    await context.addInitScript({
      content: `
        Object.defineProperty(window, 'cspViolations', { value: [] });
        document.addEventListener('securitypolicyviolation', (e) =>
          window.cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')));
      `,
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.close();
  });

  /** What the Content Security Policy blocked in a page (see the init script). */
  const cspViolations = (page: Page) => page.evaluate<string[]>('window.cspViolations');

  /** A page that records console errors (CSP reports among them) and script errors. */
  async function openPage(): Promise<{ page: Page; problems: string[] }> {
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    const res = await page.goto(`${origin}/dashboard/`);
    expect(res?.status()).toBe(200);
    const csp = (await res?.allHeaders())?.['content-security-policy'] ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe');
    return { page, problems };
  }

  async function signIn(page: Page, key: string): Promise<void> {
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  /** Whether the canvases of a part have been drawn on: their size, and how many pixels are not transparent. */
  function drawn(page: Page, selector: string) {
    return page.evaluate<{ width: number; height: number; painted: number }[]>(`
      [...document.querySelectorAll(${JSON.stringify(selector)})].map((c) => {
        const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
        return { width: c.width, height: c.height, painted };
      })
    `);
  }

  /** The element that has the focus: its id and text. */
  const focused = (page: Page) =>
    page.evaluate<{ id: string; text: string }>(
      '({ id: document.activeElement.id, text: document.activeElement.textContent })',
    );

  it('lists the campaigns with the API numbers, and shows one with its charts, tables and CSV', async () => {
    const { page, problems } = await openPage();
    await signIn(page, 'ops-key');

    // The list: every campaign of the report, ours with its exact counts.
    const row = page.locator(`#campaigns tr[data-campaign-id="${campaignId}"]`);
    await row.waitFor();
    expect(await page.locator('#campaigns tbody tr').count()).toBe(list.campaigns.length);
    const summary = list.campaigns.find((c) => c.id === campaignId);
    assert(summary !== undefined);
    expect(summary.totals.impressions).toBeGreaterThan(0);
    expect(summary.totals.accepts).toBeGreaterThan(0);
    const cell = (col: string) => row.locator(`[data-col="${col}"]`).textContent();
    expect(await cell('impressions')).toBe(count(summary.totals.impressions));
    expect(await cell('accepts')).toBe(count(summary.totals.accepts));
    expect(await cell('conversions')).toBe(count(summary.totals.conversions));
    expect(await cell('accept-rate')).toBe(pct2(summary.totals.rates.acceptRate));
    const listUplift = summary.totals.uplift;
    assert(listUplift.uplift !== null && listUplift.ci95 !== null);
    expect(await cell('uplift')).toBe(
      `${pp(listUplift.uplift)} (${ppNumber(listUplift.ci95[0])} to ${ppNumber(listUplift.ci95[1])})`,
    );
    // The per-customer uplift, whatever the seeding above produced of it: the page says what the API does.
    const cu = summary.totals.customerUplift;
    expect(await cell('customer-uplift')).toBe(customerUpliftCell(cu));
    expect(await cell('customer-rates')).toBe(
      `${pct2(cu.treated.rate)} vs ${pct2(cu.control.rate)} (${count(cu.treated.customers)} vs ${count(cu.control.customers)} customers)`,
    );
    expect(await cell('revenue-per-customer')).toBe(
      `${money(cu.treated.revenuePerCustomer)} vs ${money(cu.control.revenuePerCustomer)}`,
    );
    const j = summary.totals.journeys;
    expect(await cell('journeys')).toBe(
      `${decimal(j.leads.positionBased)} / ${decimal(j.customers.positionBased)}`,
    );
    if (summary.kpi?.progress != null) {
      const bar = row.locator('[data-col="kpi"] progress');
      expect(await bar.getAttribute('aria-label')).toContain(`${Math.round(summary.kpi.progress * 100)}%`);
    }
    // A campaign without impressions says so rather than showing zeros as rates.
    const idle = list.campaigns.find((c) => c.totals.impressions === 0);
    if (idle !== undefined) {
      const idleRow = page.locator(`#campaigns tr[data-campaign-id="${idle.id}"]`);
      expect(await idleRow.locator('[data-col="uplift"]').textContent()).toBe('no data yet');
      expect(await idleRow.locator('[data-col="customer-uplift"]').textContent()).toBe('no customers yet');
      expect(await idleRow.locator('[data-col="customer-rates"]').textContent()).toBe(
        '— vs — (0 vs 0 customers)',
      );
      expect(await idleRow.locator('[data-col="revenue-per-customer"]').textContent()).toBe('— vs —');
      expect(await idleRow.locator('[data-col="accept-rate"]').textContent()).toBe('—');
    }

    // The detail, opened from the list.
    await row.getByRole('link', { name: byDay.campaign.name }).click();
    await page.getByRole('heading', { level: 2, name: byDay.campaign.name }).waitFor();
    await page.locator('#funnel-table').waitFor();
    expect(new URL(page.url()).hash).toBe(`#/campaigns/${campaignId}`);

    // Totals as the API counts them.
    const field = (name: string) => page.locator(`#totals [data-field="${name}"]`).textContent();
    expect(await field('impressions')).toBe(count(byDay.totals.impressions));
    expect(await field('accepts')).toBe(count(byDay.totals.accepts));
    expect(await field('conversions')).toBe(count(byDay.totals.conversions));
    expect(await field('controls')).toBe(count(byDay.totals.controls));

    // Every KPI of the campaign: the headline in full, the others one line each, in the API's order.
    const others = page.locator('#kpi .other-kpis li');
    expect(await others.evaluateAll((items) => items.map((li) => li.getAttribute('data-metric')))).toEqual(
      byDay.kpis.slice(1).map((k) => k.metric),
    );

    // Uplift: the numbers of the API, in the text and in the data the chart is drawn from.
    const u = byDay.totals.uplift;
    assert(u.uplift !== null && u.ci95 !== null);
    const upliftText = page.locator('#uplift-text');
    expect(await upliftText.getAttribute('data-uplift')).toBe(String(u.uplift));
    expect(await upliftText.getAttribute('data-ci-low')).toBe(String(u.ci95[0]));
    expect(await upliftText.getAttribute('data-ci-high')).toBe(String(u.ci95[1]));
    expect(await upliftText.textContent()).toContain(
      `Uplift ${pp(u.uplift)} (95% interval ${pp(u.ci95[0])} to ${pp(u.ci95[1])})`,
    );

    // The per-customer uplift comes first, before the per-decision one; it has its interval or says why not.
    const headings = await page.locator('#detail-body section h3').allTextContents();
    expect(headings.indexOf('Uplift per customer')).toBeGreaterThanOrEqual(0);
    expect(headings.indexOf('Uplift per customer')).toBeLessThan(headings.indexOf('Uplift per decision'));
    const detailCu = byDay.totals.customerUplift;
    if (detailCu.ci95 === null) {
      expect(await page.locator('#customer-uplift .no-data').textContent()).toMatch(
        new RegExp(`^${customerUpliftCell(detailCu).replace(/^n/, 'N')}: `),
      );
    } else {
      expect(await page.locator('#customer-uplift-text').getAttribute('data-uplift')).toBe(
        String(detailCu.uplift),
      );
    }

    // The funnel's text equivalent: interested → lead → customer with the exact counts.
    const funnel = byDay.totals.funnel;
    expect(funnel.map((s) => s.label)).toEqual(['interested', 'lead', 'customer']);
    expect(funnel[0]!.count).toBe(byDay.totals.impressions);
    for (const stage of funnel) {
      const tr = page.locator(`#funnel-table tr[data-stage="${stage.stage}"]`);
      expect(await tr.locator('[data-col="count"]').textContent()).toBe(count(stage.count));
      expect(await tr.locator('th').textContent()).toContain(
        stage.label.replace(/^./, (c) => c.toUpperCase()),
      );
    }

    // Rates per day: one row per day with impressions, from groupBy=day.
    const days = byDay.groups.filter((g) => g.impressions > 0);
    expect(days.length).toBeGreaterThan(0);
    expect(await page.locator('#rates-table tbody tr').count()).toBe(days.length);
    for (const g of days) {
      const tr = page.locator(`#rates-table tr[data-day="${g.key}"]`);
      expect(await tr.locator('td').allTextContents()).toEqual([
        count(g.impressions),
        pct2(g.rates.acceptRate),
        pct2(g.rates.clickRate),
        pct2(g.rates.conversionRate),
      ]);
    }

    // By channel: both channels decided for, with their impressions.
    const channels = byChannel.groups.filter((g) => g.impressions > 0);
    expect(channels.map((g) => g.key).sort()).toEqual(['call_center', 'web']);
    for (const g of channels) {
      const tr = page.locator(`#channel-table tr[data-channel="${g.key}"]`);
      expect(await tr.locator('td').first().textContent()).toBe(count(g.impressions));
    }

    // The charts: uPlot canvases with a size and something drawn on them.
    for (const chart of ['#uplift', '#funnel', '#rates']) {
      const canvases = await drawn(page, `${chart} canvas`);
      expect(canvases.length, chart).toBeGreaterThan(0);
      expect(canvases[0]!.width, chart).toBeGreaterThan(0);
      expect(canvases[0]!.height, chart).toBeGreaterThan(0);
      expect(canvases[0]!.painted, chart).toBeGreaterThan(0);
    }
    expect(await page.locator('#uplift .chart').getAttribute('aria-hidden')).toBe('true');

    // CSV: fetched with the key in the header, saved from a Blob, the same bytes as the API's.
    const csvRequests: Request[] = [];
    page.on('request', (r) => {
      if (r.url().includes('format=csv')) csvRequests.push(r);
    });
    await page.getByLabel('Rows by').selectOption('channel');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download CSV' }).click(),
    ]);
    expect(csvRequests).toHaveLength(1);
    const csvUrl = new URL(csvRequests[0]!.url());
    expect(csvUrl.pathname).toBe(`/v1/reports/campaigns/${campaignId}`);
    expect(csvUrl.searchParams.get('groupBy')).toBe('channel');
    expect(csvRequests[0]!.headers().authorization).toBe('Bearer ops-key');
    expect(download.suggestedFilename()).toMatch(new RegExp(`^offerloop-${campaignId}-.*-by-channel\\.csv$`));
    const saved = await readFile(await download.path(), 'utf8');
    const direct = await fetch(`${origin}${csvUrl.pathname}${csvUrl.search}`, {
      headers: { authorization: 'Bearer ops-key' },
    });
    expect(saved).toBe(await direct.text());
    expect(saved).toContain('call_center');

    // Back to the list; the focus returns to the campaign's link.
    await page.getByRole('link', { name: '← All campaigns' }).click();
    await row.waitFor();
    expect((await focused(page)).text).toBe(byDay.campaign.name);

    expect(await cspViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('says "no data yet" for a range without data, and is usable from the keyboard', async () => {
    const { page, problems } = await openPage();
    await signIn(page, 'ops-key');
    await page.locator('#campaigns tbody tr').first().waitFor();
    await page.getByLabel('From').fill('2020-01-01');
    await page.getByLabel('To').fill('2020-01-31');
    await page.getByLabel('To').press('Enter');
    await expect.poll(() => page.locator('#list-status').textContent(), POLL).toContain('no data yet');
    expect(await page.locator('#campaigns tbody tr').count()).toBe(list.campaigns.length);

    // Keyboard: the campaign's link takes the focus and Enter opens it.
    const link = page.locator(`#campaigns tr[data-campaign-id="${campaignId}"] a`);
    await link.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 2, name: byDay.campaign.name }).waitFor();
    await page.locator('#uplift .no-data').waitFor();
    expect(await page.locator('#detail-status').textContent()).toContain('No data yet');
    for (const part of ['#uplift', '#funnel', '#rates', '#channels']) {
      expect(await page.locator(`${part} .no-data`).textContent(), part).toMatch(/^No data yet/);
    }
    expect(await page.locator('#customer-uplift .no-data').textContent()).toMatch(/^No customers yet: /);
    expect(await page.locator('#customer-table').count()).toBe(0);
    expect(await page.locator('#journeys .no-data').textContent()).toMatch(/^No journeys yet: /);
    expect(await page.locator('#journey-funnel').count()).toBe(0);
    expect(await page.locator('#detail canvas').count()).toBe(0);
    expect((await focused(page)).id).toBe('detail-heading');
    expect(await cspViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('shows the uplift per customer as the headline, with its interval, rates and revenue per customer', async () => {
    const range = `from=${PER_CUSTOMER_DAY}&to=${PER_CUSTOMER_DAY}`;
    const day = await api<CampaignReport>(`/v1/reports/campaigns/${campaignId}?${range}`);
    const cu = day.totals.customerUplift;
    // The API answers the known counts: 60 % against 30 %, an interval around +30 pp clear of zero.
    expect(cu.treated).toMatchObject({
      customers: 1000,
      conversions: 600,
      rate: 0.6,
      revenuePerCustomer: 12.0005,
    });
    expect(cu.control).toMatchObject({ customers: 1000, conversions: 300, rate: 0.3, revenuePerCustomer: 3 });
    assert(cu.uplift !== null && cu.ci95 !== null);
    expect(cu.uplift).toBeCloseTo(0.3, 12);
    expect(cu.ci95[0]).toBeGreaterThan(0);
    expect(cu.ci95[1]).toBeGreaterThan(0.3);

    const { page, problems } = await openPage();
    await signIn(page, 'ops-key');
    await page.locator('#campaigns tbody tr').first().waitFor();
    await page.getByLabel('From').fill(PER_CUSTOMER_DAY);
    await page.getByLabel('To').fill(PER_CUSTOMER_DAY);
    await page.getByLabel('To').press('Enter');
    const row = page.locator(`#campaigns tr[data-campaign-id="${campaignId}"]`);
    const cell = (col: string) => row.locator(`[data-col="${col}"]`).textContent();
    await expect.poll(() => cell('customer-uplift'), POLL).toBe(customerUpliftCell(cu));
    expect(customerUpliftCell(cu)).toMatch(/^\+30\.00 pp \(\+\d+\.\d\d to \+\d+\.\d\d\)$/);
    expect(await cell('customer-rates')).toBe('60.00% vs 30.00% (1,000 vs 1,000 customers)');
    expect(await cell('revenue-per-customer')).toBe('12.00 vs 3.00');
    // Per decision the same day reads differently: 1,500 impressions, 1,400 controls, no conversions.
    const perDecision = day.totals.uplift;
    assert(perDecision.uplift !== null && perDecision.ci95 !== null);
    expect(perDecision.uplift).toBe(0);
    expect(await cell('uplift')).toBe(intervalCell(perDecision.uplift, perDecision.ci95));

    await row.getByRole('link').click();
    const text = page.locator('#customer-uplift-text');
    await text.waitFor();
    expect(await text.getAttribute('data-uplift')).toBe(String(cu.uplift));
    expect(await text.getAttribute('data-ci-low')).toBe(String(cu.ci95[0]));
    expect(await text.getAttribute('data-ci-high')).toBe(String(cu.ci95[1]));
    expect(await text.textContent()).toBe(
      `Uplift per customer ${pp(cu.uplift)} (95% interval ${pp(cu.ci95[0])} to ${pp(cu.ci95[1])}): ` +
        'the offers raise the conversion rate (the interval is above zero).',
    );
    const groupCell = (row: string, group: string) =>
      page.locator(`#customer-table tr[data-row="${row}"] td[data-group="${group}"]`).textContent();
    expect(await groupCell('customers', 'treated')).toBe('1,000');
    expect(await groupCell('converted', 'treated')).toBe('600');
    expect(await groupCell('converted', 'control')).toBe('300');
    expect(await groupCell('rate', 'treated')).toBe(
      `60.00% (95% interval ${pct2(cu.treated.ci95![0])} to ${pct2(cu.treated.ci95![1])})`,
    );
    expect(await groupCell('rate', 'control')).toBe(
      `30.00% (95% interval ${pct2(cu.control.ci95![0])} to ${pct2(cu.control.ci95![1])})`,
    );
    expect(await groupCell('revenue-per-customer', 'treated')).toBe('12.00');
    expect(await groupCell('revenue-per-customer', 'control')).toBe('3.00');
    const field = (name: string) => page.locator(`#customer-uplift [data-field="${name}"]`).textContent();
    expect(await field('customer-relative')).toBe('+100.0%');
    expect(await field('incremental-customers')).toBe('+300');
    expect(await field('revenue-per-customer-diff')).toBe('+9.00');
    expect(await field('incremental-revenue')).toBe('+9,000.50');
    // Its chart is drawn, beside the per-decision one; the channel table has both uplifts.
    const canvases = await drawn(page, '#customer-uplift canvas');
    expect(canvases[0]?.painted).toBeGreaterThan(0);
    expect(await page.locator('#channel-table tr[data-channel="web"] td').nth(9).textContent()).toBe(
      customerUpliftCell(cu),
    );

    expect(await cspViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('shows what made them customers: the per-person funnel, the median times and three attribution models', async () => {
    const range = `from=${JOURNEY_DAY}&to=${JOURNEY_DAY}`;
    const report = await api<CampaignReport>(`/v1/reports/campaigns/${campaignId}?${range}`);
    // The API answers the known counts, through the response schema.
    const j = report.totals.journeys;
    expect(j.leads).toEqual({ firstTouch: 130, lastTouch: 110, positionBased: 120 });
    expect(j.customers).toEqual({ firstTouch: 35, lastTouch: 28, positionBased: 31 });
    expect([j.medianDaysToLead, j.medianDaysToCustomer, j.medianDaysLeadToCustomer]).toEqual([8, 17.5, 6]);
    expect(j.daysToLead).toEqual({ '3': 50, '7': 45, '14': 35 });
    expect(j.funnel).toEqual([
      { stage: 'prospect', count: 200, fromPrevious: null, medianDaysFromPrevious: null },
      { stage: 'lead', count: 120, fromPrevious: 0.6, medianDaysFromPrevious: 8 },
      { stage: 'customer', count: 31, fromPrevious: 31 / 120, medianDaysFromPrevious: 6 },
    ]);
    const csv = await fetch(`${origin}/v1/reports/campaigns/${campaignId}?${range}&format=csv`, {
      headers: { authorization: 'Bearer ops-key' },
    });
    const [header, total] = (await csv.text()).trimEnd().split('\r\n');
    expect(header).toMatch(/,leads_first_touch,.*,median_days_lead_to_customer$/);
    expect(total).toMatch(/,130,110,120,35,28,31,8,17\.5,6$/);

    const { page, problems } = await openPage();
    await signIn(page, 'ops-key');
    await page.locator('#campaigns tbody tr').first().waitFor();
    await page.getByLabel('From').fill(JOURNEY_DAY);
    await page.getByLabel('To').fill(JOURNEY_DAY);
    await page.getByLabel('To').press('Enter');
    const row = page.locator(`#campaigns tr[data-campaign-id="${campaignId}"]`);
    await expect.poll(() => row.locator('[data-col="journeys"]').textContent(), POLL).toBe('120 / 31');

    await row.getByRole('link').click();
    const text = page.locator('#journeys-text');
    await text.waitFor();
    expect(await text.textContent()).toBe(
      '120 leads and 31 customers (position-based); median 8 days from the first touch to the lead, ' +
        '17.5 days to the customer, 6 days from the lead to the customer.',
    );
    const stage = (id: string) =>
      page.locator(`#journey-funnel tr[data-stage="${id}"]`).locator('th, td').allTextContents();
    expect(await stage('prospect')).toEqual(['Prospects', '200', '—', '—']);
    expect(await stage('lead')).toEqual(['Leads', '120', '60.0%', '8 days from the first touch']);
    expect(await stage('customer')).toEqual(['Customers', '31', '25.8%', '6 days from the lead']);
    const model = (id: string) =>
      page.locator(`#attribution-table tr[data-model="${id}"]`).locator('th, td').allTextContents();
    expect(await model('first-touch')).toEqual(['First touch', '130', '35']);
    expect(await model('last-touch')).toEqual(['Last touch', '110', '28']);
    expect(await model('position-based')).toEqual(['Position-based (40/20/40)', '120', '31']);
    // The section sits with the customers reached, before the per-decision figures.
    const headings = await page.locator('#detail-body section h3').allTextContents();
    expect(headings.indexOf('What made them customers')).toBeGreaterThan(
      headings.indexOf('Uplift per customer'),
    );
    expect(headings.indexOf('What made them customers')).toBeLessThan(
      headings.indexOf('Uplift per decision'),
    );

    expect(await cspViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('refuses a wrong key and a key without the report scope, and asks for another', async () => {
    const { page, problems } = await openPage();
    const error = page.locator('#sign-in-error');

    await signIn(page, 'not-a-key');
    await expect.poll(() => error.textContent(), POLL).toContain('not accepted');
    expect(await error.isVisible()).toBe(true);
    expect(await page.locator('#app').isHidden()).toBe(true);
    expect(await page.evaluate("sessionStorage.getItem('offerloop.dashboard.apiKey')")).toBeNull();

    await signIn(page, 'desk-key');
    await expect.poll(() => error.textContent(), POLL).toContain('report scope');
    expect(await page.getByLabel('API key').inputValue()).toBe('');

    // The right key then works, and stays for a reload of the tab.
    await signIn(page, 'ops-key');
    await page.locator(`#campaigns tr[data-campaign-id="${campaignId}"]`).waitFor();
    await page.reload();
    await page.locator(`#campaigns tr[data-campaign-id="${campaignId}"]`).waitFor();
    expect(await page.locator('#status').textContent()).toBe('Signed in');

    // A refused key shows up in the console as a failed resource (401, 403); nothing else may.
    expect(await cspViolations(page)).toEqual([]);
    expect(problems.filter((p) => !/status of 40[13]/.test(p))).toEqual([]);
    await page.close();
  });

  it('serves uPlot from Offerloop itself, cacheable', async () => {
    for (const file of ['uPlot.iife.min.js', 'uPlot.min.css']) {
      const res = await fetch(`${origin}/web/vendor/${file}`);
      expect(res.status, file).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=86400');
      expect(res.headers.get('etag')).toMatch(/^"/);
      expect((await res.text()).length).toBeGreaterThan(1000);
    }
    expect((await fetch(`${origin}/web/vendor/package.json`)).status).toBe(404);
    const redirect = await fetch(`${origin}/dashboard`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/dashboard/');
  });
});
