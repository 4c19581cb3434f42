import type { BrowserContext, Page } from 'playwright-core';
import { expect } from 'vitest';
import { launchBrowser } from './browser.js';

/**
 * The analyst's workbench (/workbench/) in Chromium, for test/browser/workbench-*.int.test.ts:
 * `watchPage` records what must never happen on a page (console errors, script errors, what the
 * Content Security Policy blocked); `openWorkbench` signs in with a key and waits for a section.
 */

/** A Chromium with one context whose pages keep their CSP violations (see watchCsp); close() ends both. */
export interface WorkbenchBrowser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

export async function workbenchBrowser(): Promise<WorkbenchBrowser> {
  const browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  // A page under test waits for the server's answers, which a busy machine may slow.
  context.setDefaultTimeout(10_000);
  await watchCsp(context);
  return {
    context,
    async close() {
      await context.close();
      await browser.close();
    },
  };
}

/** Call once per context, before its pages open: CSP violations are kept in `window.cspViolations`. */
export async function watchCsp(context: BrowserContext): Promise<void> {
  await context.addInitScript({
    content: `
      Object.defineProperty(window, 'cspViolations', { value: [] });
      document.addEventListener('securitypolicyviolation', (e) =>
        window.cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')));
    `,
  });
}

/** Console errors and script errors of a page, as they happen, then its CSP violations (see watchCsp). */
export function watchPage(page: Page): { problems: string[]; all(): Promise<string[]> } {
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  return {
    problems,
    async all() {
      const csp = await page.evaluate<string[]>('window.cspViolations ?? []');
      return [...problems, ...csp.map((v) => `csp: ${v}`)];
    },
  };
}

/**
 * Opens `/workbench/#/<section>` on `origin`, checks the page's policy, signs in with `key` and
 * waits until the section's heading is shown.
 */
export async function openWorkbench(page: Page, origin: string, key: string, section: string): Promise<void> {
  const res = await page.goto(`${origin}/workbench/#/${section}`);
  expect(res?.status()).toBe(200);
  const csp = (await res?.allHeaders())?.['content-security-policy'] ?? '';
  expect(csp).toContain("script-src 'self'");
  expect(csp).not.toContain('unsafe');
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator(`#sections a[href="#/${section}"][aria-current="page"]`).waitFor();
}
