/**
 * One trace across two processes on every broker adapter: this process sends inside a span through
 * an instrumented queue, a real child process (traced-consumer.ts, with its own SDK) drains the same
 * queue through its own instrumented handle, and the child's spans must continue this process's
 * trace: each `process` span under its message's `send` span (retry included), each handler span
 * under its `process` span.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { context, propagation, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SluiceInstrumentation } from '../../src/otel/index.js';
import type { Queue } from '../../src/queuing/types.js';
import { type ChildProcess, spawnChild } from '../conformance/spawn-child.js';
import { brokerAvailable } from '../support/broker.js';
import { amqpQueues } from '../transports/amqp-fixture.js';
import { natsQueues } from '../transports/nats-fixture.js';
import { open as openNats } from '../transports/nats-harness.js';
import { postgresQueues } from '../transports/postgres-fixture.js';
import { redisQueues } from '../transports/redis-fixture.js';
import { sqliteFiles } from '../transports/sqlite-fixture.js';
import { readSpanFile, type SpanRecord, spanRecord } from './file-span-exporter.js';
import type { TracedMessage } from './traced-consumer.js';

const consumerProgram = fileURLToPath(new URL('./traced-consumer.ts', import.meta.url));
const harnessModule = (adapter: string) =>
  fileURLToPath(new URL(`../transports/${adapter}-harness.ts`, import.meta.url));

/** Both handles of a queue take the same options; the short backoff brings the retry back at once. */
const OPTIONS = { maxAttempts: 3, backoff: { type: 'fixed', delay: 50 } } as const;
const BACKOFF_DELAY = OPTIONS.backoff.delay;
/** The first message fails once (two process spans), the second succeeds (one). */
const PROCESS_SPANS = 3;
const CHILD_MS = 12_000;
const TEST_MS = 15_000;

const [redisUp, postgresUp, rabbitUp, natsUp] = [
  await brokerAvailable('redis'),
  await brokerAvailable('postgres'),
  await brokerAvailable('rabbitmq'),
  await brokerAvailable('nats'),
];

const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const otel = new SluiceInstrumentation({ tracerProvider });
const children: ChildProcess[] = [];
const spanFiles: string[] = [];

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});
afterAll(async () => {
  await tracerProvider.shutdown();
  context.disable();
  propagation.disable();
});

/** Registered in each describe after its fixture, so that it runs first: the child is gone before the purge. */
function killChildrenAfterEach(): void {
  afterEach(async () => {
    await Promise.all(children.splice(0).map((child) => child.kill()));
    for (const file of spanFiles.splice(0)) rmSync(file, { force: true });
    exporter.reset();
  });
}

interface Scenario {
  /** `messaging.system` of the adapter. */
  readonly system: string;
  /** The queue, opened with OPTIONS in this process, closed and purged by the fixture. */
  readonly queue: Queue<TracedMessage> & { readonly name: string };
  /** The harness module the child opens it through, and the options it passes (OPTIONS and more). */
  readonly harness: string;
  readonly childOptions?: object;
}

