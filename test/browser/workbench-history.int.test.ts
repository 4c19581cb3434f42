import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

// The workbench's ruleset history in a real Chromium: the page lists what GET /v1/ruleset/history
// answers (a start, a rejection with its file and line, a load with the file it changed), and its
// "Roll back" serves the first version again. A key without the admin scope reads the server's refusal.

/** History names a key by its first characters only ('adm…'): the key itself is a secret. */
const KEYS = 'admin-key=admin+report,analyst-key=report';
const POLL = { timeout: 5_000, interval: 50 };

describe("the workbench's ruleset history", () => {
  let dir: string;
  let server: TestServer;
  let origin: string;
  let chromium: WorkbenchBrowser | undefined;
  let context: BrowserContext;
  let first: string;
  let second: string;

  const reload = () =>
    server.app.inject({
      method: 'POST',
      url: '/v1/ruleset/reload',
      headers: { authorization: 'Bearer admin-key' },
    });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'offerloop-workbench-history-'));
    await cp(FIXTURE_RULES, dir, { recursive: true });
    server = await testServer({ OFFERLOOP_RULES: dir, OFFERLOOP_API_KEYS: KEYS });
    origin = `http://127.0.0.1:${await listen(server.app)}`;
    first = server.services.rules.current.version;
    const file = path.join(dir, 'offers.yaml');
    const good = await readFile(file, 'utf8');
    await writeFile(file, good.replace("when: not holds('card-platinum')", 'when: not holds(card-platinum'));
    expect((await reload()).statusCode).toBe(422);
    await writeFile(file, good.replace('value: 100', 'value: 101'));
    expect((await reload()).statusCode).toBe(200);
    second = server.services.rules.current.version;
    expect(second).not.toBe(first);
    chromium = await workbenchBrowser();
    context = chromium.context;
  }, 120_000);

  afterAll(async () => {
    await chromium?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists every attempt, newest first, and rolls back to the first version', async () => {
    const page = await context.newPage();
    const watch = watchPage(page);
    await openWorkbench(page, origin, 'admin-key', 'history');

    const rows = page.locator('#history-table tbody tr');
    await expect.poll(() => rows.count(), POLL).toBe(3);
    expect(await page.locator('#history-current').textContent()).toBe(`In force: ${second}`);
    const cells = async (i: number) => rows.nth(i).locator('td').allTextContents();
    const [loaded, rejected, start] = [await cells(0), await cells(1), await cells(2)];
    expect(loaded.slice(1, 6)).toEqual([second, 'Loaded', 'reload', 'adm…', 'changed offers.yaml']);
    expect(rejected.slice(1, 5)).toEqual(['did not compile', 'Rejected', 'reload', 'adm…']);
    expect(rejected[6]).toMatch(/^offers\.yaml:\d+:\d+: /);
    expect(start.slice(1, 4)).toEqual([first, 'Loaded', 'start']);
    // The version in force has no way "back" to itself; a rejected one has nothing to go back to.
    expect(await rows.nth(0).getByRole('button').count()).toBe(0);
    expect(await rows.nth(1).getByRole('button').count()).toBe(0);

    await rows.nth(2).getByRole('button', { name: 'Roll back' }).click();
    await expect.poll(() => page.locator('#history-current').textContent(), POLL).toBe(`In force: ${first}`);
    expect(server.services.rules.current.version).toBe(first);
    await expect.poll(() => rows.count(), POLL).toBe(4);
    expect((await cells(0)).slice(1, 5)).toEqual([first, 'Loaded', 'rollback', 'adm…']);
    expect(await watch.all()).toEqual([]);
  });

  it('shows the refusal to a key without the admin scope, and changes nothing', async () => {
    const before = server.services.rules.current.version;
    const page = await context.newPage();
    const watch = watchPage(page);
    await openWorkbench(page, origin, 'analyst-key', 'history');
    await expect.poll(() => page.locator('#error').textContent(), POLL).toMatch(/^Refused: .*admin/);
    expect(await page.locator('#history-table tbody tr').count()).toBe(0);
    expect(server.services.rules.current.version).toBe(before);
    // The refused request is the only thing the console reports.
    expect((await watch.all()).every((p) => p.includes('403'))).toBe(true);
  });
});
