import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium, which the browser tests drive (apt-get install chromium). */
export const CHROMIUM = '/usr/bin/chromium';

/** Headless, and quiet: no sandbox (root in CI), no GPU, no network of its own. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Starts headless Chromium for a test. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}
