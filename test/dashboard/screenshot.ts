/**
 * Draws docs/dashboard.png (`npx tsx test/dashboard/screenshot.ts`): a dashboard on a few busy
 * MemoryQueues with dead letters, after a minute and a half of traffic, in Debian's chromium.
 */
import { fileURLToPath } from 'node:url';
import { serveDashboard } from '../../src/dashboard/index.js';
import type { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import { launchBrowser, textBecomes } from './browser.js';
import { deadLetter, memoryQueue } from './queues.js';

const TRAFFIC_MS = 90_000;
const output = fileURLToPath(new URL('../../docs/dashboard.png', import.meta.url));

const orders = memoryQueue('orders');
const emails = memoryQueue('emails');
const webhooks = memoryQueue('webhooks');
const reports = memoryQueue('reports');

await deadLetter(
  emails,
  [
    { to: 'ada@example.com', template: 'welcome' },
    { to: 'grace@example', template: 'receipt', order: 1042 },
    { to: 'linus@example.com', template: 'password-reset', token: '<redacted>' },
  ],
  'SmtpError: 550 mailbox unavailable',
);
await deadLetter(webhooks, [{ url: 'https://hooks.example.com/a', event: 'order.paid' }], 'HTTP 410 Gone');
await webhooks.pause();
for (let i = 0; i < 40; i++)
  await webhooks.send({ url: 'https://hooks.example.com/b', event: 'order.shipped', i });
for (let i = 0; i < 3; i++) await reports.send({ report: 'daily', day: i }, { delay: 3_600_000 });

/** Takes up to `perTick` messages of `queue` every 100 ms and acks them. */
function consume(queue: MemoryQueue<unknown>, perTick: () => number): () => void {
  const iterator = queue[Symbol.asyncIterator]();
  const timer = setInterval(async () => {
    for (let n = perTick(); n > 0 && queue.size > 0; n--) {
      const next = await iterator.next();
      if (!next.done) await next.value.ack();
    }
  }, 100);
  return () => clearInterval(timer);
}

const started = Date.now();
const phase = () => Math.floor((Date.now() - started) / 20_000) % 2;
const producer = setInterval(() => {
  for (let n = phase() === 0 ? 9 : 2; n > 0; n--)
    void orders.send({ order: Math.floor(Math.random() * 1e6) });
  if (Math.random() < 0.5) void emails.send({ to: 'someone@example.com', template: 'receipt' });
}, 100);
const stopOrders = consume(orders, () => 5);
const stopEmails = consume(emails, () => 1);

const dashboard = await serveDashboard({ queues: [orders, emails, webhooks, reports], port: 0 });
await new Promise((resolve) => setTimeout(resolve, TRAFFIC_MS));
const browser = await launchBrowser();
try {
  const page = await browser.page();
  await page.goto(dashboard.url);
  await textBecomes(page, '#live', 'live');
  await page.click('tr[data-queue="emails"] .dead button');
  await page.locator('#dead-list li').nth(2).waitFor();
  await page.waitForTimeout(1_500);
  await page.screenshot({ path: output, fullPage: true });
  console.log(`wrote ${output}`);
} finally {
  await browser.close();
  clearInterval(producer);
  stopOrders();
  stopEmails();
  await dashboard.close();
}
