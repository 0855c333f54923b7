import { takeNow, unwaitNow, type Waiter, waitNow } from '../queuing/hand-off.js';
import type { Delivery, FlowLimits } from '../queuing/types.js';
import type { QueueTelemetry } from './queue-telemetry.js';

type HandOffIterator<T> = AsyncIterator<Delivery<T>> & {
  flow?(limits: FlowLimits): void;
  [takeNow]?(): Delivery<T> | undefined;
  [waitNow]?(waiter: Waiter<Delivery<T>>): void;
  [unwaitNow]?(waiter: Waiter<Delivery<T>>): boolean;
};

/**
 * The queue's iterator, each delivery traced as it is handed out. It keeps the queue's fast hand-off
 * (hand-off.ts) when the queue offers it, so a pump on an instrumented MemoryQueue still takes
 * deliveries without a promise each, and the queue's flow control (`flow`, and the iterator's own
 * `takeNow` a pump uses while flow limits apply).
 */
export class TracedIterator<T> implements AsyncIterator<Delivery<T>> {
  readonly #inner: HandOffIterator<T>;
  readonly #telemetry: QueueTelemetry;
  /** The waiter handed to the queue for each pump loop's waiter: the queue matches waiters by identity. */
  readonly #waiters = new WeakMap<Waiter<Delivery<T>>, Waiter<Delivery<T>>>();

  constructor(inner: AsyncIterator<Delivery<T>>, telemetry: QueueTelemetry) {
    this.#inner = inner;
    this.#telemetry = telemetry;
    if (typeof this.#inner[waitNow] === 'function') {
      (this as HandOffIterator<T>)[waitNow] = (waiter) => this.#inner[waitNow]!(this.#waiterFor(waiter));
      (this as HandOffIterator<T>)[unwaitNow] = (waiter) =>
        this.#inner[unwaitNow]?.(this.#waiterFor(waiter)) === true;
    }
    if (typeof this.#inner.flow === 'function') {
      (this as HandOffIterator<T>).flow = (limits) => this.#inner.flow!(limits);
    }
    if (typeof this.#inner[takeNow] === 'function') {
      (this as HandOffIterator<T>)[takeNow] = () => {
        const delivery = this.#inner[takeNow]!();
        return delivery === undefined ? undefined : this.#telemetry.received(delivery);
      };
    }
  }

  next(): Promise<IteratorResult<Delivery<T>>> {
    return this.#inner
      .next()
      .then((result) =>
        result.done === true ? result : { done: false, value: this.#telemetry.received(result.value) },
      );
  }

  return(): Promise<IteratorResult<Delivery<T>>> {
    return this.#inner.return?.() ?? Promise.resolve({ done: true, value: undefined });
  }

  #waiterFor(waiter: Waiter<Delivery<T>>): Waiter<Delivery<T>> {
    let wrapped = this.#waiters.get(waiter);
    if (wrapped === undefined) {
      const telemetry = this.#telemetry;
      wrapped = {
        iterator: this.#inner,
        received: (delivery) =>
          waiter.received(delivery === undefined ? undefined : telemetry.received(delivery)),
      };
      this.#waiters.set(waiter, wrapped);
    }
    return wrapped;
  }
}
