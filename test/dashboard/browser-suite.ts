import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Dashboard, serveDashboard } from '../../src/dashboard/index.js';
import type { OperableQueue } from '../../src/queuing/operations.js';
import { type Browser, cell, countBecomes, launchBrowser, textBecomes } from './browser.js';

export type NamedQueue = OperableQueue<unknown> & { readonly name: string };

/** The queues of one broker, as the browser suite uses them. */
export interface Backend {
  readonly name: string;
  /** A fresh queue (cleaned up by `cleanup`). */
  open(label: string): NamedQueue;
  /** Puts `messages` in the queue's dead letters, through the queue, each with `reason` as its error. */
  deadLetter(queue: NamedQueue, messages: readonly unknown[], reason?: string): Promise<void>;
  /** Closes and deletes what `open` made. */
  cleanup(): Promise<void>;
}

const TOKEN = 'browser-token-7c1e';
/** Payloads that would run if the page ever parsed data as markup; each sets the flag or opens a dialog. */
const HOSTILE = [
  '<script>window.__pwned = "script"; alert("script")</script>',
  "<img src=x onerror=\"window.__pwned = 'img'; alert('img')\">",
  '"><svg onload="window.__pwned = \'svg\'">',
];

/** The dashboard in real chromium, against `backend`'s queues. */
export function dashboardBrowserSuite(backend: Backend): void {
  describe(`dashboard in chromium (${backend.name})`, () => {
    let browser: Browser;
    const served: Dashboard[] = [];
    beforeAll(async () => {
      browser = await launchBrowser();
    }, 60_000);
    afterAll(() => browser?.close());
    afterEach(async () => {
      await Promise.all(served.splice(0).map((dashboard) => dashboard.close()));
      await backend.cleanup();
      expect(browser.problems.splice(0)).toEqual([]);
    });

    async function serve(queues: NamedQueue[], options: { readOnly?: boolean; token?: string } = {}) {
      const dashboard = await serveDashboard({ queues, port: 0, ...options });
      served.push(dashboard);
      return dashboard.url;
    }

    async function openPage(url: string): Promise<Page> {
      const page = await browser.page();
      await page.goto(url);
      await textBecomes(page, '#live', 'live');
      return page;
    }

    it('shows counts changing live as messages are sent', async () => {
      const queue = backend.open('live');
      const page = await openPage(await serve([queue]));
      await textBecomes(page, cell(queue.name, 'ready'), '0');
      await Promise.all([1, 2, 3].map((n) => queue.send({ n })));
      await textBecomes(page, cell(queue.name, 'ready'), '3');
      await queue.send({ n: 4 });
      await textBecomes(page, cell(queue.name, 'ready'), '4');
      await page.close();
    });

    it('redrives a dead letter by clicking, after the confirmation', async () => {
      const queue = backend.open('redrive');
      await backend.deadLetter(queue, [{ order: 1 }, { order: 2 }]);
      const page = await openPage(await serve([queue]));
      await textBecomes(page, `${cell(queue.name, 'dead')} button`, '2');
      await page.click(`${cell(queue.name, 'dead')} button`);
      await page.locator('#dead-list li').nth(1).waitFor();
      const first = page.locator('#dead-list li').first();
      expect(await first.locator('pre').textContent()).toBe(JSON.stringify({ order: 1 }, null, 2));

      await first.locator('button.redrive').click();
      await page.locator('#confirm').waitFor();
      await page.click('#confirm-cancel');
      expect((await queue.stats()).dead).toBe(2);

      await first.locator('button.redrive').click();
      await page.click('#confirm-ok');
      await textBecomes(page, `${cell(queue.name, 'dead')} button`, '1');
      await textBecomes(page, cell(queue.name, 'ready'), '1');
      await countBecomes(page, '#dead-list li', 1);
      expect(await page.locator('#dead-list li pre').textContent()).toContain('"order": 2');
      expect(await queue.stats()).toMatchObject({ ready: 1, dead: 1 });
      await page.close();
    });

    it('offers no action in read-only mode', async () => {
      const queue = backend.open('readonly');
      await backend.deadLetter(queue, [{ order: 1 }]);
      const page = await openPage(await serve([queue], { readOnly: true }));
      await textBecomes(page, `${cell(queue.name, 'dead')} button`, '1');
      await page.click(`${cell(queue.name, 'dead')} button`);
      await page.locator('#dead-list li').first().waitFor();
      expect(await page.locator('#mode').isVisible()).toBe(true);
      expect(await page.locator('button.action').count()).toBe(0);
      expect(await page.locator('#dead-redrive-all').count()).toBe(0);
      await page.close();
    });

    it('in token mode, needs the token and keeps it out of the address bar', async () => {
      const queue = backend.open('token');
      const url = await serve([queue], { token: TOKEN });
      const page = await browser.page();
      expect((await page.goto(url))?.status()).toBe(401);
      expect((await page.goto(`${url}?token=wrong`))?.status()).toBe(401);
      await page.goto(`${url}?token=${TOKEN}`);
      expect(page.url()).toBe(url);
      await textBecomes(page, '#live', 'live');
      await queue.send({ n: 1 });
      await textBecomes(page, cell(queue.name, 'ready'), '1');
      await page.click('button.pause');
      await page.click('#confirm-ok');
      await textBecomes(page, cell(queue.name, 'state'), 'paused');
      expect((await queue.stats()).paused).toBe(true);
      await page.close();
    });

    it('shows hostile message content as text: nothing runs', async () => {
      const queue = backend.open('hostile');
      await backend.deadLetter(
        queue,
        HOSTILE.map((payload) => ({ payload })),
        HOSTILE[1],
      );
      const page = await browser.page();
      const dialogs: string[] = [];
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      await page.goto(await serve([queue]));
      await textBecomes(page, '#live', 'live');
      await page.click(`${cell(queue.name, 'dead')} button`);
      await page.locator('#dead-list li').nth(2).waitFor();
      const shown = await page.locator('#dead-list pre').allTextContents();
      expect(shown).toEqual(HOSTILE.map((payload) => JSON.stringify({ payload }, null, 2)));
      expect(await page.locator('#dead-list .reason').first().textContent()).toContain(HOSTILE[1]);
      // Give an injected image's error handler the time to fire, were there one.
      await page.waitForTimeout(500);
      expect(await page.locator('#dead-list img, #dead-list script, #dead-list svg').count()).toBe(0);
      expect(await page.evaluate(() => (globalThis as any).__pwned)).toBeUndefined();
      expect(dialogs).toEqual([]);
      await page.close();
    });
  });
}
