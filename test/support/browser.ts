import { type Browser, chromium } from 'playwright-core';

/** Where the browser tests find Chromium: CHROMIUM_PATH, else Debian's package. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * A headless Chromium for the browser tests (test/browser/*.int.test.ts), through playwright-core
 * and the system's Chromium, so no browser download is needed. Quiet: no sync, no component
 * updates, no background requests that could reach the network during a test.
 */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
