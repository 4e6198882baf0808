/** Debian's Chromium, headless, driven by playwright-core (never a downloaded browser). */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { tmpDir } from './env';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'];

export async function launchChromium(): Promise<Browser> {
  const executablePath = CANDIDATES.find((p) => fs.existsSync(p));
  if (!executablePath) throw new Error("chromium is not installed: `npm test` installs Debian's chromium package (apt-get install chromium)");
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/** Where screenshots go: SCREENSHOT_DIR (the README's images come from there) or the test's temp dir. */
export function screenshotDir(): string {
  const dir = process.env.SCREENSHOT_DIR ? path.resolve(process.env.SCREENSHOT_DIR) : tmpDir('screenshots');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
