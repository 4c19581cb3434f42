import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WhatIfStatus } from '../../src/service/what-if-service.js';
import { generatePopulation } from '../../src/sim/population.js';
import { FIXTURE_RULES, listen, type TestServer, testServer } from '../helpers.js';
import {
  openWorkbench,
  type WorkbenchBrowser,
  watchPage,
  workbenchBrowser,
} from '../support/workbench-page.js';

// The workbench's what-if in a real Chromium: choose a candidate, a channel and a volume, run,
// watch the progress bar, read the two rulesets side by side with the difference, as GET
// /v1/what-if/:id answers them. Bad input reads a message; a key without admin reads the refusal.

const NOW = Date.parse('2026-11-22T12:00:00Z');
const KEYS = 'admin-key=admin+report,analyst-key=report';
const POLL = { timeout: 15_000, interval: 50 };
const FILES = ['campaigns.yaml', 'offers.yaml', 'policies.yaml', 'segments.yaml'];
const PRODUCTS = ['card-gold', 'card-platinum', 'travel-ins', 'loyalty', 'savings'];

/** The page's number format (workbench-whatif.js). */
const number = (n: number) =>
  Number.isInteger(n)
    ? n.toLocaleString('en-GB')
    : n.toLocaleString('en-GB', { maximumFractionDigits: 1, minimumFractionDigits: 1 });
const signed = (n: number) => (n > 0 ? `+${number(n)}` : number(n));

describe("the workbench's what-if", () => {
  let dir: string;
  let server: TestServer;
  let origin: string;
  let chromium: WorkbenchBrowser | undefined;
  let context: BrowserContext;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'offerloop-workbench-whatif-'));
    const profiles = path.join(dir, 'profiles.ndjson');
    const records = [...generatePopulation(4000, PRODUCTS, { seed: 'workbench-whatif', affinities: 4 })];
    await writeFile(
      profiles,
      `${records.map((r) => JSON.stringify({ ...r, consent: { ...r.consent, web: true } })).join('\n')}\n`,
    );
    server = await testServer({ OFFERLOOP_API_KEYS: KEYS, OFFERLOOP_PROFILES: profiles }, () => NOW);
    origin = `http://127.0.0.1:${await listen(server.app)}`;
    const files: Record<string, string> = {};
    for (const f of FILES) files[f] = await readFile(path.join(FIXTURE_RULES, f), 'utf8');
    files['campaigns.yaml'] = files['campaigns.yaml']!.replace('budget: 100\n', 'budget: 2\n');
    const put = await server.app.inject({
      method: 'PUT',
      url: '/v1/ruleset/candidates/smaller-budget',
      headers: { authorization: 'Bearer admin-key' },
      payload: { files },
    });
    expect(put.statusCode).toBe(200);
    chromium = await workbenchBrowser();
    context = chromium.context;
  }, 120_000);

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs a candidate against the live ruleset and shows them side by side with the difference', async () => {
    const page = await context.newPage();
    const watch = watchPage(page);
    await openWorkbench(page, origin, 'admin-key', 'whatif');
    await expect
      .poll(() => page.locator('#whatif-candidate option').allTextContents(), POLL)
      .toEqual(['smaller-budget']);

    await page.getByLabel('Channel').selectOption('web');
    await page.getByLabel('Contacts').fill('2000');
    await page.getByRole('button', { name: 'Run' }).click();
    await expect.poll(() => page.locator('#whatif-progress').isVisible(), POLL).toBe(true);
    await page.locator('#whatif-totals').waitFor({ timeout: 15_000 });

    // The page shows what the API answers for the run it started.
    const id = await page.locator('#whatif-result').getAttribute('data-run');
    const runs = await server.app.inject({
      method: 'GET',
      url: `/v1/what-if/${id}`,
      headers: { authorization: 'Bearer admin-key' },
    });
    const status = runs.json() as WhatIfStatus;
    expect(status.state).toBe('done');
    const { live, candidate, difference } = status.result!;
    const row = (key: string) => page.locator(`#whatif-totals tr[data-total="${key}"] td`).allTextContents();
    expect(await row('customersWithOffer')).toEqual([
      number(live.totals.customersWithOffer),
      number(candidate!.totals.customersWithOffer),
      signed(difference!.totals.customersWithOffer),
    ]);
    expect(await row('expectedAccepts')).toEqual([
      number(live.totals.expectedAccepts),
      number(candidate!.totals.expectedAccepts),
      signed(difference!.totals.expectedAccepts),
    ]);
    const cards = await page.locator('#whatif-campaigns tr[data-campaign="cards"] td').allTextContents();
    expect(cards[6]).toMatch(/^100 % of budget, budget ran out at [\d,]+$/);
    expect(await page.locator('#whatif-progress').getAttribute('max')).toBe(String(status.total));
    expect(await page.locator('#whatif-progress-text').textContent()).toBe(
      `${number(status.done)} of about ${number(status.total)} customers decided`,
    );
    expect(await page.locator('#whatif-summary').textContent()).toMatch(
      /^web, [\d,]+ of 4,000 customers \(embedded\)/,
    );
    expect(await watch.all()).toEqual([]);
  });

  it('says what is wrong with the input, and shows the refusal to a key without admin', async () => {
    const page = await context.newPage();
    const watch = watchPage(page);
    await openWorkbench(page, origin, 'admin-key', 'whatif');
    await expect.poll(() => page.locator('#whatif-candidate option').count(), POLL).toBe(1);
    await page.getByLabel('Contacts').fill('0');
    await page.getByRole('button', { name: 'Run' }).click();
    await expect
      .poll(() => page.locator('#whatif-message').textContent(), POLL)
      .toBe('Contacts must be a whole number of at least 1.');
    expect(await watch.all()).toEqual([]);

    const analyst = await context.newPage();
    const refused = watchPage(analyst);
    await openWorkbench(analyst, origin, 'analyst-key', 'whatif');
    await expect.poll(() => analyst.locator('#error').textContent(), POLL).toMatch(/^Refused: .*admin/);
    expect((await refused.all()).every((p) => p.includes('403'))).toBe(true);
  });
});
