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

/** The options of {@link SluiceInstrumentation}, also taken by its `setConfig`. */
export interface SluiceInstrumentationConfig {
  /**
   * Where spans go.
   * @defaultValue the global provider, as `trace.getTracerProvider()` returns it when enabled
   */
  tracerProvider?: TracerProvider;
  /**
   * Where measurements go.
   * @defaultValue the global provider, as `metrics.getMeterProvider()` returns it when enabled
   */
  meterProvider?: MeterProvider;
  /**
   * Whether the instrumentation starts enabled: `false` leaves instrumented queues untraced and
   * unmeasured until `enable()`.
   * @defaultValue `true`
   */
  enabled?: boolean;
}

/**
 * Traces and metrics for sluice queues, on OpenTelemetry's messaging conventions. Made once, with
 * providers or the global ones (it also fits `registerInstrumentations`, which sets providers and
 * enables it); each queue it should see is passed through `instrument()`. Nothing is patched: a
 * queue that is not instrumented runs exactly as without this module. docs/telemetry.md lists the
 * spans, attributes and metrics.
 *
 * @example
 * ```ts
 * import { MemoryQueue } from 'sluice';
 * import { SluiceInstrumentation } from 'sluice/otel';
 *
 * const otel = new SluiceInstrumentation(); // after the OpenTelemetry SDK is registered
 * const orders = otel.instrument(new MemoryQueue<{ id: string }>({ name: 'orders' }));
 * await orders.send({ id: 'o-1' }); // a PRODUCER span; its context travels in the headers
 * ```
 */
export class SluiceInstrumentation implements TelemetrySource {
  /** The instrumentation scope's name that spans and metrics are reported under: `sluice`. */
  readonly instrumentationName = 'sluice';
  /** The instrumentation scope's version: the version of the sluice package. */
  readonly instrumentationVersion = VERSION;
  #config: SluiceInstrumentationConfig;
  #live: Live | undefined;
  /** The open instrumented queues, which the metrics report. */
  readonly #observed = new Set<QueueTelemetry>();

  /**
   * Enables itself at once unless `config.enabled` is `false`.
   * @throws {@link sluice!InvalidOptionError | InvalidOptionError} when `config` is not an object
   * or an option has the wrong type
   */
  constructor(config: SluiceInstrumentationConfig = {}) {
    this.#config = checkedConfig(config);
    if (config.enabled !== false) this.enable();
  }

  /** @internal What instrumented queues read on every message; undefined while disabled. */
  get live(): Live | undefined {
    return this.#live;
  }

  /**
   * Returns `queue` traced: `send` in a PRODUCER span whose context travels in the message's
   * headers, each delivery in a CONSUMER span under it (current while a pump dispatches it, ended
   * when it is acked or nacked), counted and timed; and, when the queue has `stats()`, its ready,
   * delayed, in-flight and dead counts as gauges while it is open. The result is the queue itself
   * for everything else, with the queue's type.
   * @throws {@link sluice!InvalidOptionError | InvalidOptionError} when the queue has no `name`, or
   * an option is not a non-empty string
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

  /**
   * Starts tracing and measuring the instrumented queues, on the configured providers (or the
   * global ones as they are now). Called again, it picks up providers set since.
   */
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

  /** Sends spans to `tracerProvider` from now on (taking effect at once when enabled). */
  setTracerProvider(tracerProvider: TracerProvider): void {
    this.#config = { ...this.#config, tracerProvider };
    if (this.#live !== undefined) this.enable();
  }

  /** Sends measurements to `meterProvider` from now on (taking effect at once when enabled). */
  setMeterProvider(meterProvider: MeterProvider): void {
    this.#config = { ...this.#config, meterProvider };
    if (this.#live !== undefined) this.enable();
  }

  /** A copy of the current configuration. */
  getConfig(): SluiceInstrumentationConfig {
    return { ...this.#config };
  }

  /**
   * Replaces the configuration (taking effect at once when enabled). Its `enabled` does not enable
   * or disable: `enable()` and `disable()` do.
   * @throws {@link sluice!InvalidOptionError | InvalidOptionError} when `config` is not an object
   * or an option has the wrong type
   */
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
