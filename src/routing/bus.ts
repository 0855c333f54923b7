import { setMaxListeners } from 'node:events';
import { describe, InvalidOptionError } from '../errors.js';
import { assertMiddlewares, compose } from '../middleware/compose.js';
import type {
  AnyMiddleware,
  Chain,
  Context,
  DispatchOptions,
  InlineGeneratorMiddleware,
  Middleware,
} from '../middleware/types.js';
import type { Message, MessageDefinition } from './message.js';

/** Handles one message: gets it with the dispatch's context and returns (or resolves with) the result. */
export type Handler<M, R = unknown> = (message: M, context: Context<M>) => R | Promise<R>;

/** Shared by every bus: the middleware stack and the validated entry into the composed chain. */
export abstract class Bus<M extends Message> {
  readonly #middlewares: AnyMiddleware<M, Context<M>>[] = [];
  #chain: Chain<M, Context<M>> | undefined;

  /** Adds middlewares; registration order is outer to inner. */
  use(...middlewares: InlineGeneratorMiddleware<M, Context<M>>[]): this;
  use(...middlewares: Middleware<M, Context<M>>[]): this;
  use(...middlewares: AnyMiddleware<M, Context<M>>[]): this;
  use(...middlewares: AnyMiddleware<M, Context<M>>[]): this {
    assertMiddlewares(middlewares);
    this.#middlewares.push(...middlewares);
    this.#chain = undefined;
    return this;
  }

  /** @internal Validates the message and the signal, then runs the middlewares and `handle`. */
  protected run(message: M, options: DispatchOptions | undefined): Promise<any> {
    if (typeof (message as Message | null)?.type !== 'string') {
      return Promise.reject(new InvalidOptionError('message', message, 'a { type, payload } message'));
    }
    const signal = options?.signal ?? neverAborted;
    if (!(signal instanceof AbortSignal)) {
      return Promise.reject(new InvalidOptionError('signal', signal, 'an AbortSignal'));
    }
    if (signal.aborted) return Promise.reject(signal.reason);
    this.#chain ??= compose(this.#middlewares, (m, context) => this.handle(m, context));
    return this.#chain(message, { signal, message });
  }

  /** @internal Runs what the bus does with a message once the middlewares let it through. */
  protected abstract handle(message: M, context: Context<M>): Promise<unknown>;
}

/**
 * The signal of every dispatch given none. A `timeout` or a `retry` wait listens to it for as long as
 * its dispatch runs, so any number of listeners is expected: Node's leak warning past 10 would be false.
 */
const neverAborted = new AbortController().signal;
setMaxListeners(0, neverAborted);

/** @internal */
export function typeOf(definition: MessageDefinition<any> | string): string {
  const type = typeof definition === 'string' ? definition : definition?.type;
  if (typeof type !== 'string' || type.length === 0) {
    throw new InvalidOptionError(
      'message type',
      definition,
      'a message definition or a non-empty type string',
    );
  }
  return type;
}

/** @internal */
export function assertHandler(type: string, handler: unknown): void {
  if (typeof handler !== 'function') {
    throw new InvalidOptionError(`handler for "${type}"`, handler, `a function, got ${describe(handler)}`);
  }
}
