import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Request, Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeedbackEvent, FeedbackType } from '../../src/feedback/feedback-event.js';
import { MemoryFeedbackLog } from '../../src/feedback/log/memory-feedback-log.js';
import { demoWorld, listen, type TestServer, testServer } from '../helpers.js';
import { launchBrowser } from '../support/browser.js';

// banner.js in a real Chromium, on a bank's page served from another origin than Offerloop's:
// CORS, rendering, the impression only once half the banner has been seen, the click beacon.

/** GET /v1/banners/:placement's answer (docs/channels.md). */
interface BannerAnswer {
  readonly placement: string;
  readonly customerId: string | null;
  readonly decisionId: string | null;
  readonly offerId: string | null;
  readonly default: boolean;
  readonly creative: {
    readonly headline: string;
    readonly body?: string;
    readonly image?: string;
    readonly link: string;
    readonly cta?: string;
  };
}

/** Customer of the demo population who gets a web offer on home-hero from the example rules. */
const CUSTOMER = 'cust-7';
const PLACEMENT = 'home-hero';
const VIEWPORT = { width: 1024, height: 700 };
const POLL = { timeout: 5_000, interval: 50 };
/** The bank's banner pictures (`/static/banners/…` in the example rules): one transparent pixel. */
const PIXEL = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);

/** The embedded demo (example rules, a small generated population), listening on a free port. */
async function startOfferloop(env: Record<string, string>): Promise<TestServer & { origin: string }> {
  const server = await testServer({ ...demoWorld(1000), ...env });
  return { ...server, origin: `http://127.0.0.1:${await listen(server.app)}` };
}

