/**
 * A consumer process with its own OpenTelemetry SDK, for the cross-process tracing test:
 *   node --import tsx traced-consumer.ts <harness module> <queue name> <span file> <options JSON> <spans>
 * It opens the queue through the harness module's `open`, instruments it, and drains it with a pump
 * whose handler runs in a span of its own and fails the first attempt of a message sent with
 * `failOnce`. Every span it ends is appended to the span file; once `<spans>` process spans have
 * ended it stops, flushes, prints `{"done":true}` and exits.
 */

import { pathToFileURL } from 'node:url';
import { context, propagation, type Span, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { SluiceInstrumentation } from '../../src/otel/index.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Queue } from '../../src/queuing/types.js';
import { FileSpanExporter } from './file-span-exporter.js';

export interface TracedMessage {
  n: number;
  failOnce?: boolean;
}

/** The error of a failed first attempt: its class name is the process span's `error.type`. */
class FirstAttemptError extends Error {}

const [modulePath, queueName, spanFile, optionsJson, spans] = process.argv.slice(2);
if ([modulePath, queueName, spanFile, optionsJson, spans].includes(undefined)) {
  throw new Error(
    'usage: traced-consumer.ts <harness module> <queue name> <span file> <options JSON> <spans>',
  );
}

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

let processEnded = 0;
let allEnded!: () => void;
const ended = new Promise<void>((resolve) => {
  allEnded = resolve;
});
const processSpans: SpanProcessor = {
  onStart() {},
  onEnd(span: ReadableSpan) {
    if (span.name === `process ${queueName}` && ++processEnded === Number(spans)) allEnded();
  },
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};
const tracerProvider = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(new FileSpanExporter(spanFile!)), processSpans],
});
const tracer = tracerProvider.getTracer('traced-consumer');

const harness = (await import(pathToFileURL(modulePath!).href)) as {
  open(name: string, options?: object): Queue<TracedMessage>;
};
const queue = new SluiceInstrumentation({ tracerProvider }).instrument(
  harness.open(queueName!, JSON.parse(optionsJson!)),
);

const handle = (message: TracedMessage, attempt: number) =>
  tracer.startActiveSpan(`handle ${message.n}`, (span: Span) => {
    span.setAttributes({ 'test.message': message.n, 'test.attempt': attempt });
    try {
      if (message.failOnce === true && attempt === 1) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw new FirstAttemptError(`message ${message.n} fails its first attempt`);
      }
    } finally {
      span.end();
    }
  });

const draining = new Pump(queue, (message: TracedMessage, { attempt }) => handle(message, attempt), {
  failSilently: true,
}).draining();
await ended;
await draining.stop();
await queue.close();
await tracerProvider.shutdown();
process.stdout.write(`${JSON.stringify({ done: true })}\n`);
