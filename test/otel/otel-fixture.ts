/**
 * What the in-process OpenTelemetry tests share: the global context manager and propagator the
 * instrumentation relies on, and an SDK tracer provider whose finished spans a test reads back.
 */
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, expect } from 'vitest';
import { SluiceInstrumentation, type SluiceInstrumentationConfig } from '../../src/otel/index.js';
import { until, within } from '../support/async.js';

/**
 * Registers what an application registers once (the W3C propagator carries the trace in the
 * message's headers; the context manager makes the process span current across the handler's
 * awaits) for the file's tests, and resets every OpenTelemetry global after them.
 */
export function useOtelGlobals(): void {
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  });
  afterAll(() => {
    context.disable();
    propagation.disable();
    trace.disable();
    metrics.disable();
  });
}

/** An instrumentation whose spans end up in memory, and a tracer for the test's own spans. */
export function traced(config: Omit<SluiceInstrumentationConfig, 'tracerProvider'> = {}) {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const otel = new SluiceInstrumentation({ ...config, tracerProvider });
  const spans = () => exporter.getFinishedSpans();
  return {
    otel,
    tracerProvider,
    tracer: tracerProvider.getTracer('test'),
    spans,
    /** The finished spans with this name, in the order they ended. */
    named: (name: string) => spans().filter((span) => span.name === name),
    /** The one finished span with this name. */
    one: (name: string) => only(spans().filter((span) => span.name === name)),
    /** The one finished span with this name whose parent is `parent` (a root span when `undefined`). */
    child: (parent: ReadableSpan | undefined, name: string) =>
      only(
        spans().filter(
          (span) =>
            span.name === name && parentOf(span) === (parent === undefined ? undefined : idOf(parent)),
        ),
      ),
    /** Resolves once `count` spans ended (a process span ends once the queue settled the delivery). */
    ended: (count: number) =>
      within(
        until(() => spans().length >= count),
        5_000,
        () => `${count} spans expected, ended: ${spans().map((span) => span.name)}`,
      ),
  };
}

/** The one span found (the assertion names how many were found otherwise). */
export function only(spans: ReadableSpan[]): ReadableSpan {
  expect(spans).toHaveLength(1);
  return spans[0] as ReadableSpan;
}

export function idOf(span: ReadableSpan): string {
  return span.spanContext().spanId;
}

export function traceOf(span: ReadableSpan): string {
  return span.spanContext().traceId;
}

export function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

/** The attributes every span of a queue carries, for an operation. */
export function operation(queue: string, type: 'send' | 'process', system = 'sluice') {
  return {
    'messaging.system': system,
    'messaging.destination.name': queue,
    'messaging.operation.type': type,
    'messaging.operation.name': type,
  };
}

/** A failure of the application's own, so `error.type` is checked against a class name of its own. */
export class PaymentDeclinedError extends Error {
  override name = 'PaymentDeclinedError';
}
