import { InvalidOptionError } from '../../errors.js';
import { limitsFlow } from '../flow-options.js';
import { takeNow, unwaitNow, type Waiter, waitNow } from '../hand-off.js';
import type { Consumer, Delivery, FlowIterator, FlowLimits } from '../types.js';

/** A drain loop waiting for its next delivery. */
export interface IntakeWaiter<T> extends Waiter<Delivery<T>> {
  /** The iterator's answer, when the consumer offers no `waitNow`. */
  readonly next: (result: IteratorResult<Delivery<T>>) => void;
  /** The consumer's own iteration failed. */
  readonly broken: (error: unknown) => void;
}

/**
 * Where a draining's loops get their deliveries: the consumer's iterator, through `next()`, or the
 * fast hand-off when the consumer offers it (see `hand-off.ts`): `take` a delivery that is ready,
 * else wait on the iterator, which calls the loop back with no promise per hand-off.
 */
export class Intake<T> {
  readonly iterator: AsyncIterator<Delivery<T>>;
  /** A delivery ready now, or `undefined`; itself `undefined` when the consumer cannot tell at once. */
  take: (() => Delivery<T> | undefined) | undefined;
  #wait: ((waiter: Waiter<Delivery<T>>) => void) | undefined;
  #unwait: ((waiter: Waiter<Delivery<T>>) => boolean) | undefined;
  readonly #consumer: Consumer<T>;

  constructor(consumer: Consumer<T>) {
    this.#consumer = consumer;
    this.iterator = consumer[Symbol.asyncIterator]();
    this.#takeFrom(consumer);
  }

  /**
   * Asks the iterator to hand out within `limits`. While limits apply, a ready delivery is taken
   * through the iterator (its `takeNow`, if it has one), since the consumer's own knows no limits.
   */
  flow(limits: FlowLimits): void {
    const iterator = this.iterator as Partial<FlowIterator<T>>;
    if (typeof iterator.flow !== 'function') {
      const option = limits.rateLimit === undefined ? 'groupConcurrency' : 'rateLimit';
      throw new InvalidOptionError(
        option,
        option === 'rateLimit' ? limits.rateLimit : limits.groupConcurrency,
        'a consumer whose iterator applies flow limits (a FlowIterator, as every sluice queue has)',
      );
    }
    iterator.flow(limits);
    this.#takeFrom(limitsFlow(limits) ? this.iterator : this.#consumer);
  }

  #takeFrom(source: object): void {
    const take = (source as { [takeNow]?: () => Delivery<T> | undefined })[takeNow];
    this.take = typeof take === 'function' ? take.bind(source) : undefined;
    const wait = (this.iterator as { [waitNow]?: (waiter: Waiter<Delivery<T>>) => void })[waitNow];
    this.#wait = this.take !== undefined && typeof wait === 'function' ? wait.bind(this.iterator) : undefined;
    const unwait = (this.iterator as { [unwaitNow]?: (waiter: Waiter<Delivery<T>>) => boolean })[unwaitNow];
    this.#unwait =
      this.#wait !== undefined && typeof unwait === 'function' ? unwait.bind(this.iterator) : undefined;
  }

  /** Whether a waiting loop can be withdrawn: a pending `next()` cannot. */
  get withdrawable(): boolean {
    return this.#unwait !== undefined;
  }

  /** Calls `waiter` back with the next delivery, or `undefined` once the consumer ended. */
  wait(waiter: IntakeWaiter<T>): void {
    if (this.#wait !== undefined) {
      this.#wait(waiter);
      return;
    }
    let next: Promise<IteratorResult<Delivery<T>>>;
    try {
      next = this.iterator.next();
    } catch (error) {
      waiter.broken(error);
      return;
    }
    next.then(waiter.next, waiter.broken);
  }

  /** Withdraws a waiting loop; `false` if it was not waiting, or cannot be withdrawn. */
  withdraw(waiter: IntakeWaiter<T>): boolean {
    return this.#unwait?.(waiter) === true;
  }

  /** No loop takes anything any more: the consumer may let go of what it holds for this iteration. */
  end(): void {
    this.iterator.return?.().catch(() => {});
  }
}
