import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoWorld, listen, type TestServer, testServer } from '../helpers.js';
import { launchBrowser } from '../support/browser.js';
import { type Journey, PersonApi, shape, treatedId, visitorId } from '../support/person.js';

// The banner part of the journey in a real Chromium: a page of the bank's site with banner.js and
// consent granted; the visitor's banner impression and click land in the visitor's journey; after
// the lead form and the login (sent through the API, as the site's backend would), the customer's
// journey holds them.

const NOW = Date.parse('2026-11-22T12:00:00Z');
const PLACEMENT = 'home-hero';
const BANNER_CAMPAIGN = 'go-digital';
const POLL = { timeout: 5_000, interval: 50 };

describe('a visitor’s banner in the journey', () => {
  let browser: Browser;
  let pageServer: Server;
  let pageOrigin: string;
  let offerloop: TestServer & { origin: string };
  let api: PersonApi;
  /** The time Offerloop sees; moved a minute per step, so that the journey's order is the visit's. */
  let now = NOW;

  beforeAll(async () => {
    pageServer = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://site');
      if (url.pathname === '/home') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(sitePage(offerloop.origin));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      }
    });
    await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
    pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
    const server = await testServer(
      {
        ...demoWorld(100),
        OFFERLOOP_API_KEYS: `agent-key=decide+feedback,admin-key=admin,pk-web=banner;origins=${pageOrigin}`,
      },
      () => now,
    );
    offerloop = { ...server, origin: `http://127.0.0.1:${await listen(server.app)}` };
    api = new PersonApi(offerloop.app);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await offerloop?.close();
    await new Promise<void>((resolve) => (pageServer ? pageServer.close(() => resolve()) : resolve()));
  });

  /** Steps as `<at> <shape>`, oldest first (steps of one instant in a fixed order). */
  const steps = (j: Journey) => j.steps.map((s) => `${s.at} ${shape(s)}`).sort();
  const at = (ms: number) => new Date(ms).toISOString();

  it('impression and click in the visitor’s journey; after the lead and the login, in the customer’s', async () => {
    const rules = offerloop.services.rules.current;
    // A visitor id banner.js would make, one the banner's campaign shows its offer to (no control group).
    const visitor = treatedId(rules, BANNER_CAMPAIGN, (n) => visitorId('chromium', n));
    const customer = treatedId(rules, BANNER_CAMPAIGN, (n) => `chromium-ann-${n}`);
    await api.putCustomer(customer);

    const context = await browser.newContext({ viewport: { width: 1024, height: 700 } });
    context.setDefaultTimeout(10_000);
    // Links to the bank's real site land on a blank page.
    await context.route(
      (url) => url.hostname !== '127.0.0.1',
      (route) =>
        route.request().isNavigationRequest()
          ? route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>Landed</title>' })
          : route.abort(),
    );
    // The visitor came before: their first-party id is in the cookie.
    await context.addCookies([{ name: 'ol_vid', value: visitor, url: pageOrigin }]);
    const page: Page = await context.newPage();
    const beacons: URL[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/v1/banners/events')) beacons.push(new URL(r.url()));
    });

    now += 60_000;
    const shownAt = now;
    const answered = page.waitForResponse((r) =>
      r.url().startsWith(`${offerloop.origin}/v1/banners/${PLACEMENT}?`),
    );
    await page.goto(`${pageOrigin}/home`);
    const response = await answered;
    expect(new URL(response.url()).searchParams.get('customerId')).toBe(visitor);
    const banner = await response.json();
    expect(banner).toMatchObject({ customerId: visitor, default: false, campaignId: BANNER_CAMPAIGN });
    const offer = banner.offerId as string;

    // Seen: the impression beacon; then the click.
    const link = page.locator('#slot .offerloop-banner a');
    await link.scrollIntoViewIfNeeded();
    await expect
      .poll(() => beacons.filter((u) => u.searchParams.get('type') === 'impression').length, POLL)
      .toBe(1);
    now += 60_000;
    const clickedAt = now;
    const href = (await link.getAttribute('href')) ?? '';
    await Promise.all([page.waitForURL(href), link.click()]);
    await expect
      .poll(() => beacons.filter((u) => u.searchParams.get('type') === 'click').length, POLL)
      .toBe(1);
    await context.close();

    await expect
      .poll(async () => steps(await api.journey(visitor)), POLL)
      .toEqual([`${at(shownAt)} offer web/${PLACEMENT} ${offer}`, `${at(clickedAt)} click web ${offer}`]);

    // The lead form and the login, from the site's backend.
    now += 60_000;
    const leadAt = now;
    const lead = {
      eventId: 'chromium-lead',
      customerId: visitor,
      type: 'lead',
      channel: 'web',
      source: 'web-form',
      attributes: { email: 'ann@example.com' },
    };
    expect(await api.feedback([lead])).toMatchObject([{ status: 'accepted' }]);
    now += 60_000;
    const linkedAt = now;
    expect((await api.link(visitor, customer)).statusCode).toBe(201);

    for (const id of [customer, visitor]) {
      const j = await api.journey(id);
      expect(j.customerId).toBe(customer);
      expect(steps(j)).toEqual([
        `${at(shownAt)} offer web/${PLACEMENT} ${offer}`,
        `${at(clickedAt)} click web ${offer}`,
        `${at(leadAt)} lead web`,
        `${at(leadAt)} stage prospect -> lead`,
        `${at(linkedAt)} identified ${visitor}`,
      ]);
    }
  });
});

/** The bank's home page: a banner slot below the fold, banner.js with consent granted. */
function sitePage(offerloopOrigin: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Northwind Bank</title><style>body { margin: 0 }</style></head>
<body>
  <h1>Northwind Bank</h1>
  <div style="height: 1400px"></div>
  <div id="slot" data-offerloop-placement="${PLACEMENT}"></div>
  <div style="height: 1200px"></div>
  <script src="${offerloopOrigin}/web/banner.js" data-key="pk-web" data-consent="granted" defer></script>
</body>
</html>`;
}
