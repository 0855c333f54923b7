/**
 * The fast hand-off protocol: an optional capability a consumer may offer on top of the Queue
 * contract, so a Pump starts a dispatch without a promise per message when one is ready.
 *
 * - A consumer (the queue object) with a `[takeNow]()` method returns a ready delivery synchronously,
 *   or `undefined` when none is ready now; the Pump then falls back to its iterator.
 * - An iterator with `[waitNow](waiter)` calls `waiter.received(delivery)` once a delivery is ready,
 *   or `waiter.received(undefined)` once the iteration ended; `[unwaitNow](waiter)` withdraws it.
 *
 * A queue that offers neither is driven through `next()` alone, with the same results.
 */
/** A consumer that can hand over a ready delivery synchronously; Pump uses it to skip `next()`. */
export const takeNow: unique symbol = Symbol('sluice.takeNow');

/**
 * An iterator that can hand a waiter its next delivery synchronously (`undefined` once it ended)
 * instead of resolving a `next()` promise. Pump uses it so `MemoryQueue.send` starts an idle loop's
 * dispatch at once, as a callback queue would, with no promise or allocation per hand-off.
 */
export const waitNow: unique symbol = Symbol('sluice.waitNow');

/** Waits on a `waitNow` iterator; made once per pump loop. Returning `iterator` ends the wait. */
export interface Waiter<D> {
  readonly iterator: object;
  received(delivery: D | undefined): void;
}

/**
 * Withdraws a waiter from a `waitNow` iterator (`false` if it was not waiting), so a pump whose
 * concurrency was lowered retires an idle loop instead of letting it take more work.
 */
export const unwaitNow: unique symbol = Symbol('sluice.unwaitNow');
