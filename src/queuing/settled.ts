/**
 * Shared settled values. Returning the same resolved promise lets the hot path skip an `await`
 * (`if (p !== RESOLVED) await p`) instead of paying a microtask for work that is already done.
 */
export const RESOLVED: Promise<void> = Promise.resolve();

export const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true as const });

export const DONE_PROMISE: Promise<IteratorReturnResult<undefined>> = Promise.resolve(DONE);
