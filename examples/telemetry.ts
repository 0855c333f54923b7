/**
 * One trace across two processes, with sluice/otel and no broker server: a SqliteQueue in a temporary
 * file carries the trace context in each message's headers.
 *
 *   npx tsx examples/telemetry.ts
 *
 * The story: this process (the shop) places three orders inside a `checkout` span; each `send` is a
 * PRODUCER span. A worker process (this file with the argument `worker`) drains the queue with a Pump:
 * each delivery is a CONSUMER span, child of the send that made it, and the handler's `charge` span is
 * its child. Charging order-2 fails once: its first processing ends in error (nack), the retry is a
 * second processing span of the same trace. Each process writes its spans as JSON lines to a file;
 * the shop then prints the tree the two files make together, and removes every file it made.
 * The files go to `$SLUICE_TELEMETRY_DIR` if set, else to a new temporary directory.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  type ExportResult,
  ExportResultCode,
  hrTimeToMilliseconds,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { Pump } from 'sluice';
import { SluiceInstrumentation } from 'sluice/otel';
import { SqliteQueue } from 'sluice/sqlite';

interface Order {
  id: string;
  cents: number;
}

/** A finished span as one JSON line: what the tree needs, from either process. */
interface SpanLine {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: string;
  process: string;
  start: number;
  ms: number;
  /** The status message of a span that ended in error. */
  error?: string;
  attributes: Record<string, unknown>;
}

const ORDERS: Order[] = [
  { id: 'order-1', cents: 1_250 },
  { id: 'order-2', cents: 4_000 },
  { id: 'order-3', cents: 990 },
];

/** Appends each finished span to `file`, one JSON object per line. */
class JsonLinesExporter implements SpanExporter {
  constructor(private readonly file: string) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const lines = spans.map((span) => {
      const line: SpanLine = {
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
        parentSpanId: span.parentSpanContext?.spanId,
        name: span.name,
        kind: SpanKind[span.kind],
        process: `${span.resource.attributes['service.name']} ${process.pid}`,
        start: hrTimeToMilliseconds(span.startTime),
        ms: hrTimeToMilliseconds(span.duration),
        error: span.status.code === SpanStatusCode.ERROR ? (span.status.message ?? '') : undefined,
        attributes: span.attributes,
      };
      return `${JSON.stringify(line)}\n`;
    });
    appendFileSync(this.file, lines.join(''));
    done({ code: ExportResultCode.SUCCESS });
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** What both processes set up first: context, W3C propagation, a tracer provider writing to `file`. */
function startTelemetry(service: string, file: string): BasicTracerProvider {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new SimpleSpanProcessor(new JsonLinesExporter(file))],
  });
  trace.setGlobalTracerProvider(provider);
  return provider;
}

/** The same queue in both processes: one table in one file, retried 50 ms after a failure. */
function ordersQueue(directory: string): SqliteQueue<Order> {
  return new SqliteQueue<Order>('orders', {
    path: join(directory, 'orders.db'),
    maxAttempts: 3,
    backoff: { type: 'fixed', delay: 50 },
    pollInterval: 20,
  });
}

async function worker(directory: string): Promise<void> {
  const provider = startTelemetry('worker', join(directory, 'worker.jsonl'));
  const otel = new SluiceInstrumentation();
  const queue = otel.instrument(ordersQueue(directory));
  const tracer = trace.getTracer('example-worker');
  const charged = new Set<string>();
  let allCharged!: () => void;
  const done = new Promise<void>((resolve) => (allCharged = resolve));
  const pump = new Pump(
    queue,
    (order: Order, { attempt }) =>
      // the processing span is current here, so this span is its child
      tracer.startActiveSpan(`charge ${order.id}`, async (span) => {
        try {
          await new Promise((resolve) => setTimeout(resolve, 5)); // the payment provider
          if (order.id === 'order-2' && attempt === 1) throw new Error('card declined, try again');
          charged.add(order.id);
          if (charged.size === ORDERS.length) allCharged();
        } catch (error) {
          span.recordException(error as Error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
          throw error; // the pump nacks the delivery: its processing span ends in error too
        } finally {
          span.end();
        }
      }),
    { failSilently: true },
  );
  const draining = pump.draining({ concurrency: 2 });
  await done;
  await queue.close(); // lets the last acks settle (so their spans end), then ends the pump's iteration
  await draining.stop();
  await provider.shutdown();
}

/** Prints each trace as a tree: children under their parent, oldest first, whichever process made them. */
function printTrees(spans: SpanLine[]): void {
  const ids = new Set(spans.map((span) => span.spanId));
  const children = new Map<string | undefined, SpanLine[]>();
  for (const span of spans) {
    const parent =
      span.parentSpanId !== undefined && ids.has(span.parentSpanId) ? span.parentSpanId : undefined;
    children.set(parent, [...(children.get(parent) ?? []), span]);
  }
  for (const list of children.values()) list.sort((a, b) => a.start - b.start);
  const print = (span: SpanLine, depth: number) => {
    const label = `${'  '.repeat(depth)}${span.name}`.padEnd(26);
    const attempt = span.attributes['sluice.message.attempt'];
    const outcome = span.attributes['sluice.message.outcome'];
    const detail = attempt === undefined ? '' : `  attempt ${attempt}, ${outcome}`;
    const mark = span.error === undefined ? '' : `  ERROR: ${span.error}`;
    const line = `${label} ${span.kind.padEnd(8)} ${span.process.padEnd(15)} ${span.ms.toFixed(1).padStart(6)} ms`;
    console.log(`${line}${detail}${mark}`);
    for (const child of children.get(span.spanId) ?? []) print(child, depth + 1);
  };
  for (const root of children.get(undefined) ?? []) {
    console.log(`trace ${root.traceId}`);
    print(root, 1);
  }
}

async function shop(): Promise<void> {
  const given = process.env.SLUICE_TELEMETRY_DIR;
  const directory = given ?? mkdtempSync(join(tmpdir(), 'sluice-telemetry-'));
  const files = ['orders.db', 'orders.db-wal', 'orders.db-shm', 'shop.jsonl', 'worker.jsonl'];
  try {
    const provider = startTelemetry('shop', join(directory, 'shop.jsonl'));
    const otel = new SluiceInstrumentation();
    const queue = otel.instrument(ordersQueue(directory));
    await trace.getTracer('example-shop').startActiveSpan('checkout', async (span) => {
      for (const order of ORDERS) await queue.send(order); // each a PRODUCER span under `checkout`
      span.end();
    });
    await queue.close();
    await provider.shutdown();
    console.log(`sent ${ORDERS.length} orders from process ${process.pid}; starting a worker process`);

    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), 'worker', directory],
      {
        stdio: 'inherit',
      },
    );
    const code = await new Promise((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`the worker exited with ${code}`);

    const read = (file: string) =>
      readFileSync(join(directory, file), 'utf8')
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as SpanLine);
    const spans = [...read('shop.jsonl'), ...read('worker.jsonl')];
    console.log(`\n${spans.length} spans from 2 processes:\n`);
    printTrees(spans);
  } finally {
    for (const file of files) rmSync(join(directory, file), { force: true });
    if (given === undefined) rmSync(directory, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'worker') await worker(process.argv[3]!);
else await shop();
