import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeedbackEvent, FeedbackType } from '../../src/feedback/feedback-event.js';
import { MemoryFeedbackLog } from '../../src/feedback/log/memory-feedback-log.js';
import { demoWorld, listen, type TestServer, testServer } from '../helpers.js';
import { launchBrowser } from '../support/browser.js';

// banner.js and the visitor's consent, in a real Chromium: with consent a first-party visitor id
// (cookie and localStorage), banners decided for it, beacons, links that carry their decision and a
// conversion on the landing page credited to it; without consent (the default, or Global Privacy
// Control) the default banner and nothing else; consent withdrawn deletes the id (docs/channels.md).

interface BannerAnswer {
  readonly customerId: string | null;
  readonly decisionId: string | null;
  readonly offerId: string | null;
  readonly default: boolean;
  readonly creative: { readonly link: string };
}

/** A demo customer who gets a web offer on home-hero; the visitor is given a copy of the profile. */
const TEMPLATE_CUSTOMER = 'cust-7';
const PLACEMENT = 'home-hero';
const POLL = { timeout: 5_000, interval: 50 };
const YEAR_S = 365 * 24 * 3600;
const PIXEL = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);

/** Calls `window.Offerloop` on the page (docs/channels.md: consent, convert, visitorId). */
const call = (page: Page, expression: string): Promise<unknown> => page.evaluate(`Offerloop.${expression}`);

