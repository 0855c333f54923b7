/**
 * The three ways bench/otel.ts runs a queue: untouched, instrumented on the bare OpenTelemetry API
 * (no SDK registered: every tracer and meter is the API's no-op), and instrumented on the real SDK
 * set up as an application would (global context manager, propagator, tracer and meter providers).
 * The SDK's spans go through a BatchSpanProcessor to an exporter that counts and drops them, so the
 * figures are the instrumentation's and the SDK's cost, not an export's.
 */
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { type ExportResult, ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { SluiceInstrumentation } from '../../src/otel/index.js';
import type { Queue } from '../../src/queuing/types.js';

export type Variant = 'plain' | 'api' | 'sdk';

export const VARIANTS: Readonly<Record<Variant, string>> = {
  plain: '(a) plain queue',
  api: '(b) instrumented, API only (no SDK)',
  sdk: '(c) instrumented, SDK + BatchSpanProcessor',
};

export interface Telemetry {
  instrument<Q extends Queue<any>>(queue: Q): Q;
  /** Flushes the SDK and tells what it saw: spans exported, and the consumed counter's total. */
  finish(): Promise<{ spans: number; consumed: number }>;
}

/** Counts what it is given and keeps nothing. */
class DroppingExporter implements SpanExporter {
  exported = 0;

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.exported += spans.length;
    done({ code: ExportResultCode.SUCCESS });
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** A reader nothing collects during the run (as between two scrapes); the bench collects once at the end. */
class IdleReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** Sets the variant up in this process (globally, for `sdk`): call once, before making queues. */
export function telemetryFor(variant: Variant): Telemetry {
  if (variant === 'plain') {
    return { instrument: (queue) => queue, finish: async () => ({ spans: 0, consumed: 0 }) };
  }
  if (variant === 'api') {
    const otel = new SluiceInstrumentation();
    return {
      instrument: (queue) => otel.instrument(queue),
      finish: async () => ({ spans: 0, consumed: 0 }),
    };
  }
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const exporter = new DroppingExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
  const reader = new IdleReader();
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  const otel = new SluiceInstrumentation();
  return {
    instrument: (queue) => otel.instrument(queue),
    async finish() {
      await tracerProvider.forceFlush();
      const { resourceMetrics } = await reader.collect();
      let consumed = 0;
      for (const metric of resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics)) {
        // The histogram: the counters report open queues only, and the bench's are closed by now.
        if (metric.descriptor.name !== 'messaging.process.duration') continue;
        for (const point of metric.dataPoints) consumed += (point.value as { count: number }).count;
      }
      return { spans: exporter.exported, consumed };
    },
  };
}
