import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

/** Debian's Chromium (or SINKRULE_CHROMIUM); undefined on a machine without one. */
export const chromiumPath = [process.env.SINKRULE_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
  (candidate): candidate is string => Boolean(candidate && existsSync(candidate)),
);

/**
 * Headless Chromium with a fresh temporary profile and nothing of its own on the network: this
 * machine's network is closed, and the page test counts every request the page makes.
 */
export async function launchChromium(executablePath: string): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
