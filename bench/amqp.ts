/**
 * AmqpQueue against raw-client floors on the local RabbitMQ (`npx tsx bench/amqp.ts`), both on
 * amqplib 0.10, durable queues, persistent messages, one connection per role:
 *
 * - processing: 100,000 stored no-op messages. sluice: a Pump at concurrency 16 with prefetch 100.
 *   Floor: the raw client's `consume()` with prefetch 100, JSON.parse and `ack()` each (no envelope,
 *   schema, retries or dead-lettering).
 *   AmqpQueue also acks every message, but sends the acks of one event-loop turn as a `multiple`
 *   ack where they are contiguous; the floor sends one `basic.ack` per message.
 * - enqueue: 50,000 `send`s vs 50,000 raw `sendToQueue`s on a confirm channel, 1,000 in flight at
 *   any time, each resolving on the broker's publisher confirm in both cases.
 *   Both send one message before the clock starts, so connecting and declaring are not timed.
 * Two pairings, each sluice run against the raw client on the same queue shape:
 * - plain queue: `AmqpQueue` with `priorities: false` vs the floor of the target (a plain durable
 *   queue, 1–6 byte bodies); for enqueue also vs that floor publishing `mandatory`, as sluice does so
 *   that a message sent to a queue someone deleted comes back instead of vanishing;
 * - priority queue: `AmqpQueue` as declared by default (`x-max-priority` 10) vs the raw client on the
 *   same shape: priority 5, `mandatory`, a `messageId`, `contentType` and an envelope-sized body. It
 *   shows the broker's own cost of priorities, which sluice cannot remove.
 * Five interleaved runs, medians (RabbitMQ's rate moves a lot from run to run on this VM). Queues
 * are deleted after each run. RabbitMQ must be reachable at SLUICE_AMQP_URL (default
 * amqp://guest:guest@127.0.0.1:5672).
 */
import { connect, type Options } from 'amqplib';
import { Pump } from '../src/queuing/pump/pump.js';
import { AmqpQueue } from '../src/transports/amqp/index.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../src/transports/shared/broker-options.js';
import { encodeEnvelope } from '../src/transports/shared/envelope.js';
import { concurrently, medianRates, type Rates, rate } from './support/load.js';
import { printTable } from './support/publish.js';
import { formatRate, formatRatio, machineLine } from './support/report.js';

const url = process.env.SLUICE_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const PROCESSED = 100_000;
const ENQUEUED = 50_000;
const CONCURRENCY = 16;
const PREFETCH = 100;
const IN_FLIGHT = 1_000;
const RUNS = 5;

async function sluice(priorities: boolean): Promise<Rates> {
  const name = `sluice-bench-${process.pid}`;
  const producer = new AmqpQueue<number>(name, { url, priorities });
  await producer.send(-1); // connects and declares, as the floor does before its clock starts
  let start = performance.now();
  await concurrently(ENQUEUED, IN_FLIGHT, (i) => producer.send(i));
  const enqueue = rate(ENQUEUED, start);
  await concurrently(PROCESSED - ENQUEUED - 1, IN_FLIGHT, (i) => producer.send(i));

  const consumer = new AmqpQueue<number>(name, { url, prefetch: PREFETCH, priorities });
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

const PLAIN_MANDATORY: Shape = {
  ...PLAIN,
  label: 'mandatory',
  options: () => ({ persistent: true, mandatory: true }),
};

const SLUICE_SHAPED: Shape = {
  label: 'shaped',
  queueArguments: { 'x-max-priority': 10 },
  body: (i) => Buffer.from(encodeEnvelope(i, 'floor', DEFAULT_MAX_MESSAGE_SIZE)),
  options: (i) => ({
    persistent: true,
    priority: 5,
    mandatory: true,
    messageId: String(i),
    contentType: 'application/json',
  }),
};

async function floor(shape: Shape): Promise<Rates> {
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
  await publish(-1); // the same warm-up message as sluice's
  let start = performance.now();
  await concurrently(ENQUEUED, IN_FLIGHT, publish);
  const enqueue = rate(ENQUEUED, start);
  await concurrently(PROCESSED - ENQUEUED - 1, IN_FLIGHT, publish);

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

const medians = await medianRates(RUNS, {
  'sluice, plain queue': () => sluice(false),
  'raw, plain queue': () => floor(PLAIN),
  'raw, plain queue, mandatory': () => floor(PLAIN_MANDATORY),
  'sluice, priority queue': () => sluice(true),
  'raw, priority queue': () => floor(SLUICE_SHAPED),
});
const medianOf = (label: string, measure: keyof Rates) => medians[label]![measure];

const descriptions: Record<keyof Rates, string> = {
  processing: `processing ${PROCESSED.toLocaleString('en-US')} no-op (msg/s; Pump concurrency ${CONCURRENCY}, prefetch ${PREFETCH} vs consume(), prefetch ${PREFETCH})`,
  enqueue: `enqueue ${ENQUEUED.toLocaleString('en-US')}, ${IN_FLIGHT} in flight, publisher confirms (msg/s)`,
};
/** Each row: the measure, sluice's contender, the raw one it is held against, and the queue shape. */
const comparisons: [keyof Rates, string, string, string][] = [
  ['processing', 'sluice, plain queue', 'raw, plain queue', 'plain queue'],
  ['processing', 'sluice, priority queue', 'raw, priority queue', 'priority queue'],
  ['enqueue', 'sluice, plain queue', 'raw, plain queue', 'plain queue'],
  ['enqueue', 'sluice, plain queue', 'raw, plain queue, mandatory', 'plain queue, raw `mandatory` too'],
  ['enqueue', 'sluice, priority queue', 'raw, priority queue', 'priority queue'],
];
const rows = comparisons.map(([measure, ours, theirs, shape]) => {
  const [sluiceRate, rawRate] = [medianOf(ours, measure), medianOf(theirs, measure)];
  return [
    descriptions[measure],
    shape,
    formatRate(sluiceRate),
    formatRate(rawRate),
    formatRatio(sluiceRate / rawRate),
  ];
});
const mandatoryCost =
  medianOf('raw, plain queue', 'enqueue') / medianOf('raw, plain queue, mandatory', 'enqueue');

console.log(`\nAmqpQueue vs the raw amqplib client — ${machineLine()}, median of ${RUNS} runs\n`);
printTable(
  `AmqpQueue vs the raw amqplib client, median of ${RUNS} runs`,
  ['measure', 'queue', 'sluice', 'raw amqplib', 'sluice / raw'],
  rows,
);
console.log(
  '\nTarget: ≥ 0.80× the raw floor, which is the plain queue (`priorities: false` for sluice). The ' +
    'priority queue rows compare sluice as declared by default with the raw client on that shape.',
);
const plainVsPriority =
  medianOf('raw, plain queue', 'processing') / medianOf('raw, priority queue', 'processing');
console.log(
  `The raw client processes ${formatRatio(plainVsPriority)} faster on a plain queue than on the priority queue, ` +
    `and publishes ${formatRatio(mandatoryCost)} faster without \`mandatory\`.`,
);
