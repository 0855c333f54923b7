/**
 * Orders charged from a Redis queue, with retries and a dead-letter queue. A Pump takes each order
 * from a RedisQueue and charges it: one card is declined once and goes through on its second
 * attempt; one is declined every time, so after `maxAttempts` it lands in the dead-letter queue,
 * where an operator reads why.
 *
 *   npx tsx examples/redis.ts          (Redis on $SLUICE_REDIS_URL, default redis://127.0.0.1:6379)
 *
 * Each run uses its own queue name and deletes the queue's keys at the end.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Pump } from 'sluice';
import { RedisQueue } from 'sluice/redis';

interface Order {
  id: string;
  cents: number;
  card: 'valid' | 'flaky' | 'stolen';
}

const url = process.env.SLUICE_REDIS_URL ?? 'redis://127.0.0.1:6379';
const name = `orders-example-${process.pid}`;
const orders = new RedisQueue<Order>(name, { url, maxAttempts: 3, backoff: { type: 'fixed', delay: 200 } });

function charge(order: Order, attempt: number): void {
  const declined =
    order.card === 'stolen'
      ? 'card reported stolen'
      : order.card === 'flaky' && attempt === 1
        ? 'card declined, try again'
        : undefined;
  if (declined !== undefined) {
    console.log(`${order.id}: attempt ${attempt} failed: ${declined}`);
    throw new Error(declined);
  }
  console.log(`${order.id}: charged ${order.cents} cents on attempt ${attempt}`);
}

await orders.send({ id: 'order-1', cents: 1_200, card: 'valid' });
await orders.send({ id: 'order-2', cents: 450, card: 'flaky' });
await orders.send({ id: 'order-3', cents: 9_900, card: 'stolen' });
await orders.send({ id: 'order-4', cents: 300, card: 'valid' });

// failSilently: a failed charge is nacked (retried after the backoff) and the pump goes on.
const pump = new Pump(orders, (order, { attempt }) => charge(order, attempt), { failSilently: true });
const draining = pump.draining({ concurrency: 4 });

// Wait until every order was charged or given up on: nothing waiting, one dead letter.
for (;;) {
  const { ready, delayed, inFlight, dead } = await orders.stats();
  if (ready + delayed + inFlight === 0 && dead === 1) break;
  await sleep(50);
}
await draining.stop();
console.log(`pump: ${draining.stats.processed} charged, ${draining.stats.failed} failed attempts`);

for (const letter of await orders.deadLetters()) {
  console.log(`dead letter ${letter.message.id} after attempt ${letter.attempt}: ${letter.reason}`);
}
await orders.close();

// Clean up: the queue's keys and its dead-letter queue's keys.
const redis = new Redis(url);
for (const pattern of [`sluice:{${name}}*`, `sluice:{${name}.dead}*`]) {
  const keys = await redis.keys(pattern);
  if (keys.length > 0) await redis.del(...keys);
}
redis.disconnect();
