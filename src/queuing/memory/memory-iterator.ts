import { resolveFlowLimits } from '../flow-options.js';
import { takeNow, unwaitNow, type Waiter, waitNow } from '../hand-off.js';
import { DONE, DONE_PROMISE } from '../settled.js';
import type { Delivery, FlowIterator, FlowLimits } from '../types.js';

/** What an iterator takes from and waits on: the queue's core. */
export interface IteratorOwner<T> {
  readonly ended: boolean;
  opened(): void;
  take(): Delivery<T> | undefined;
  wait(waiter: Waiter<Delivery<T>>): void;
  unwait(waiter: Waiter<Delivery<T>>): boolean;
  release(iterator: MemoryIterator<T>): void;
  flow(iterator: MemoryIterator<T>, limits: FlowLimits): void;
}

/**
 * An iteration of a MemoryQueue. Limits given through `flow` are the queue's (shared by all its
 * iterators, its own `takeNow` included): the last an open iterator gave apply, until it is returned.
 */
export class MemoryIterator<T> implements FlowIterator<T> {
  #returned = false;

  constructor(private readonly core: IteratorOwner<T>) {
    core.opened();
  }

  next(): Promise<IteratorResult<Delivery<T>>> {
    if (this.#returned) return DONE_PROMISE;
    const delivery = this.core.take();
    if (delivery !== undefined) return Promise.resolve({ value: delivery, done: false });
    if (this.core.ended) return DONE_PROMISE;
    return new Promise((resolve) =>
      this.core.wait({
        iterator: this,
        received: (next) => resolve(next === undefined ? DONE : { value: next, done: false }),
      }),
    );
  }

  /** Checks `limits` (InvalidOptionError) and applies them to the queue's hand-outs. */
  flow(limits: FlowLimits): void {
    const resolved = resolveFlowLimits(limits);
    if (!this.#returned) this.core.flow(this, resolved);
  }

  /** A delivery ready now within the queue's limits, or `undefined`. */
  [takeNow](): Delivery<T> | undefined {
    return this.#returned ? undefined : this.core.take();
  }

  /** For a waiter whose `iterator` is this one, once `takeNow` found nothing. */
  [waitNow](waiter: Waiter<Delivery<T>>): void {
    if (this.#returned || this.core.ended) waiter.received(undefined);
    else this.core.wait(waiter);
  }

  /** For a waiter of this iterator that waits no more (its pump's concurrency was lowered). */
  [unwaitNow](waiter: Waiter<Delivery<T>>): boolean {
    return this.core.unwait(waiter);
  }

  return(): Promise<IteratorResult<Delivery<T>>> {
    if (this.#returned) return DONE_PROMISE;
    this.#returned = true;
    this.core.release(this);
    return DONE_PROMISE;
  }
}
