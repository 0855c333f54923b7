import type { Context, DispatchOptions } from '../middleware/types.js';
import { assertHandler, Bus, type Handler, typeOf } from './bus.js';
import type { Event, MessageDefinition } from './message.js';

/**
 * Zero, one or many handlers per event type, run concurrently; an event nobody subscribed to is
 * dropped silently.
 *
 * @example
 * ```ts
 * import { defineEvent, EventBus } from 'sluice';
 *
 * const OrderPlaced = defineEvent<{ orderId: string }, 'OrderPlaced'>('OrderPlaced');
 * const events = new EventBus();
 * const unsubscribe = events.subscribe(OrderPlaced, (event) => console.log(event.payload.orderId));
 * await events.dispatch(OrderPlaced({ orderId: 'o-1' }));
 * unsubscribe();
 * ```
 */
export class EventBus extends Bus<Event<any>> {
  readonly #subscribers = new Map<string, Handler<any, unknown>[]>();

  /**
   * Adds a handler; returns a function that removes it again.
   *
   * @throws {@link InvalidOptionError} when the type is empty or `handler` is not a function
   */
  subscribe<E extends Event<any>>(definition: MessageDefinition<E>, handler: Handler<E, unknown>): () => void;
  /**
   * Adds a handler for an event type given by its type string; returns a function that removes it.
   *
   * @throws {@link InvalidOptionError} when the type is empty or `handler` is not a function
   */
  subscribe(type: string, handler: Handler<Event, unknown>): () => void;
  subscribe(definition: MessageDefinition<Event<any>> | string, handler: Handler<any, unknown>): () => void {
    const type = typeOf(definition);
    assertHandler(type, handler);
    const handlers = [...(this.#subscribers.get(type) ?? []), handler];
    this.#subscribers.set(type, handlers);
    let subscribed = true;
    // Removes this subscription only: the same function may be subscribed more than once.
    return () => {
      if (!subscribed) return;
      subscribed = false;
      const remaining = [...(this.#subscribers.get(type) ?? [])];
      remaining.splice(remaining.indexOf(handler), 1);
      this.#subscribers.set(type, remaining);
    };
  }

  /**
   * Resolves once every handler settled. One failure rejects with that error; several with an
   * `AggregateError` of all of them.
   *
   * @param options - `signal`: aborts the dispatch (handlers and middlewares see it in their context)
   * @throws {@link InvalidOptionError} (as a rejection) when `message` has no string `type` or
   * `signal` is not an AbortSignal; an already aborted signal rejects with its reason
   */
  dispatch(message: Event<any>, options?: DispatchOptions): Promise<void> {
    return this.run(message, options);
  }

  /** @internal */
  protected async handle(message: Event<any>, context: Context<Event<any>>): Promise<void> {
    const handlers = this.#subscribers.get(message.type);
    if (handlers === undefined || handlers.length === 0) return;
    if (handlers.length === 1) {
      await handlers[0]!(message, context);
      return;
    }
    const settled = await Promise.allSettled(handlers.map(async (handler) => handler(message, context)));
    const errors = settled.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []));
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) {
      throw new AggregateError(errors, `${errors.length} handlers of "${message.type}" failed`);
    }
  }
}
