/**
 * What every dispatch carries. Handlers, middlewares and pumps see the same shape; `signal` aborts
 * when the caller gives up (a timeout, a pump stopping, a job cancelled).
 */
export interface Context<M = unknown> {
  /** Aborts when the caller gives up on this dispatch; pass it on to work that can be cancelled. */
  readonly signal: AbortSignal;
  /** The message being dispatched, as the outer middlewares passed it on. */
  readonly message: M;
}

/** Options of a bus's `dispatch`. */
export interface DispatchOptions {
  /** Aborts the dispatch; handlers and middlewares see it as `context.signal`. */
  signal?: AbortSignal;
}

/** A function that handles a message: the smallest dispatcher. */
export type DispatchFunction<M, R = unknown> = (message: M, context: Context<M>) => R | Promise<R>;

/** Anything with `dispatch`, such as the buses. */
export interface DispatcherObject<M, R = unknown> {
  /** Handles `message`; resolves with the result or rejects with the handler's error. */
  dispatch(message: M, options?: DispatchOptions): Promise<R>;
}

/** Where a pump or a job worker sends messages: a bus, or a plain async function. */
export type Dispatcher<M, R = unknown> = DispatchFunction<M, R> | DispatcherObject<M, R>;

/** Calls the rest of the chain; with no arguments it passes the current message and context on. */
export type Next<M, C> = (message?: M, context?: C) => Promise<any>;

/** Sees (and may replace) the message and the result. */
export type ClassicMiddleware<M = any, C = Context<M>> = (
  message: M,
  next: Next<M, C>,
  context: C,
) => unknown;

/**
 * Code before `yield` runs first; `yield` evaluates to the inner result or throws the inner error.
 * Catching that error and yielding again retries the rest of the chain.
 */
export type GeneratorMiddleware<M = any, C = Context<M>> = (
  message: M,
  context: C,
) => AsyncGenerator<unknown, unknown, any> | Generator<unknown, unknown, any>;

/**
 * The type to annotate a classic middleware with; annotate a generator as a `GeneratorMiddleware`
 * (under this type its `yield` has no type). It is the classic signature so that an inline arrow gets
 * its parameter types; `use()` accepts both styles (`AnyMiddleware`).
 */
export type Middleware<M = any, C = Context<M>> = ClassicMiddleware<M, C>;

/**
 * An inline generator passed to `use()` that takes only the message. `use()` lists it as its first
 * overload: the classic signature gives no type to `yield` (TS7057 under `strict`), this one does. Its
 * parameters are the classic ones because TypeScript keeps the parameter types an inline function
 * got from the first overload when it falls through to the next: an inline classic arrow stays typed.
 */
export type InlineGeneratorMiddleware<M = any, C = Context<M>> = (
  message: M,
  next: Next<M, C>,
  context: C,
) => AsyncGenerator<unknown, unknown, any> | Generator<unknown, unknown, any>;

/** Either middleware style: what `use()` accepts. */
export type AnyMiddleware<M = any, C = Context<M>> = ClassicMiddleware<M, C> | GeneratorMiddleware<M, C>;

/** @internal A composed chain: message and context in, result (or a promise of it) out; it may throw. */
export type Chain<M, C> = (message: M, context: C) => any;