describe('banner.js and consent', () => {
  let browser: Browser;
  let pageServer: Server;
  let pageOrigin: string;
  let offerloop: TestServer & { origin: string };
  let feedbackLog: MemoryFeedbackLog;

  beforeAll(async () => {
    // The bank's site: /home and /landing, with the consent and customer the query asks for.
    pageServer = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://site');
      if (url.pathname === '/home' || url.pathname === '/landing') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(
          sitePage(offerloop.origin, {
            placement: url.pathname === '/home',
            consent: url.searchParams.get('consent'),
            customerId: url.searchParams.get('customer'),
          }),
        );
      } else if (url.pathname.startsWith('/static/banners/')) {
        res.writeHead(200, { 'content-type': 'image/png' }).end(PIXEL);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      }
    });
    await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
    pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
    const server = await testServer({
      ...demoWorld(1000),
      OFFERLOOP_API_KEYS: `pk-web=banner;origins=${pageOrigin}`,
    });
    offerloop = { ...server, origin: `http://127.0.0.1:${await listen(server.app)}` };
    assert(offerloop.services.feedbackLog instanceof MemoryFeedbackLog);
    feedbackLog = offerloop.services.feedbackLog;
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await offerloop?.close();
    await new Promise<void>((resolve) => (pageServer ? pageServer.close(() => resolve()) : resolve()));
  });

  /** A fresh browser (no cookies, no storage); links to the bank's real site land on a blank page. */
  async function visitor(options: { privacyControl?: boolean } = {}): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: { width: 1024, height: 700 } });
    context.setDefaultTimeout(10_000);
    await context.route(
      (url) => url.hostname !== '127.0.0.1',
      (route) =>
        route.request().isNavigationRequest()
          ? route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>Landed</title>' })
          : route.abort(),
    );
    if (options.privacyControl) {
      await context.addInitScript({
        content: "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true });",
      });
    }
    return context;
  }

  /** Every beacon the page sends. */
  function beaconsOf(page: Page): URL[] {
    const beacons: URL[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/v1/banners/events')) beacons.push(new URL(r.url()));
    });
    return beacons;
  }

  const bannerAnswer = (page: Page): Promise<Response> =>
    page.waitForResponse((r) => r.url().startsWith(`${offerloop.origin}/v1/banners/${PLACEMENT}?`));

  /** Opens a page of the site and waits for its banner's answer. */
  async function open(page: Page, path: string): Promise<{ requested: URL; banner: BannerAnswer }> {
    const answered = bannerAnswer(page);
    await page.goto(`${pageOrigin}${path}`);
    const response = await answered;
    expect(response.status()).toBe(200);
    return { requested: new URL(response.url()), banner: (await response.json()) as BannerAnswer };
  }

  function recorded(type: FeedbackType, decisionId: string): FeedbackEvent[] {
    return feedbackLog
      .entries()
      .flatMap((e) =>
        e.kind === 'feedback' && e.event.type === type && e.event.decisionId === decisionId ? [e.event] : [],
      );
  }

  /** What the site's origin keeps in the browser: the visitor cookie and both storages. */
  async function kept(context: BrowserContext, page: Page) {
    const cookie = (await context.cookies(pageOrigin)).find((c) => c.name === 'ol_vid') ?? null;
    const storage = await page.evaluate<{ local: Record<string, string>; session: Record<string, string> }>(
      '({ local: { ...localStorage }, session: { ...sessionStorage } })',
    );
    return { cookie, ...storage };
  }

  /**
   * The visitor logs in as the template customer (an identity link), so the rules find an offer for
   * them. A link, not a copy of the profile: the control-group draw is the customer's, so the banner
   * does not depend on the random visitor id falling outside every control group.
   */
  async function knowAs(visitorId: string): Promise<void> {
    await offerloop.services.identities.link(visitorId, TEMPLATE_CUSTOMER);
  }

  it('with consent: a visitor id, banners decided for it, beacons, link parameters and a credited conversion', async () => {
    const context = await visitor();
    const page = await context.newPage();
    const beacons = beaconsOf(page);

    // First visit: the cookie is made, and the banner is asked for that visitor.
    const first = await open(page, '/home?consent=granted');
    const { cookie, local } = await kept(context, page);
    assert(cookie !== null, 'the visitor cookie');
    expect(cookie.value).toMatch(/^v-[0-9a-f]{32}$/);
    expect(cookie).toMatchObject({ path: '/', sameSite: 'Lax', httpOnly: false });
    // Made for a year (the browser rounds; no calendar involved, only the lifetime).
    expect(cookie.expires - Date.now() / 1000).toBeGreaterThan(YEAR_S - 3600);
    expect(cookie.expires - Date.now() / 1000).toBeLessThanOrEqual(YEAR_S);
    const visitorId = cookie.value;
    expect(JSON.parse(local.ol_vid ?? 'null')).toMatchObject({ id: visitorId });
    expect(first.requested.searchParams.get('customerId')).toBe(visitorId);
    expect(await call(page, 'visitorId()')).toBe(visitorId);

    // Once Offerloop knows something about the visitor (here: a profile), the next page is personal.
    await knowAs(visitorId);
    const { requested, banner } = await open(page, '/home?consent=granted');
    expect(requested.searchParams.get('customerId')).toBe(visitorId);
    expect((await kept(context, page)).cookie?.value).toBe(visitorId);
    expect(banner).toMatchObject({ customerId: visitorId, default: false });
    assert(banner.decisionId !== null && banner.offerId !== null);
    const decisionId = banner.decisionId;

    // The call to action carries the decision; the impression is reported once seen.
    const link = page.locator('#slot .offerloop-banner a');
    const href = new URL((await link.getAttribute('href')) ?? '');
    const expected = new URL(banner.creative.link);
    expected.searchParams.set('ol_d', decisionId);
    expected.searchParams.set('ol_o', banner.offerId);
    expect(href.href).toBe(expected.href);
    await link.scrollIntoViewIfNeeded();
    await expect.poll(() => recorded('impression', decisionId).length, POLL).toBe(1);
    expect(recorded('impression', decisionId)[0]).toMatchObject({
      offerId: banner.offerId,
      customerId: visitorId,
    });

    // The click lands on the link, with the parameters, and is reported.
    await Promise.all([page.waitForURL(expected.href), link.click()]);
    await expect.poll(() => recorded('click', decisionId).length, POLL).toBe(1);
    expect(recorded('click', decisionId)[0]).toMatchObject({
      offerId: banner.offerId,
      customerId: visitorId,
    });

    // A landing page of the site reached through that link: convert() credits the banner.
    await page.goto(`${pageOrigin}/landing?consent=granted&${expected.searchParams}`);
    const convert = (value: number) => call(page, `convert({ value: ${value} })`);
    expect(await convert(180)).toBe(true);
    await expect.poll(() => recorded('convert', decisionId).length, POLL).toBe(1);
    expect(recorded('convert', decisionId)[0]).toMatchObject({
      offerId: banner.offerId,
      customerId: visitorId,
      value: 180,
    });
    const convertBeacon = beacons.find((u) => u.searchParams.get('type') === 'convert');
    expect(Object.fromEntries(convertBeacon?.searchParams ?? [])).toEqual({
      key: 'pk-web',
      decisionId,
      offerId: banner.offerId,
      customerId: visitorId,
      type: 'convert',
      value: '180',
    });

    // The visit remembers the banner on later pages without the parameters; a second conversion
    // of the same offer is the same one (a duplicate), never counted twice.
    await page.goto(`${pageOrigin}/landing?consent=granted`);
    expect(await convert(180)).toBe(true);
    await expect
      .poll(() => beacons.filter((u) => u.searchParams.get('type') === 'convert').length, POLL)
      .toBe(2);
    expect(recorded('convert', decisionId)).toHaveLength(1);
    await context.close();
  });

  for (const [name, path, options] of [
    ['without a consent signal (the default)', '/home?customer=cust-7', {}],
    ['when the page says denied', '/home?consent=denied&customer=cust-7', {}],
    [
      'under Global Privacy Control, whatever the page says',
      '/home?consent=granted&customer=cust-7',
      { privacyControl: true },
    ],
  ] as const) {
    it(`${name}: the default banner, no id, no storage, no beacons, no link parameters`, async () => {
      const context = await visitor(options);
      const page = await context.newPage();
      const beacons = beaconsOf(page);
      const { requested, banner } = await open(page, path);

      // Not even the page's own customer id is sent.
      expect(requested.searchParams.has('customerId')).toBe(false);
      expect(banner).toMatchObject({ default: true, decisionId: null, customerId: null });
      const link = page.locator('#slot .offerloop-banner a');
      expect(await link.getAttribute('href')).toBe(new URL(banner.creative.link).href);
      await link.scrollIntoViewIfNeeded();
      await Promise.all([page.waitForURL(new URL(banner.creative.link).href), link.click()]);

      // A landing page with a banner's parameters converts nothing and keeps nothing.
      await page.goto(`${pageOrigin}${path.replace('/home', '/landing')}&ol_d=d-1&ol_o=o-1`);
      const api = {
        visitorId: await call(page, 'visitorId()'),
        converted: await call(page, 'convert({ value: 1 })'),
      };
      expect(api).toEqual({ visitorId: null, converted: false });
      expect(await kept(context, page)).toEqual({ cookie: null, local: {}, session: {} });
      expect(beacons).toHaveLength(0);
      await context.close();
    });
  }

  it('consent given late, then withdrawn: the id is made, then deleted, and the banner follows', async () => {
    const context = await visitor();
    const page = await context.newPage();
    const beacons = beaconsOf(page);
    const untracked = await open(page, '/home');
    expect(untracked.requested.searchParams.has('customerId')).toBe(false);
    expect((await kept(context, page)).cookie).toBeNull();

    // The consent manager answers after the page loaded: the banner is asked again, for the visitor.
    const answered = bannerAnswer(page);
    const granted = await call(page, 'consent(true)');
    expect(granted).toBe(true);
    const visitorId = new URL((await answered).url()).searchParams.get('customerId');
    expect(visitorId).toMatch(/^v-[0-9a-f]{32}$/);
    const withConsent = await kept(context, page);
    expect(withConsent.cookie?.value).toBe(visitorId);
    expect(JSON.parse(withConsent.local.ol_vid ?? 'null')).toMatchObject({ id: visitorId });

    // Withdrawn: cookie and storage deleted, the default banner again, for nobody.
    const again = bannerAnswer(page);
    expect(await call(page, 'consent(false)')).toBe(false);
    expect(new URL((await again).url()).searchParams.has('customerId')).toBe(false);
    expect(await kept(context, page)).toEqual({ cookie: null, local: {}, session: {} });
    expect(await call(page, 'visitorId()')).toBeNull();

    // Given again: a new visitor, not the old one back.
    const renewedAnswer = bannerAnswer(page);
    await call(page, 'consent(true)');
    await renewedAnswer;
    const renewed = (await kept(context, page)).cookie?.value;
    expect(renewed).toMatch(/^v-[0-9a-f]{32}$/);
    expect(renewed).not.toBe(visitorId);

    // A later page that says denied deletes what an earlier one kept.
    await open(page, '/home?consent=denied');
    expect(await kept(context, page)).toEqual({ cookie: null, local: {}, session: {} });
    // The banner stayed below the fold, never seen nor clicked: nothing to report.
    expect(beacons).toHaveLength(0);
    await context.close();
  });

  it('the localStorage copy brings back a lost cookie, without extending its life', async () => {
    const context = await visitor();
    const page = await context.newPage();
    await open(page, '/home?consent=granted');
    const before = await kept(context, page);
    assert(before.cookie !== null);
    await context.clearCookies();
    const { requested } = await open(page, '/home?consent=granted');
    expect(requested.searchParams.get('customerId')).toBe(before.cookie.value);
    const after = await kept(context, page);
    expect(after.cookie?.value).toBe(before.cookie.value);
    expect(after.cookie?.expires).toBeLessThanOrEqual(before.cookie.expires + 1);
    expect(after.local).toEqual(before.local);
    await context.close();
  });

  it('under Global Privacy Control consent() cannot turn tracking on', async () => {
    const context = await visitor({ privacyControl: true });
    const page = await context.newPage();
    await open(page, '/home');
    expect(await call(page, 'consent(true)')).toBe(false);
    expect(await kept(context, page)).toEqual({ cookie: null, local: {}, session: {} });
    await context.close();
  });
});

/** A page of the bank's site; /home has a banner slot far below the fold, /landing none. */
function sitePage(
  offerloopOrigin: string,
  options: { placement: boolean; consent: string | null; customerId: string | null },
): string {
  const customer = options.customerId === null ? '' : ` data-customer-id="${options.customerId}"`;
  const consent = options.consent === null ? '' : ` data-consent="${options.consent}"`;
  const slot = options.placement
    ? `<div id="spacer" style="height: 1400px"></div><div id="slot" data-offerloop-placement="${PLACEMENT}"${customer}></div>`
    : '<p>Thank you for your application.</p>';
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Northwind Bank</title><style>body { margin: 0 }</style></head>
<body>
  <h1>Northwind Bank</h1>
  ${slot}
  <div style="height: 1200px"></div>
  <script src="${offerloopOrigin}/web/banner.js" data-key="pk-web"${consent} defer></script>
</body>
</html>`;
}
