import { unwaitNow, type Waiter, waitNow } from '../hand-off.js';
import { DONE, DONE_PROMISE } from '../settled.js';
import type { Delivery } from '../types.js';

/** What an iterator takes from and waits on: the queue's core. */
export interface IteratorOwner<T> {
  readonly ended: boolean;
  opened(): void;
  take(): Delivery<T> | undefined;
  wait(waiter: Waiter<Delivery<T>>): void;
  unwait(waiter: Waiter<Delivery<T>>): boolean;
  release(iterator: MemoryIterator<T>): void;
}

export class MemoryIterator<T> implements AsyncIterator<Delivery<T>> {
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
