/**
 * AmqpQueue against raw-client floors on the local RabbitMQ (`npx tsx bench/amqp.ts`), both on
 * amqplib 0.10, durable queues, persistent messages, one connection per role:
 *
 * - processing: 100,000 stored no-op messages. sluice: a Pump at concurrency 16 with prefetch 100.
 *   Floor: the raw client's `consume()` with prefetch 100, JSON.parse and `ack()` each (no envelope,
 *   schema, priorities, retries or dead-lettering).
 *   AmqpQueue also acks every message, but sends the acks of one event-loop turn as a `multiple`
 *   ack where they are contiguous; the floor sends one `basic.ack` per message.
 * - enqueue: 50,000 `send`s vs 50,000 raw `sendToQueue`s on a confirm channel, 1,000 in flight at
 *   any time, each resolving on the broker's publisher confirm in both cases.
 * The floor (the target's reference) uses a plain durable queue and 1–6 byte bodies. A second raw
 * run, labelled "same shape", sends what AmqpQueue puts on the wire: a priority queue
 * (`x-max-priority` 10, as AmqpQueue always declares), priority 5, `mandatory`, a `messageId` and
 * `contentType`, and an envelope-sized JSON body; it shows how much of the gap is the broker's work
 * for that shape rather than the adapter's. Queues are deleted at the end. RabbitMQ must be reachable
 * at SLUICE_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672).
 */
import { randomUUID } from 'node:crypto';
import { connect, type Options } from 'amqplib';
import { Pump } from '../src/queuing/pump.js';
import { AmqpQueue } from '../src/transports/amqp/index.js';
import { concurrently, rate } from './support/load.js';
import { formatRate, formatRatio, machineLine, markdownTable } from './support/report.js';

const url = process.env.SLUICE_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const PROCESSED = 100_000;
const ENQUEUED = 50_000;
const CONCURRENCY = 16;
const PREFETCH = 100;
const IN_FLIGHT = 1_000;

async function sluice(): Promise<{ processing: number; enqueue: number }> {
  const name = `sluice-bench-${process.pid}`;
  const producer = new AmqpQueue<number>(name, { url });
  let start = performance.now();
  await concurrently(ENQUEUED, IN_FLIGHT, (i) => producer.send(i));
  const enqueue = rate(ENQUEUED, start);
  await concurrently(PROCESSED - ENQUEUED, IN_FLIGHT, (i) => producer.send(i));

  const consumer = new AmqpQueue<number>(name, { url, prefetch: PREFETCH });
  let left = PROCESSED;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  start = performance.now();
  const draining = new Pump(consumer, () => {
    if (--left === 0) finish();
  }).draining({ concurrency: CONCURRENCY });
  await done;
  const processing = rate(PROCESSED, start);
  await draining.stop();
  await Promise.all([producer.close(), consumer.close()]);
  await dropQueues(name, `${name}.dead`);
  return { processing, enqueue };
}

/** How the raw client shapes its queue and messages: bare, or the way AmqpQueue does. */
interface Shape {
  label: string;
  queueArguments: Record<string, unknown>;
  body(i: number): Buffer;
  options(i: number): Options.Publish;
}

const PLAIN: Shape = {
  label: 'plain',
  queueArguments: {},
  body: (i) => Buffer.from(JSON.stringify(i)),
  options: () => ({ persistent: true }),
};

const SLUICE_SHAPED: Shape = {
  label: 'shaped',
  queueArguments: { 'x-max-priority': 10 },
  body: (i) =>
    Buffer.from(
      `{"id":"${randomUUID()}","type":null,"attempt":1,"headers":{},"payload":${JSON.stringify(i)}}`,
    ),
  options: (i) => ({
    persistent: true,
    priority: 5,
    mandatory: true,
    messageId: String(i),
    contentType: 'application/json',
  }),
};

async function floor(shape: Shape): Promise<{ processing: number; enqueue: number }> {
  const queue = `floor-bench-${shape.label}-${process.pid}`;
  const connection = await connect(url);
  const publisher = await connection.createConfirmChannel();
  await publisher.assertQueue(queue, { durable: true, arguments: shape.queueArguments });
  const publish = (i: number) =>
    new Promise<void>((resolve, reject) => {
      publisher.sendToQueue(queue, shape.body(i), shape.options(i), (error: unknown) =>
        error ? reject(error) : resolve(),
      );
    });
  let start = performance.now();
  await concurrently(ENQUEUED, IN_FLIGHT, publish);
  const enqueue = rate(ENQUEUED, start);
  await concurrently(PROCESSED - ENQUEUED, IN_FLIGHT, publish);

  const reader = await connect(url);
  const channel = await reader.createChannel();
  await channel.prefetch(PREFETCH);
  let handled = 0;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  start = performance.now();
  await channel.consume(queue, (message) => {
    if (message === null) return;
    JSON.parse(message.content.toString());
    channel.ack(message);
    if (++handled === PROCESSED) finish();
  });
  await done;
  const processing = rate(PROCESSED, start);
  await channel.close();
  await reader.close();
  await publisher.deleteQueue(queue);
  await connection.close();
  return { processing, enqueue };
}

async function dropQueues(...names: string[]): Promise<void> {
  const connection = await connect(url);
  const channel = await connection.createChannel();
  for (const name of names) await channel.deleteQueue(name);
  await connection.close();
}

const raw = await floor(PLAIN);
const shaped = await floor(SLUICE_SHAPED);
const ours = await sluice();

console.log(`AmqpQueue vs the raw amqplib client — ${machineLine()}\n`);
console.log(
  markdownTable(
    [
      'measure',
      'sluice',
      'raw amqplib (floor)',
      'sluice / floor',
      'raw, same shape as sluice',
      'sluice / same shape',
    ],
    [
      [
        `processing ${PROCESSED.toLocaleString('en-US')} no-op (msg/s; Pump concurrency ${CONCURRENCY}, prefetch ${PREFETCH} vs consume(), prefetch ${PREFETCH})`,
        formatRate(ours.processing),
        formatRate(raw.processing),
        formatRatio(ours.processing / raw.processing),
        formatRate(shaped.processing),
        formatRatio(ours.processing / shaped.processing),
      ],
      [
        `enqueue ${ENQUEUED.toLocaleString('en-US')}, ${IN_FLIGHT} in flight, publisher confirms (msg/s)`,
        formatRate(ours.enqueue),
        formatRate(raw.enqueue),
        formatRatio(ours.enqueue / raw.enqueue),
        formatRate(shaped.enqueue),
        formatRatio(ours.enqueue / shaped.enqueue),
      ],
    ],
  ),
);
console.log(
  '\nRatios ≥ 0.80× of the floor meet the target (sluice at least 80% of the raw floor). "Same shape" is ' +
    'the raw client on a priority queue (x-max-priority 10) with the properties and envelope-sized body ' +
    'AmqpQueue publishes: the broker-side cost of that shape, not a target.',
);
