/**
 * Headless Debian Chromium for the browser tests (playwright-core, never a downloaded
 * browser), axe-core checks of a page and screenshots.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Chromium as the machine notes say: no sandbox (root), no GPU, no background traffic. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run',
      '--disable-component-update', '--disable-sync'],
  });
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation { id: string; impact: string | null; help: string; nodes: string[] }

/**
 * axe-core's WCAG 2.x A/AA and best-practice rules on the page as it is now. The script is
 * evaluated through the DevTools protocol, which the page's Content-Security-Policy does
 * not govern (the page itself could not load it, and should not).
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(`${AXE}\n;0`);
  return page.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } })
    .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) })))`);
}

/** The serious and critical ones, the ones a page must not have. */
export const serious = (violations: AxeViolation[]): AxeViolation[] => violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');

/**
 * Where screenshots go: docs/console when CONSOLE_SCREENSHOTS=docs (npm run docs:screenshots),
 * else a folder of the test's own.
 */
export function screenshotDir(fallback: string): string {
  const dir = process.env.CONSOLE_SCREENSHOTS === 'docs' ? join(process.cwd(), 'docs', 'console') : fallback;
  mkdirSync(dir, { recursive: true });
  return dir;
}
