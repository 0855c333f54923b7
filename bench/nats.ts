/**
 * NatsQueue against raw-client floors on the local NATS JetStream (`npx tsx bench/nats.ts`), both on
 * @nats-io/jetstream 3, file-storage WorkQueue streams, one connection per role:
 *
 * - processing: 100,000 stored no-op messages. sluice: a Pump at concurrency 16. Floor: the raw
 *   client's durable pull `consume()` (max_messages 128, the same window as sluice's prefetch),
 *   JSON.parse and `ack()` each (no envelope, schema, dead-lettering, heartbeat or priority bands).
 * - enqueue: 50,000 `send`s vs 50,000 `js.publish`, 1,000 in flight at any time, each resolving
 *   on JetStream's publish ack in both cases.
 *   Both send one message before the clock starts, so connecting and declaring are not timed.
 * The floor runs twice: with the client's defaults (the target), and with `noAsyncTraces`, which
 * sluice sets on connections it opens (the client then skips building two stack-traced errors per
 * publish in case it times out): the raw client's own best case.
 * Three interleaved runs, medians. Streams are deleted after each run. NATS must be reachable at SLUICE_NATS_URL (default 127.0.0.1:4222).
 */
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Pump } from '../src/queuing/pump/pump.js';
import { NatsQueue } from '../src/transports/nats/index.js';
import { streamName } from '../src/transports/nats/names.js';
import { concurrently, medianRates, type Rates, rate } from './support/load.js';
import { printTable } from './support/publish.js';
import { formatRate, formatRatio, machineLine } from './support/report.js';

const url = process.env.SLUICE_NATS_URL ?? 'nats://127.0.0.1:4222';
const PROCESSED = 100_000;
const ENQUEUED = 50_000;
const CONCURRENCY = 16;
/** Sends in flight at once, for sluice and the floor alike (50,000 at once overrun publish timeouts). */
const IN_FLIGHT = 1_000;
const RUNS = 3;

async function sluice(): Promise<Rates> {
  const name = `sluice-bench-${process.pid}`;
  const producer = new NatsQueue<number>(name, { url });
  await producer.send(-1); // connects and creates the stream, as the floor does before its clock starts
  let start = performance.now();
  await concurrently(ENQUEUED, IN_FLIGHT, (i) => producer.send(i));
  const enqueue = rate(ENQUEUED, start);
  await concurrently(PROCESSED - ENQUEUED - 1, IN_FLIGHT, (i) => producer.send(i));

  const consumer = new NatsQueue<number>(name, { url });
  let left = PROCESSED;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  start = performance.now();
  const draining = new Pump(consumer, () => {
    if (--left === 0) finish();
  }).draining({ concurrency: CONCURRENCY });
  await done;
  const processing = rate(PROCESSED, start);
  await draining.stop();
  await Promise.all([producer.close(), consumer.close()]);
  await dropStreams(streamName(name), streamName(`${name}.dead`));
  return { processing, enqueue };
}

async function floor(noAsyncTraces: boolean): Promise<Rates> {
  const stream = `floor-bench-${process.pid}`;
  const nc = await connect({ servers: url, noAsyncTraces });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await jsm.streams.add({
    name: stream,
    subjects: [`${stream}.*`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
  });
  await jsm.consumers.add(stream, { durable_name: 'work', ack_policy: AckPolicy.Explicit });
  try {
    return await measureFloor(stream, `${stream}.work`, js, noAsyncTraces);
  } finally {
    await jsm.streams.delete(stream).catch(() => {});
    await nc.close();
  }
}

async function measureFloor(
  stream: string,
  subject: string,
  js: ReturnType<typeof jetstream>,
  noAsyncTraces: boolean,
): Promise<Rates> {
  await js.publish(subject, JSON.stringify(-1)); // the same warm-up message as sluice's
  let start = performance.now();
  await concurrently(ENQUEUED, IN_FLIGHT, (i) => js.publish(subject, JSON.stringify(i)));
  const enqueue = rate(ENQUEUED, start);
  await concurrently(PROCESSED - ENQUEUED - 1, IN_FLIGHT, (i) => js.publish(subject, JSON.stringify(i)));

  const reader = await connect({ servers: url, noAsyncTraces });
  const consumer = await jetstream(reader).consumers.get(stream, 'work');
  start = performance.now();
  const messages = await consumer.consume({ max_messages: 128 });
  let handled = 0;
  for await (const message of messages) {
    JSON.parse(message.string());
    message.ack();
    if (++handled === PROCESSED) break;
  }
  const processing = rate(PROCESSED, start);
  await reader.close();
  return { processing, enqueue };
}

async function dropStreams(...names: string[]): Promise<void> {
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  for (const name of names) await jsm.streams.delete(name).catch(() => {});
  await nc.close();
}

const medians = await medianRates(RUNS, {
  sluice,
  raw: () => floor(false),
  'raw, noAsyncTraces': () => floor(true),
});
const ours = medians.sluice!;
const rows: string[][] = [];
for (const [measure, description] of [
  [
    'processing',
    `processing ${PROCESSED.toLocaleString('en-US')} no-op (msg/s; Pump concurrency ${CONCURRENCY} vs consume())`,
  ],
  ['enqueue', `enqueue ${ENQUEUED.toLocaleString('en-US')}, ${IN_FLIGHT} in flight, publish acks (msg/s)`],
] as const) {
  for (const floorLabel of ['raw', 'raw, noAsyncTraces']) {
    const theirs = medians[floorLabel]!;
    rows.push([
      description,
      floorLabel === 'raw' ? 'client defaults' : '`noAsyncTraces: true`',
      formatRate(ours[measure]),
      formatRate(theirs[measure]),
      formatRatio(ours[measure] / theirs[measure]),
    ]);
  }
}

console.log(`\nNatsQueue vs the raw JetStream client — ${machineLine()}, median of ${RUNS} runs\n`);
printTable(
  `NatsQueue vs the raw JetStream client, median of ${RUNS} runs`,
  ['measure', 'raw client', 'sluice', 'raw JetStream', 'sluice / raw'],
  rows,
);
console.log(
  '\nRatios ≥ 0.80× against the client defaults meet the target (sluice at least 80% of the raw floor).',
);
