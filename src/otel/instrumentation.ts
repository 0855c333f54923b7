import {
  createNoopMeter,
  type Meter,
  type MeterProvider,
  metrics,
  ProxyTracerProvider,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import { InvalidOptionError } from '../errors.js';
import type { JobMiddleware } from '../jobs/types.js';
import type { Queue } from '../queuing/types.js';
import { instrumentedQueue } from './instrumented-queue.js';
import { Instruments } from './instruments.js';
import { jobMiddleware } from './job-middleware.js';
import {
  type InstrumentOptions,
  type Live,
  QueueTelemetry,
  type TelemetrySource,
} from './queue-telemetry.js';
import { VERSION } from './version.js';

/** What the API hands out when no SDK is registered: its no-op tracer provider and meter. */
const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();
const NOOP_METER = createNoopMeter();

/**
 * `() => true` while spans and measurements would go nowhere: the meter is the API's no-op (a meter
 * provider registered later is not seen, as by every instrumentation) and the tracer provider the
 * global proxy with no SDK behind it yet (one registered later is: the proxy delegates to it).
 */
function idleWhile(tracerProvider: TracerProvider, meter: Meter): () => boolean {
  if (meter !== NOOP_METER) return () => false;
  if (!(tracerProvider instanceof ProxyTracerProvider))
    return tracerProvider === NOOP_TRACER_PROVIDER ? () => true : () => false;
  return () => tracerProvider.getDelegate() === NOOP_TRACER_PROVIDER;
}

export interface SluiceInstrumentationConfig {
  /** Where spans go. Default: the global provider, as `trace.getTracerProvider()` returns it when enabled. */
  tracerProvider?: TracerProvider;
  /** Where measurements go. Default: the global provider, as `metrics.getMeterProvider()` returns it when enabled. */
  meterProvider?: MeterProvider;
  /** Default `true`. `false` leaves instrumented queues untraced until `enable()`. */
  enabled?: boolean;
}

/**
 * Traces and metrics for sluice queues, on OpenTelemetry's messaging conventions. Made once, with
 * providers or the global ones (it also fits `registerInstrumentations`, which sets providers and
 * enables it); each queue it should see is passed through `instrument()`. Nothing is patched: a
 * queue that is not instrumented runs exactly as without this module.
 */
export class SluiceInstrumentation implements TelemetrySource {
  readonly instrumentationName = 'sluice';
  readonly instrumentationVersion = VERSION;
  #config: SluiceInstrumentationConfig;
  #live: Live | undefined;
  /** The open instrumented queues, which the metrics report. */
  readonly #observed = new Set<QueueTelemetry>();

  constructor(config: SluiceInstrumentationConfig = {}) {
    this.#config = checkedConfig(config);
    if (config.enabled !== false) this.enable();
  }

  get live(): Live | undefined {
    return this.#live;
  }

  /**
   * Returns `queue` traced: `send` in a PRODUCER span whose context travels in the message's
   * headers, each delivery in a CONSUMER span under it (current while a pump dispatches it, ended
   * when it is acked or nacked), counted and timed; and, when the queue has `stats()`, its ready,
   * delayed, in-flight and dead counts as gauges while it is open. The result is the queue itself
   * for everything else, with the queue's type.
   */
  instrument<Q extends Queue<any>>(queue: Q, options: InstrumentOptions = {}): Q {
    const name = (queue as { name?: unknown }).name;
    if (typeof name !== 'string' || name.length === 0) {
      throw new InvalidOptionError(
        'queue',
        queue,
        'a queue with a name (the queue of a sluice adapter, or any queue with a `name`)',
      );
    }
    if (options === null || typeof options !== 'object') {
      throw new InvalidOptionError('instrument options', options, 'an object');
    }
    for (const key of ['system', 'consumerGroup'] as const) {
      const value = options[key];
      if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
        throw new InvalidOptionError(key, value, 'a non-empty string');
      }
    }
    const telemetry = new QueueTelemetry(this, queue, name, options);
    this.#observed.add(telemetry);
    return instrumentedQueue(queue, telemetry, () => this.#observed.delete(telemetry));
  }

  /**
   * A job middleware (`jobs.use(queueMiddleware, telemetry.jobMiddleware())`: after the QueueMiddleware)
   * that runs each execution in an `execute <task>` span under its delivery's, failures recorded.
   */
  jobMiddleware(): JobMiddleware {
    return jobMiddleware(this);
  }

  enable(): void {
    this.#config.enabled = true;
    this.#live?.instruments.detach();
    const tracerProvider = this.#config.tracerProvider ?? trace.getTracerProvider();
    const meterProvider = this.#config.meterProvider ?? metrics.getMeterProvider();
    const meter = meterProvider.getMeter(this.instrumentationName, this.instrumentationVersion);
    this.#live = {
      tracer: tracerProvider.getTracer(this.instrumentationName, this.instrumentationVersion),
      instruments: new Instruments(meter, this.#observed),
      idle: idleWhile(tracerProvider, meter),
    };
    for (const telemetry of this.#observed) telemetry.changed();
  }

  /** Instrumented queues run untraced and unmeasured until `enable()`. */
  disable(): void {
    this.#config.enabled = false;
    this.#live?.instruments.detach();
    this.#live = undefined;
    for (const telemetry of this.#observed) telemetry.changed();
  }

  setTracerProvider(tracerProvider: TracerProvider): void {
    this.#config = { ...this.#config, tracerProvider };
    if (this.#live !== undefined) this.enable();
  }

  setMeterProvider(meterProvider: MeterProvider): void {
    this.#config = { ...this.#config, meterProvider };
    if (this.#live !== undefined) this.enable();
  }

  getConfig(): SluiceInstrumentationConfig {
    return { ...this.#config };
  }

  setConfig(config: SluiceInstrumentationConfig): void {
    this.#config = checkedConfig(config);
    if (this.#live !== undefined) this.enable();
  }
}

/** A copy of `config`, refused with InvalidOptionError where it could not be used. */
function checkedConfig(config: SluiceInstrumentationConfig): SluiceInstrumentationConfig {
  if (config === null || typeof config !== 'object') {
    throw new InvalidOptionError('instrumentation config', config, 'an object');
  }
  const { tracerProvider, meterProvider, enabled } = config;
  if (tracerProvider !== undefined && typeof tracerProvider?.getTracer !== 'function') {
    throw new InvalidOptionError('tracerProvider', tracerProvider, 'a TracerProvider (with getTracer)');
  }
  if (meterProvider !== undefined && typeof meterProvider?.getMeter !== 'function') {
    throw new InvalidOptionError('meterProvider', meterProvider, 'a MeterProvider (with getMeter)');
  }
  if (enabled !== undefined && typeof enabled !== 'boolean') {
    throw new InvalidOptionError('enabled', enabled, 'a boolean');
  }
  return { ...config };
}
