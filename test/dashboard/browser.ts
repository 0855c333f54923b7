import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's chromium, driven by playwright-core (DEVELOPERS.md, "Browser tests"). */
export const CHROMIUM = '/usr/bin/chromium';

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  /** A new tab; its console errors and uncaught exceptions are collected in `problems`. */
  page(): Promise<Page>;
  readonly problems: string[];
  close(): Promise<void>;
}

/**
 * Starts chromium headless with a fresh profile, removed on close. playwright-core refuses a
 * `--user-data-dir` flag: the profile directory is given to launchPersistentContext instead.
 */
export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'sluice-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 900 },
    });
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
  const problems: string[] = [];
  return {
    problems,
    async page() {
      const page = await context.newPage();
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error' && !message.text().includes('status of 401')) {
          problems.push(`console: ${message.text()}`);
        }
      });
      return page;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Waits until the element's text is `text` (a live update). */
export async function textBecomes(
  page: Page,
  selector: string,
  text: string,
  timeout = 15_000,
): Promise<void> {
  try {
    // Runs in the page (this project compiles without the "dom" lib, and the dashboard's policy
    // forbids evaluating a source string there).
    await page.waitForFunction(
      ({ selector, text }) => (globalThis as any).document.querySelector(selector)?.textContent === text,
      { selector, text },
      { timeout },
    );
  } catch (error) {
    const shown = await page
      .locator(selector)
      .textContent()
      .catch(() => null);
    throw new Error(`${selector} shows ${JSON.stringify(shown)}, not ${JSON.stringify(text)}`, {
      cause: error,
    });
  }
}

/** The selector of a queue's count cell in the queue table. */
export function cell(queue: string, column: 'ready' | 'delayed' | 'in-flight' | 'dead' | 'state'): string {
  return `tr[data-queue="${queue}"] .${column}`;
}

/** Waits until `selector` matches `count` elements. */
export async function countBecomes(
  page: Page,
  selector: string,
  count: number,
  timeout = 15_000,
): Promise<void> {
  await page.waitForFunction(
    ({ selector, count }) => (globalThis as any).document.querySelectorAll(selector).length === count,
    { selector, count },
    { timeout },
  );
}
