/**
 * The OpenTelemetry SDK's own work per message, with no queue and no sluice: what any instrumentation
 * of one send and one processing must do on the SDK (a PRODUCER span with its context injected into
 * headers, the context extracted, a CONSUMER span under it, a duration recorded, both spans ended).
 * bench/otel.ts sets it against the plain Redis path's time per message: an overhead target below that
 * ratio is beyond the SDK. Run after `telemetryFor('sdk')` registered the SDK globally.
 */
import { context, metrics, propagation, SpanKind, trace } from '@opentelemetry/api';
import { rate } from './load.js';

export async function sdkFloor(count: number): Promise<number> {
  const tracer = trace.getTracer('floor');
  const duration = metrics.getMeter('floor').createHistogram('floor.duration', { unit: 's' });
  const attributes = { 'messaging.system': 'redis', 'messaging.destination.name': 'floor' };
  const setter = {
    set: (carrier: Record<string, string>, key: string, value: string) => (carrier[key] = value),
  };
  const getter = { keys: Object.keys, get: (carrier: Record<string, string>, key: string) => carrier[key] };
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const send = tracer.startSpan('send floor', { kind: SpanKind.PRODUCER, attributes });
    const headers: Record<string, string> = {};
    propagation.inject(trace.setSpan(context.active(), send), headers, setter);
    send.end();
    const parent = propagation.extract(context.active(), headers, getter);
    const process = tracer.startSpan('process floor', { kind: SpanKind.CONSUMER, attributes }, parent);
    process.setAttribute('sluice.message.outcome', 'ack');
    duration.record(0.001, attributes);
    process.end();
    if (i % 1_000 === 0) await new Promise((resolve) => setImmediate(resolve)); // lets the batch processor export
  }
  return rate(count, start);
}
