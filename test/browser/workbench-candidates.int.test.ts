import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_RULES, listen, type TestServer, testServer } from '../helpers.js';
import {
  openWorkbench,
  type WorkbenchBrowser,
  watchPage,
  workbenchBrowser,
} from '../support/workbench-page.js';

// The workbench's candidate rulesets in a real Chromium: files picked from disk are uploaded as a
// candidate (the same files as the live rules make the live version), a broken one is refused with
// every problem's file and line and changes nothing, Delete removes one, and a key without admin
// reads the server's refusal.

const KEYS = 'admin-key=admin+report,analyst-key=report';
const POLL = { timeout: 5_000, interval: 50 };

describe("the workbench's candidates", () => {
  let server: TestServer;
  let origin: string;
  let chromium: WorkbenchBrowser | undefined;
  let context: BrowserContext;
  let good: string[];
  let broken: string;

  const candidates = async () =>
    (
      await server.app.inject({
        url: '/v1/ruleset/candidates',
        headers: { authorization: 'Bearer admin-key' },
      })
    ).json<{ candidates: { name: string; version: string }[] }>().candidates;

  beforeAll(async () => {
    server = await testServer({ OFFERLOOP_RULES: FIXTURE_RULES, OFFERLOOP_API_KEYS: KEYS });
    origin = `http://127.0.0.1:${await listen(server.app)}`;
    good = (await readdir(FIXTURE_RULES))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => path.join(FIXTURE_RULES, f));
    // The same directory with one expression broken on a known line.
    broken = await mkdtemp(path.join(tmpdir(), 'offerloop-workbench-candidates-'));
    for (const file of good) {
      const text = await readFile(file, 'utf8');
      await writeFile(
        path.join(broken, path.basename(file)),
        text.replace("when: not holds('card-platinum')", 'when: not holds(card-platinum'),
      );
    }
    chromium = await workbenchBrowser();
    context = chromium.context;
  }, 120_000);

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
    await rm(broken, { recursive: true, force: true });
  });

  it('uploads the files picked, refuses a broken directory with its problems, and deletes', async () => {
    const page = await context.newPage();
    const watch = watchPage(page);
    await openWorkbench(page, origin, 'admin-key', 'candidates');
    await expect.poll(() => page.locator('#section-status').textContent(), POLL).toBe('No candidates yet');

    await page.getByLabel('Name').fill('next');
    await page.getByLabel('Rules files').setInputFiles(good);
    await page.getByRole('button', { name: 'Upload' }).click();
    const rows = page.locator('#candidates-table tbody tr');
    await expect.poll(() => rows.count(), POLL).toBe(1);
    // The live rules' files make the live version: what was uploaded is what was picked.
    expect(await candidates()).toMatchObject([
      { name: 'next', version: server.services.rules.current.version },
    ]);
    expect(await rows.nth(0).locator('td code').textContent()).toBe(server.services.rules.current.version);

    const brokenFiles = (await readdir(broken)).map((f) => path.join(broken, f));
    await page.getByLabel('Name').fill('broken');
    await page.getByLabel('Rules files').setInputFiles(brokenFiles);
    await page.getByRole('button', { name: 'Upload' }).click();
    const problems = page.locator('#candidate-problems li');
    await expect.poll(() => problems.count(), POLL).toBeGreaterThan(0);
    expect(await problems.nth(0).textContent()).toMatch(/^offers\.yaml:\d+:\d+: /);
    expect(await page.locator('#error').textContent()).toMatch(/^ruleset rejected/);
    expect((await candidates()).map((c) => c.name)).toEqual(['next']);
    expect(await rows.count()).toBe(1);

    await rows.nth(0).getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => rows.count(), POLL).toBe(0);
    expect(await candidates()).toEqual([]);
    // The refused upload shows in the console as a failed resource (422); nothing else may.
    expect((await watch.all()).every((p) => p.includes('422'))).toBe(true);
  });

  it('shows the refusal to a key without the admin scope', async () => {
    const page = await context.newPage();
    await openWorkbench(page, origin, 'analyst-key', 'candidates');
    await expect.poll(() => page.locator('#error').textContent(), POLL).toMatch(/^Refused: .*admin/);
    expect(await page.locator('#candidates-table tbody tr').count()).toBe(0);
  });
});
