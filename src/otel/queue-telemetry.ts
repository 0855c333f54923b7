import {
  type Attributes,
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { QueueStats } from '../queuing/operations.js';
import { assertSendOptions } from '../queuing/send-options.js';
import type { Delivery, Queue, SendOptions } from '../queuing/types.js';
import {
  ATTEMPT,
  CONSUMER_GROUP,
  DESTINATION_NAME,
  ERROR_TYPE,
  errorTypeOf,
  JOB_ID,
  JOB_TASK,
  jobOf,
  MESSAGE_ID,
  MESSAGING_SYSTEM,
  OPERATION_NAME,
  OPERATION_TYPE,
  systemOf,
} from './attributes.js';
import { headerGetter, headerSetter } from './carrier.js';
import { MessageCounts } from './counts.js';
import type { Instruments, Observed } from './instruments.js';
import { type DeliveryTelemetry, TracedDelivery } from './traced-delivery.js';

/**
 * While idle, how many messages pass before the providers are asked again: an SDK registered
 * behind the global proxy later is seen within that many, at almost no cost per message meanwhile.
 */
const IDLE_RECHECK = 1_000;

/**
 * What instrumented queues read on every message; `undefined` while the instrumentation is disabled.
 * @internal
 */
export interface Live {
  readonly tracer: Tracer;
  readonly instruments: Instruments;
  /**
   * Whether neither spans nor measurements would go anywhere now (the API with no SDK behind it):
   * then messages pass untouched. Asked per message: an SDK may be registered later.
   */
  readonly idle: () => boolean;
}

/**
 * Where a queue's telemetry reads what is live: the instrumentation.
 * @internal
 */
export interface TelemetrySource {
  readonly live: Live | undefined;
}

/** The options of {@link SluiceInstrumentation.instrument}. */
export interface InstrumentOptions {
  /**
   * The `messaging.system` attribute.
   * @defaultValue from the queue's class: `redis`, `postgresql`, `rabbitmq`, `nats`, `sqlite`, or
   * `sluice` for a MemoryQueue and any other queue
   */
  readonly system?: string;
  /** `messaging.consumer.group.name`, on process spans, where the broker has such a group. */
  readonly consumerGroup?: string;
}

/** One instrumented queue's spans and measurements. */
export class QueueTelemetry implements Observed, DeliveryTelemetry {
  /** The gauges': the system and the queue. */
  readonly attributes: Attributes;
  /** The send spans' and the sent counter's: with the operation. */
  readonly sendAttributes: Attributes;
  /** The process spans' and the consumed counter's and duration's: with the operation (and consumer group). */
  readonly processAttributes: Attributes;
  /** The queue's, when it tells (`queue.maxAttempts`): a nack on the last attempt is a dead-letter. */
  readonly maxAttempts: number | undefined;
  readonly counts = new MessageCounts();
  readonly stats: (() => Promise<QueueStats>) | undefined;
  readonly #source: TelemetrySource;
  /** How many more times `idle` answers `true` without asking the providers. */
  #idleFor = 0;
  readonly #queue: Queue<unknown>;
  readonly #name: string;

  constructor(source: TelemetrySource, queue: Queue<unknown>, name: string, options: InstrumentOptions) {
    this.#source = source;
    this.#queue = queue;
    this.#name = name;
    const maxAttempts = (queue as { maxAttempts?: unknown }).maxAttempts;
    this.maxAttempts = typeof maxAttempts === 'number' ? maxAttempts : undefined;
    const { stats } = queue as { stats?: unknown };
    this.stats = typeof stats === 'function' ? () => stats.call(queue) : undefined;
    this.attributes = { [MESSAGING_SYSTEM]: options.system ?? systemOf(queue), [DESTINATION_NAME]: name };
    this.sendAttributes = { ...this.attributes, [OPERATION_TYPE]: 'send', [OPERATION_NAME]: 'send' };
    this.processAttributes = {
      ...this.attributes,
      [OPERATION_TYPE]: 'process',
      [OPERATION_NAME]: 'process',
    };
    if (options.consumerGroup !== undefined) this.processAttributes[CONSUMER_GROUP] = options.consumerGroup;
  }

  /** Whether nothing would be recorded now: the instrumentation is disabled, or has no SDK behind it. */
  get idle(): boolean {
    if (this.#idleFor-- > 0) return true;
    const live = this.#source.live;
    const idle = live === undefined || live.idle();
    this.#idleFor = idle ? IDLE_RECHECK : 0;
    return idle;
  }

  /** The instrumentation was enabled, disabled or given providers: `idle` is asked again at once. */
  changed(): void {
    this.#idleFor = 0;
  }

  /** A PRODUCER span around the send, its context carried in the message's headers. */
  send(message: unknown, options: SendOptions | undefined): Promise<void> {
    if (this.idle) return this.#queue.send(message, options);
    const live = this.#source.live!;
    if (options !== undefined) {
      try {
        assertSendOptions(options); // refused as the queue would: the headers are copied below
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const active = context.active();
    const span = live.tracer.startSpan(
      `send ${this.#name}`,
      { kind: SpanKind.PRODUCER, attributes: withJob(this.sendAttributes, message) },
      active,
    );
    const headers: Record<string, string> = { ...options?.headers };
    propagation.inject(trace.setSpan(active, span), headers, headerSetter);
    let sent: Promise<void>;
    try {
      sent = this.#queue.send(message, { ...options, headers });
    } catch (error) {
      sent = Promise.reject(error);
    }
    return sent.then(
      () => {
        this.counts.sent++;
        span.end();
      },
      (error: unknown) => {
        const errorType = errorTypeOf(error);
        this.counts.sendFailed(errorType);
        span.setAttribute(ERROR_TYPE, errorType);
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: error instanceof Error ? error.message : String(error),
        });
        span.end();
        throw error;
      },
    );
  }

  /** The delivery with a CONSUMER span, child of the producer's context its headers carry. */
  received<T>(delivery: Delivery<T>): Delivery<T> {
    if (this.idle) return delivery;
    const live = this.#source.live!;
    // A message sent with no trace context starts a trace of its own, whatever is current here.
    const headers = delivery.headers;
    const parent =
      headers === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, headers, headerGetter);
    const attributes = withJob(this.processAttributes, delivery.message);
    attributes[ATTEMPT] = delivery.attempt;
    const id = (delivery as { id?: unknown }).id;
    if (typeof id === 'string') attributes[MESSAGE_ID] = id;
    const span = live.tracer.startSpan(
      `process ${this.#name}`,
      { kind: SpanKind.CONSUMER, attributes },
      parent,
    );
    this.counts.consumed++;
    return new TracedDelivery(delivery, this, live.instruments, span, trace.setSpan(parent, span));
  }
}

/** A copy of `attributes`, with the job's task and id when the message is a job envelope. */
function withJob(attributes: Attributes, message: unknown): Attributes {
  const job = jobOf(message);
  if (job === undefined) return { ...attributes };
  return { ...attributes, [JOB_TASK]: job.task, [JOB_ID]: job.id };
}
