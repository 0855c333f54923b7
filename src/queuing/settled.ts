/**
 * Shared settled values. Returning the same resolved promise lets the hot path skip an `await`
 * (`if (p !== RESOLVED) await p`) instead of paying a microtask for work that is already done.
 */
export const RESOLVED: Promise<void> = Promise.resolve();

export const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true as const });

export const DONE_PROMISE: Promise<IteratorReturnResult<undefined>> = Promise.resolve(DONE);

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