describe('banner.js on a page of another origin', () => {
  let browser: Browser;
  let context: BrowserContext;
  let pageServer: Server;
  let pageOrigin: string;
  let offerloop: Awaited<ReturnType<typeof startOfferloop>>;
  let feedbackLog: MemoryFeedbackLog;

  beforeAll(async () => {
    // The bank's website. It needs Offerloop's port for the script tag, and Offerloop needs the
    // site's origin for the key's `origins`: the page is built per request, so the site starts first.
    pageServer = createServer((req, res) => {
      if (req.url === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(bankPage(offerloop.origin));
      } else if (req.url?.startsWith('/static/banners/')) {
        res.writeHead(200, { 'content-type': 'image/png' }).end(PIXEL);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      }
    });
    await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
    pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
    offerloop = await startOfferloop({
      OFFERLOOP_API_KEYS: `pk-web=banner;origins=${pageOrigin}|http://localhost:1,desk-key=decide+feedback`,
    });
    assert(offerloop.services.feedbackLog instanceof MemoryFeedbackLog);
    feedbackLog = offerloop.services.feedbackLog;
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: VIEWPORT });
    context.setDefaultTimeout(10_000);
    // Nothing leaves the machine: the bank's real site (banner links) answers from here.
    await context.route(
      (url) => url.hostname !== '127.0.0.1',
      (route) =>
        route.request().isNavigationRequest()
          ? route.fulfill({
              contentType: 'text/html',
              body: '<!doctype html><title>Landed</title><h1>Landed</h1>',
            })
          : route.abort(),
    );
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await offerloop?.close();
    await new Promise<void>((resolve) => (pageServer ? pageServer.close(() => resolve()) : resolve()));
  });

  /** Feedback events of one type recorded for a decision. */
  function recorded(type: FeedbackType, decisionId: string): FeedbackEvent[] {
    return feedbackLog
      .entries()
      .flatMap((e) =>
        e.kind === 'feedback' && e.event.type === type && e.event.decisionId === decisionId ? [e.event] : [],
      );
  }

  it('renders the banner, reports one impression once it is half visible, and the click', async () => {
    const page = await context.newPage();
    const beacons: string[] = [];
    page.on('request', (r: Request) => {
      if (r.url().includes('/v1/banners/events')) beacons.push(r.url());
    });
    const answered = page.waitForResponse((r: Response) =>
      r.url().startsWith(`${offerloop.origin}/v1/banners/${PLACEMENT}?`),
    );
    await page.goto(`${pageOrigin}/`);
    const response = await answered;

    // The request as the script makes it: key in the URL, the customer of the element.
    const requested = new URL(response.url());
    expect(requested.searchParams.get('key')).toBe('pk-web');
    expect(requested.searchParams.get('customerId')).toBe(CUSTOMER);
    expect(response.status()).toBe(200);
    const headers = response.headers();
    expect(headers['cache-control']).toContain('no-store');
    expect(headers['access-control-allow-origin']).toBe(pageOrigin);
    const banner = (await response.json()) as BannerAnswer;
    expect(banner.default).toBe(false);
    assert(banner.decisionId !== null && banner.offerId !== null, 'a personalized banner with a decision');

    // Rendered with its text, image and call to action.
    const box = page.locator('#slot .offerloop-banner');
    await box.locator('h2').waitFor();
    expect(await box.locator('h2').textContent()).toBe(banner.creative.headline);
    // The link carries the decision, so a conversion on the landing page credits the banner.
    const link = box.locator('a');
    const landing = new URL(banner.creative.link);
    landing.searchParams.set('ol_d', banner.decisionId);
    landing.searchParams.set('ol_o', banner.offerId);
    expect(await link.getAttribute('href')).toBe(landing.href);
    if (banner.creative.cta) expect(await link.textContent()).toBe(banner.creative.cta);
    if (banner.creative.image) {
      expect(await box.locator('img').getAttribute('alt')).toBe(banner.creative.headline);
    }
    if (banner.creative.body) expect(await box.locator('p').textContent()).toBe(banner.creative.body);

    // Below the fold: no impression yet.
    expect((await box.boundingBox())?.y).toBeGreaterThan(VIEWPORT.height);
    await page.waitForTimeout(500);
    expect(recorded('impression', banner.decisionId)).toHaveLength(0);
    expect(beacons).toHaveLength(0);

    // Scrolled into view: one impression, and one only, however often it comes back into view.
    await box.scrollIntoViewIfNeeded();
    await expect.poll(() => recorded('impression', banner.decisionId!).length, POLL).toBe(1);
    const [impression] = recorded('impression', banner.decisionId);
    expect(impression).toMatchObject({ offerId: banner.offerId, customerId: CUSTOMER });
    await page.mouse.wheel(0, -5000);
    await page.waitForTimeout(200);
    await box.scrollIntoViewIfNeeded();
    await page.waitForTimeout(300);
    expect(recorded('impression', banner.decisionId)).toHaveLength(1);
    // The sidebar's beacons (the visitor's own decision) are not this banner's.
    const ofBanner = (type: string) =>
      beacons.filter((u) => {
        const q = new URL(u).searchParams;
        return q.get('type') === type && q.get('decisionId') === banner.decisionId;
      });
    expect(ofBanner('impression')).toHaveLength(1);

    // The click: reported, and the visitor lands on the banner's link.
    await Promise.all([page.waitForURL(landing.href), link.click()]);
    await expect.poll(() => recorded('click', banner.decisionId!).length, POLL).toBe(1);
    expect(recorded('click', banner.decisionId)[0]).toMatchObject({
      offerId: banner.offerId,
      customerId: CUSTOMER,
    });
    const click = new URL(ofBanner('click')[0]!);
    expect(Object.fromEntries(click.searchParams)).toEqual({
      key: 'pk-web',
      decisionId: banner.decisionId,
      offerId: banner.offerId,
      customerId: CUSTOMER,
      type: 'click',
    });
    await page.close();
  });

  it('shows text only: markup in the answer stays text, script and data URLs are dropped', async () => {
    const page = await context.newPage();
    const beacons: string[] = [];
    page.on('request', (r: Request) => {
      if (r.url().includes('/v1/banners/events')) beacons.push(r.url());
    });
    const warnings: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'warning') warnings.push(m.text());
    });
    const hostile = {
      placement: PLACEMENT,
      customerId: CUSTOMER,
      decisionId: null,
      offerId: null,
      default: true,
      creative: {
        headline: '<img src=x onerror="window.pwned=1">Hello',
        body: '<b>bold</b>',
        image: 'data:image/png;base64,AAAA',
        link: 'javascript:window.pwned=1',
        cta: 'Go',
      },
    };
    // The second slot's picture is a fine URL that does not exist.
    const missingPicture = {
      ...hostile,
      placement: 'account-sidebar',
      creative: { headline: 'Sidebar', image: '/static/missing.png', link: '/cards?src=sidebar' },
    };
    await page.route(`${offerloop.origin}/v1/banners/**`, (route) =>
      route.fulfill({
        status: 200,
        contentType: 'application/json',
        headers: { 'access-control-allow-origin': pageOrigin },
        body: JSON.stringify(route.request().url().includes('/account-sidebar?') ? missingPicture : hostile),
      }),
    );
    const missing = page.waitForResponse(`${pageOrigin}/static/missing.png`);
    await page.goto(`${pageOrigin}/`);
    const box = page.locator('#slot .offerloop-banner');
    await box.locator('h2').waitFor();
    expect(await box.locator('h2').textContent()).toBe(hostile.creative.headline);
    expect(await box.locator('p').textContent()).toBe('<b>bold</b>');
    expect(await box.locator('img, a, b').count()).toBe(0);
    // Relative links are the page's own; a picture that fails to load is left out, not shown broken.
    const sidebar = page.locator('#slot-2 .offerloop-banner');
    expect(await sidebar.locator('a').getAttribute('href')).toBe(`${pageOrigin}/cards?src=sidebar`);
    expect((await missing).status()).toBe(404);
    await expect.poll(() => sidebar.locator('img').count(), POLL).toBe(0);
    await box.scrollIntoViewIfNeeded();
    await page.waitForTimeout(300);
    // Without a decision there is nothing to report.
    expect(beacons).toHaveLength(0);
    expect(warnings).toHaveLength(0);
    await page.close();
  });

  it('leaves the placement empty and warns once when the banner cannot be had', async () => {
    const page = await context.newPage();
    const warnings: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'warning') warnings.push(m.text());
    });
    await page.route(`${offerloop.origin}/v1/banners/**`, (route) =>
      route.fulfill({ status: 503, headers: { 'access-control-allow-origin': pageOrigin }, body: '' }),
    );
    await page.goto(`${pageOrigin}/`);
    await expect.poll(() => warnings.length, POLL).toBe(1);
    expect(warnings[0]).toContain('Offerloop');
    await page.waitForTimeout(200);
    expect(warnings).toHaveLength(1);
    expect(await page.locator('[data-offerloop-placement]').count()).toBe(2);
    expect(await page.locator('[data-offerloop-placement] > *').count()).toBe(0);
    await page.close();
  });
  it('GET /web/banner-demo.html shows cust-7 a banner with the demo key', async () => {
    const demo = await startOfferloop({});
    const page = await browser.newPage();
    try {
      const answered = page.waitForResponse((r: Response) => r.url().includes(`/v1/banners/${PLACEMENT}?`));
      await page.goto(`${demo.origin}/web/banner-demo.html`);
      const response = await answered;
      expect(response.status()).toBe(200);
      expect(new URL(response.url()).searchParams.get('key')).toBe('demo');
      expect(new URL(response.url()).searchParams.get('customerId')).toBe(CUSTOMER);
      const banner = (await response.json()) as BannerAnswer;
      const headline = page.locator('.offerloop-banner h2');
      await headline.waitFor({ timeout: 10_000 });
      expect(await headline.textContent()).toBe(banner.creative.headline);
    } finally {
      await page.close();
      await demo.close();
    }
  });
});

/**
 * The bank's home page: the personalized banner far below a tall spacer, then a default one. The
 * visitor consented to tracking (banner-consent.int.test.ts covers the other cases).
 */
function bankPage(offerloopOrigin: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Northwind Bank</title>
<style>body { margin: 0; font: 16px sans-serif } #spacer { height: 2400px } .offerloop-banner { padding: 16px }</style>
</head>
<body>
  <h1>Northwind Bank</h1>
  <div id="spacer">Your accounts, your cards, your news.</div>
  <div id="slot" data-offerloop-placement="${PLACEMENT}" data-customer-id="${CUSTOMER}"></div>
  <div id="slot-2" data-offerloop-placement="account-sidebar"></div>
  <div style="height: 1600px"></div>
  <script src="${offerloopOrigin}/web/banner.js" data-key="pk-web" data-consent="granted" defer></script>
</body>
</html>`;
}
