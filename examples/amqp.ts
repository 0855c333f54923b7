/**
 * Emails through RabbitMQ, with priorities, a delay and deduplication. A backlog of newsletters is
 * queued first; a password reset sent after them with a higher priority goes out first; a reminder
 * sent with a delay goes out a second later; a welcome email sent twice with the same `key` is
 * stored once. A Pump sends the emails one at a time, so the output shows the queue's order.
 *
 *   npx tsx examples/amqp.ts   (RabbitMQ on $SLUICE_AMQP_URL, default amqp://guest:guest@127.0.0.1:5672)
 *
 * Each run uses its own queue name and deletes the queues it made at the end.
 */
import { connect } from 'amqplib';
import { Pump } from 'sluice';
import { AmqpQueue } from 'sluice/amqp';

interface Email {
  to: string;
  subject: string;
}

const url = process.env.SLUICE_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const name = `emails-example-${process.pid}`;
const emails = new AmqpQueue<Email>(name, { url });
const started = Date.now();

for (let n = 1; n <= 4; n++) await emails.send({ to: `reader-${n}@example.com`, subject: 'Newsletter' });
await emails.send({ to: 'ada@example.com', subject: 'Reset your password' }, { priority: 9 });
await emails.send({ to: 'ada@example.com', subject: 'Finish your sign-up' }, { delay: 1_000 });
await emails.send({ to: 'grace@example.com', subject: 'Welcome' }, { key: 'welcome:grace' });
await emails.send({ to: 'grace@example.com', subject: 'Welcome' }, { key: 'welcome:grace' }); // not stored again
const expected = 7;

let sent = 0;
let allSent!: () => void;
const done = new Promise<void>((resolve) => {
  allSent = resolve;
});
const pump = new Pump(emails, ({ to, subject }) => {
  console.log(`${String(Date.now() - started).padStart(5)} ms  sent "${subject}" to ${to}`);
  if (++sent === expected) allSent();
});
const draining = pump.draining({ concurrency: 1 });
await done;
await draining.stop();
await emails.close();
console.log(`${sent} emails sent, the duplicate welcome was stored once`);

// Clean up the queues sluice made: the queue, its dead-letter queue, its pause record, the delay
// queue (it would expire by itself) and the dedup key's marker (gone already once the welcome was acked).
const connection = await connect(url);
const channel = await connection.createChannel();
const made = [name, `${name}.dead`, `${name}.paused`, `${name}.delay.1000`, `${name}.key.welcome:grace`];
for (const queue of made) {
  await channel.deleteQueue(queue);
}
await connection.close();
