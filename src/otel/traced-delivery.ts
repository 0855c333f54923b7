import { type Attributes, type Context, context, type Span, SpanStatusCode } from '@opentelemetry/api';
import type { Delivery, NackOptions } from '../queuing/types.js';
import { ERROR_TYPE, errorTypeOf, OUTCOME, type Outcome } from './attributes.js';
import type { MessageCounts } from './counts.js';
import type { Instruments } from './instruments.js';

/** What a delivery's span ends with: the queue's process attributes, counts and retry policy. */
export interface DeliveryTelemetry {
  readonly processAttributes: Attributes;
  readonly counts: MessageCounts;
  readonly maxAttempts: number | undefined;
}

/**
 * A delivery with its processing span: the span is current inside `within` (where a pump runs the
 * handler), and ends when the delivery settles, with the outcome, the error and the duration. The
 * contract's members and the broker deliveries' `id`, `group`, `headers` and `deadLetterReason` read through.
 */
export class TracedDelivery<T> implements Delivery<T> {
  readonly #inner: Delivery<T>;
  readonly #telemetry: DeliveryTelemetry;
  readonly #span: Span;
  readonly #context: Context;
  readonly #started = performance.now();
  #settling = false;

  /** The instruments of when it was handed out: the instrumentation may be disabled before it settles. */
  readonly #instruments: Instruments;

  constructor(
    inner: Delivery<T>,
    telemetry: DeliveryTelemetry,
    instruments: Instruments,
    span: Span,
    spanContext: Context,
  ) {
    this.#instruments = instruments;
    this.#inner = inner;
    this.#telemetry = telemetry;
    this.#span = span;
    this.#context = spanContext;
  }

  get message(): T {
    return this.#inner.message;
  }

  get attempt(): number {
    return this.#inner.attempt;
  }

  get group(): string | undefined {
    return this.#inner.group;
  }

  get headers(): Readonly<Record<string, unknown>> | undefined {
    return this.#inner.headers;
  }

  get id(): string | undefined {
    return (this.#inner as { id?: string }).id;
  }

  get deadLetterReason(): string | undefined {
    return (this.#inner as { deadLetterReason?: string }).deadLetterReason;
  }

  within<R>(dispatch: () => R): R {
    const inner = this.#inner;
    if (inner.within === undefined) return context.with(this.#context, dispatch);
    return context.with(this.#context, () => inner.within!(dispatch));
  }

  ack(): Promise<void> {
    return this.#settle(this.#inner.ack(), 'ack', undefined);
  }

  nack(options?: NackOptions): Promise<void> {
    const { maxAttempts } = this.#telemetry;
    const spent = options?.requeue !== true && maxAttempts !== undefined && this.attempt >= maxAttempts;
    const outcome: Outcome = options?.requeue === false || spent ? 'dead_letter' : 'nack';
    return this.#settle(this.#inner.nack(options), outcome, options?.error ?? new Error('nacked'));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#settling ? this.#inner[Symbol.asyncDispose]() : this.nack();
  }

  /** Ends the span once the queue settled the delivery; a refused settle ends nothing (it may be retried). */
  #settle(settled: Promise<void>, outcome: Outcome, error: unknown): Promise<void> {
    if (this.#settling) return settled;
    this.#settling = true;
    settled.then(
      () => this.#end(outcome, error),
      () => {
        this.#settling = false;
      },
    );
    return settled;
  }

  #end(outcome: Outcome, error: unknown): void {
    const span = this.#span;
    const instruments = this.#instruments;
    const attributes = this.#telemetry.processAttributes;
    const seconds = (performance.now() - this.#started) / 1_000;
    span.setAttribute(OUTCOME, outcome);
    if (error === undefined) {
      instruments.processDuration.record(seconds, attributes);
    } else {
      const errorType = errorTypeOf(error);
      span.setAttribute(ERROR_TYPE, errorType);
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(error) });
      instruments.processDuration.record(seconds, {
        ...attributes,
        [ERROR_TYPE]: errorType,
        [OUTCOME]: outcome,
      });
      this.#telemetry.counts.processFailed(outcome, errorType);
    }
    span.end();
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
