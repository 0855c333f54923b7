import { HandlerAlreadyRegisteredError, NoHandlerError } from '../errors.js';
import type { Context, DispatchOptions } from '../middleware/types.js';
import { assertHandler, Bus, type Handler, typeOf } from './bus.js';
import type { Command, MessageDefinition, Query, ResultOf } from './message.js';

/** A bus with exactly one handler per message type: the shape of CommandBus and QueryBus. */
abstract class SingleHandlerBus<M extends Command<any, any> | Query<any, any>> extends Bus<M> {
  readonly #handlers = new Map<string, Handler<any, unknown>>();

  register<D extends M>(definition: MessageDefinition<D>, handler: Handler<D, ResultOf<D>>): this;
  register(type: string, handler: Handler<M, unknown>): this;
  register(definition: MessageDefinition<M> | string, handler: Handler<any, unknown>): this {
    const type = typeOf(definition);
    assertHandler(type, handler);
    if (this.#handlers.has(type)) throw new HandlerAlreadyRegisteredError(type);
    this.#handlers.set(type, handler);
    return this;
  }

  /** Runs the middlewares and the message type's handler; resolves with the handler's result. */
  dispatch<D extends M>(message: D, options?: DispatchOptions): Promise<ResultOf<D>> {
    return this.run(message, options);
  }

  protected async handle(message: M, context: Context<M>): Promise<unknown> {
    const handler = this.#handlers.get(message.type);
    if (handler === undefined) throw new NoHandlerError(message.type);
    return handler(message, context);
  }
}

export class CommandBus extends SingleHandlerBus<Command<any, any>> {}

export class QueryBus extends SingleHandlerBus<Query<any, any>> {}