async function traceAcrossProcesses({ system, queue, harness, childOptions = OPTIONS }: Scenario) {
  const { name } = queue;
  const producer = otel.instrument(queue);
  await tracerProvider.getTracer('cross-process test').startActiveSpan('checkout', async (root) => {
    try {
      await producer.send({ n: 1, failOnce: true });
      await producer.send({ n: 2 });
    } finally {
      root.end();
    }
  });
  const spanFile = join(tmpdir(), `sluice-otel-spans-${process.pid}-${Math.random().toString(36).slice(2)}`);
  spanFiles.push(spanFile);
  const child = spawnChild(consumerProgram, [
    harness,
    name,
    spanFile,
    JSON.stringify(childOptions),
    String(PROCESS_SPANS),
  ]);
  children.push(child);
  expect(JSON.parse(await child.nextLine(CHILD_MS))).toEqual({ done: true });

  const produced = exporter.getFinishedSpans().map(spanRecord);
  const consumed = readSpanFile(spanFile);
  const root = only(produced, 'checkout');
  // The sends were awaited one after the other: the first span ended is the first message's.
  const sends = produced.filter((span) => span.name === `send ${name}`);
  expect(sends.map((span) => [span.kind, span.traceId, span.parentSpanId])).toEqual([
    [SpanKind.PRODUCER, root.traceId, root.spanId],
    [SpanKind.PRODUCER, root.traceId, root.spanId],
  ]);
  expect(sends[0]!.attributes).toMatchObject({
    'messaging.system': system,
    'messaging.destination.name': name,
    'messaging.operation.type': 'send',
  });

  const processes = consumed.filter((span) => span.name === `process ${name}`);
  expect(processes).toHaveLength(PROCESS_SPANS);
  for (const span of processes) {
    expect(span.kind).toBe(SpanKind.CONSUMER);
    expect(span.traceId).toBe(root.traceId);
    expect(span.attributes).toMatchObject({
      'messaging.system': system,
      'messaging.destination.name': name,
      'messaging.operation.type': 'process',
    });
    expect(span.attributes['messaging.message.id']).toMatch(/^.+$/);
  }
  const processOf = (n: number, attempt: number) => {
    const handler = consumed.find(
      (span) => span.name === `handle ${n}` && span.attributes['test.attempt'] === attempt,
    );
    expect(handler, `the handler span of message ${n}, attempt ${attempt}`).toBeDefined();
    const parent = processes.find((span) => span.spanId === handler!.parentSpanId);
    expect(parent, `the process span above handle ${n} (attempt ${attempt})`).toBeDefined();
    expect(parent!.attributes['sluice.message.attempt']).toBe(attempt);
    return parent!;
  };

  const [failed, retried, other] = [processOf(1, 1), processOf(1, 2), processOf(2, 1)];
  expect([failed, retried, other].map((span) => span.parentSpanId)).toEqual([
    sends[0]!.spanId,
    sends[0]!.spanId,
    sends[1]!.spanId,
  ]);
  expect(retried.attributes['messaging.message.id']).toBe(failed.attributes['messaging.message.id']);
  expect(other.attributes['messaging.message.id']).not.toBe(failed.attributes['messaging.message.id']);
  expect(failed.status.code).toBe(SpanStatusCode.ERROR);
  expect(failed.attributes).toMatchObject({
    'sluice.message.outcome': 'nack',
    'error.type': 'FirstAttemptError',
  });
  expect(failed.events.map((event) => event.name)).toContain('exception');
  for (const settled of [retried, other]) {
    expect(settled.status.code).toBe(SpanStatusCode.UNSET);
    expect(settled.attributes['sluice.message.outcome']).toBe('ack');
  }
}

function only(spans: readonly SpanRecord[], name: string): SpanRecord {
  const named = spans.filter((span) => span.name === name);
  expect(named, `spans named ${name}`).toHaveLength(1);
  return named[0]!;
}

describe.runIf(redisUp)('a trace across processes on RedisQueue', () => {
  const { queueName, open } = redisQueues('sluice-otel');
  killChildrenAfterEach();

  it('continues in the consumer process, retry included', { timeout: TEST_MS }, () =>
    traceAcrossProcesses({
      system: 'redis',
      queue: open<TracedMessage>(queueName('trace'), OPTIONS),
      harness: harnessModule('redis'),
    }),
  );
});

describe.runIf(postgresUp)('a trace across processes on PostgresQueue', () => {
  const { queueName, open } = postgresQueues<TracedMessage>('sluice-otel');
  killChildrenAfterEach();

  it('continues in the consumer process, retry included', { timeout: TEST_MS }, () =>
    traceAcrossProcesses({
      system: 'postgresql',
      queue: open(queueName('trace'), OPTIONS),
      harness: harnessModule('postgres'),
    }),
  );
});

describe.runIf(rabbitUp)('a trace across processes on AmqpQueue', () => {
  const { queueName, openQueue, deleteAfter } = amqpQueues();
  killChildrenAfterEach();

  it('continues in the consumer process, retry included', { timeout: TEST_MS }, () => {
    const name = queueName('otel');
    deleteAfter(`${name}.delay.${BACKOFF_DELAY}`); // where the child parks the retry
    return traceAcrossProcesses({
      system: 'rabbitmq',
      queue: openQueue<TracedMessage>(name, OPTIONS),
      harness: harnessModule('amqp'),
    });
  });
});

describe.runIf(natsUp)('a trace across processes on NatsQueue', () => {
  const { queueName, track } = natsQueues();
  killChildrenAfterEach();

  it('continues in the consumer process, retry included', { timeout: TEST_MS }, () =>
    traceAcrossProcesses({
      system: 'nats',
      queue: track(openNats<TracedMessage>(queueName('otel'), OPTIONS)),
      harness: harnessModule('nats'),
    }),
  );
});

describe('a trace across processes on SqliteQueue', () => {
  const { tempDb, open } = sqliteFiles('otel');
  killChildrenAfterEach();

  it('continues in the consumer process, retry included', { timeout: TEST_MS }, () => {
    const path = tempDb();
    return traceAcrossProcesses({
      system: 'sqlite',
      queue: open<TracedMessage>('otel-trace', { path, ...OPTIONS }),
      harness: harnessModule('sqlite'),
      childOptions: { path, pollInterval: 20, ...OPTIONS },
    });
  });
});
