import { HandlerAlreadyRegisteredError, NoHandlerError } from '../errors.js';
import type { Context, DispatchOptions } from '../middleware/types.js';
import { assertHandler, Bus, type Handler, typeOf } from './bus.js';
import type { Command, MessageDefinition, Query, ResultOf } from './message.js';

/** A bus with exactly one handler per message type: the shape of CommandBus and QueryBus. */
abstract class SingleHandlerBus<M extends Command<any, any> | Query<any, any>> extends Bus<M> {
  readonly #handlers = new Map<string, Handler<any, unknown>>();

  /**
   * Registers the one handler of a message type; its return value is what `dispatch` resolves with.
   *
   * @param definition - the message definition whose type the handler handles
   * @param handler - called with each message of that type and the dispatch's context
   * @returns this bus, for chaining
   * @throws {@link HandlerAlreadyRegisteredError} when the type already has a handler
   * @throws {@link InvalidOptionError} when the type is empty or `handler` is not a function
   */
  register<D extends M>(definition: MessageDefinition<D>, handler: Handler<D, ResultOf<D>>): this;
  /**
   * Registers the one handler of a message type given by its type string (the result is untyped).
   *
   * @param type - the message type the handler handles
   * @param handler - called with each message of that type and the dispatch's context
   * @returns this bus, for chaining
   * @throws {@link HandlerAlreadyRegisteredError} when the type already has a handler
   * @throws {@link InvalidOptionError} when the type is empty or `handler` is not a function
   */
  register(type: string, handler: Handler<M, unknown>): this;
  register(definition: MessageDefinition<M> | string, handler: Handler<any, unknown>): this {
    const type = typeOf(definition);
    assertHandler(type, handler);
    if (this.#handlers.has(type)) throw new HandlerAlreadyRegisteredError(type);
    this.#handlers.set(type, handler);
    return this;
  }

  /**
   * Runs the middlewares and the message type's handler; resolves with the handler's result.
   *
   * @param options - `signal`: aborts the dispatch (handlers and middlewares see it in their context)
   * @throws {@link NoHandlerError} (as a rejection) when the message's type has no handler
   * @throws {@link InvalidOptionError} (as a rejection) when `message` has no string `type` or
   * `signal` is not an AbortSignal; an already aborted signal rejects with its reason
   */
  dispatch<D extends M>(message: D, options?: DispatchOptions): Promise<ResultOf<D>> {
    return this.run(message, options);
  }

  /** @internal */
  protected async handle(message: M, context: Context<M>): Promise<unknown> {
    const handler = this.#handlers.get(message.type);
    if (handler === undefined) throw new NoHandlerError(message.type);
    return handler(message, context);
  }
}

/**
 * Sends each command to the one handler registered for its type, through the bus's middlewares.
 *
 * @example
 * ```ts
 * import { CommandBus, defineCommand, timeout } from 'sluice';
 *
 * const Greet = defineCommand<{ name: string }, string, 'Greet'>('Greet');
 * const commands = new CommandBus()
 *   .use(timeout(1_000))
 *   .register(Greet, (command) => `hello ${command.payload.name}`);
 * const greeting: string = await commands.dispatch(Greet({ name: 'Ada' }));
 * ```
 */
export class CommandBus extends SingleHandlerBus<Command<any, any>> {}

/**
 * Sends each query to the one handler registered for its type, through the bus's middlewares; like
 * {@link CommandBus}, kept apart so that reads and writes get their own middlewares.
 *
 * @example
 * ```ts
 * import { defineQuery, QueryBus } from 'sluice';
 *
 * const FindUser = defineQuery<{ id: string }, { name: string } | undefined, 'FindUser'>('FindUser');
 * const queries = new QueryBus().register(FindUser, (query) => ({ name: query.payload.id }));
 * const user = await queries.dispatch(FindUser({ id: 'ada' }));
 * ```
 */
export class QueryBus extends SingleHandlerBus<Query<any, any>> {}
