/**
 * Webhooks delivered from an SQLite file, no server needed. A Pump posts each webhook at most 5 per
 * half second (a rate limit the receiving API asks for). One endpoint is down: its webhook is
 * retried, then dead-lettered with the reason. Once the endpoint is back, the operator redrives the
 * dead letter and it is delivered.
 *
 *   npx tsx examples/sqlite.ts
 *
 * The queue lives in a new file in the temporary directory, removed at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pump } from 'sluice';
import { SqliteQueue } from 'sluice/sqlite';

interface Webhook {
  url: string;
  event: string;
}

const directory = mkdtempSync(join(tmpdir(), 'sluice-webhooks-'));
const webhooks = new SqliteQueue<Webhook>('webhooks', {
  path: join(directory, 'queues.db'),
  maxAttempts: 2,
  backoff: { type: 'fixed', delay: 200 },
});
const down = new Set(['https://down.example.com/hook']);
const started = Date.now();
const log = (line: string) => console.log(`${String(Date.now() - started).padStart(5)} ms  ${line}`);

for (let n = 1; n <= 7; n++) {
  await webhooks.send({ url: `https://shop-${n}.example.com/hook`, event: `order.paid #${n}` });
}
await webhooks.send({ url: 'https://down.example.com/hook', event: 'order.paid #8' });

let delivered = 0;
const pump = new Pump(
  webhooks,
  ({ url, event }, { attempt }) => {
    if (down.has(url)) {
      log(`${event} to ${url}: 503 on attempt ${attempt}`);
      throw new Error(`${url} answered 503`);
    }
    delivered++;
    log(`${event} delivered to ${url}`);
  },
  { failSilently: true }, // a failed post is nacked, to be retried, and the pump goes on
);
const draining = pump.draining({ concurrency: 4, rateLimit: { limit: 5, interval: 500 } });

/** Polls the queue's counts until nothing is waiting or in flight and `dead` letters are there. */
async function settled(dead: number): Promise<void> {
  for (;;) {
    const stats = await webhooks.stats();
    if (stats.ready + stats.delayed + stats.inFlight === 0 && stats.dead === dead) return;
    await sleep(50);
  }
}

await settled(1);
for (const letter of await webhooks.deadLetters()) {
  log(`dead letter ${letter.message.event}: ${letter.reason}`);
}
down.clear();
log(`endpoint back up: redrove ${await webhooks.redrive()} dead letter`);
await settled(0);
await draining.stop();
log(`${delivered} of 8 webhooks delivered`);

await webhooks.close();
rmSync(directory, { recursive: true, force: true });
