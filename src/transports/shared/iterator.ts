import { resolveFlowLimits } from '../../queuing/flow-options.js';
import { Fifo } from '../../queuing/memory/buffers.js';
import { DONE, DONE_PROMISE } from '../../queuing/settled.js';
import type { FlowLimits } from '../../queuing/types.js';
import { withStartMargin } from './start-margin.js';

/** What an iterator asks of the consumer that made it. */
export interface IteratorOwner<D> {
  /** A delivery, or a wait for one (see Waiters); `done` once the consumer ended. */
  next(iterator: BrokerIterator<D>): Promise<IteratorResult<D>>;
  /** The iterator was returned: its pending `next()` calls end (Waiters.end). */
  returned(iterator: BrokerIterator<D>): void;
  /**
   * Hand out within `limits` from now on (checked, the rate window widened by the start margin; see
   * `FlowIterator`). A consumer shared by several iterators of one queue object applies the limits
   * given last by any of them.
   */
  flow(limits: FlowLimits): void;
}

/**
 * The iterator every broker consumer hands out. A class, not an async generator: several `next()`
 * calls may be pending at once (a pump runs several loops on one iterator), and `return()` ends them.
 */
export class BrokerIterator<D> implements AsyncIterator<D> {
  #returned = false;

  constructor(private readonly owner: IteratorOwner<D>) {}

  get returned(): boolean {
    return this.#returned;
  }

  next(): Promise<IteratorResult<D>> {
    return this.#returned ? DONE_PROMISE : this.owner.next(this);
  }

  /** Checks `limits` (a caller other than a pump may give any), then hands them to the consumer. */
  flow(limits: FlowLimits): void {
    this.owner.flow(withStartMargin(resolveFlowLimits(limits)));
  }

  return(): Promise<IteratorResult<D>> {
    if (!this.#returned) {
      this.#returned = true;
      this.owner.returned(this);
    }
    return DONE_PROMISE;
  }
}

interface Waiter<D> {
  readonly iterator: BrokerIterator<D>;
  resolve(result: IteratorResult<D>): void;
  reject(error: unknown): void;
}

/** The `next()` calls waiting for a delivery, served in the order they came. */
export class Waiters<D> {
  #queue = new Fifo<Waiter<D>>();

  get size(): number {
    return this.#queue.size;
  }

  /** A pending `next()` of `iterator`, resolved by `hand` or `end`. */
  wait(iterator: BrokerIterator<D>): Promise<IteratorResult<D>> {
    return new Promise((resolve, reject) => this.#queue.push({ iterator, resolve, reject }));
  }

  /** Gives `delivery` to the longest waiting `next()`; false when none waits. */
  hand(delivery: D): boolean {
    const waiter = this.#queue.shift();
    if (waiter === undefined) return false;
    waiter.resolve({ value: delivery, done: false });
    return true;
  }

  /**
   * Ends the pending `next()` calls of `iterator`, or all of them when it is not given: they resolve
   * `done`, or reject with `error` (an iteration error, which stops a pump).
   */
  end(iterator?: BrokerIterator<D>, error?: unknown): void {
    const kept = new Fifo<Waiter<D>>();
    for (let waiter = this.#queue.shift(); waiter !== undefined; waiter = this.#queue.shift()) {
      if (iterator !== undefined && waiter.iterator !== iterator) kept.push(waiter);
      else if (error === undefined) waiter.resolve(DONE);
      else waiter.reject(error);
    }
    this.#queue = kept;
  }
}
