import { InvalidOptionError } from '../../errors.js';
import { assertMiddlewares, compose } from '../../middleware/compose.js';
import { toChain } from '../../middleware/dispatcher.js';
import type {
  AnyMiddleware,
  Chain,
  Dispatcher,
  DispatcherObject,
  InlineGeneratorMiddleware,
  Middleware,
} from '../../middleware/types.js';
import { Draining, type PumpContext } from './draining.js';
import { type DrainingOptions, resolveDrainingOptions } from './draining-options.js';

export type { PumpContext };

import type { Consumer } from '../types.js';

/** Options of a {@link Pump}. */
export interface PumpOptions {
  /**
   * `false`: the first dispatch or middleware error stops the pump, as does a failed ack.
   * `true`: nack it and go on; a failed ack is swallowed too (the queue redelivers the message). A
   * failed nack stops the pump either way: the queue could not apply its retry policy, and going on
   * would redeliver the message (put back) at once, again and again. Broker queues resolve a settle
   * lost to an outage (the message comes back when its lease ends), so what stops a pump is an error
   * no retry fixes: refused credentials or permissions, a topology mismatch.
   *
   * @defaultValue `false`
   */
  failSilently?: boolean | undefined;
}

/** A bus (anything with `dispatch`) or a function of the message and the pump's context. */
export type PumpDispatcher<T> = ((message: T, context: PumpContext<T>) => unknown) | DispatcherObject<T>;

/**
 * Drains a consumer into a dispatcher: success acks, failure nacks with the error.
 *
 * @example
 * ```ts
 * import { MemoryQueue, Pump } from 'sluice';
 *
 * const jobs = new MemoryQueue<string>();
 * const pump = new Pump(jobs, (message, { attempt }) => console.log(message, attempt));
 * const draining = pump.draining({ concurrency: 4, graceful: true });
 * await jobs.send('hello');
 * await jobs.close();
 * await draining.stop(); // graceful: resolves once the closed queue is drained
 * ```
 */
export class Pump<T> {
  readonly #consumer: Consumer<T>;
  readonly #terminal: Chain<T, PumpContext<T>>;
  readonly #failSilently: boolean;
  readonly #middlewares: AnyMiddleware<T, PumpContext<T>>[] = [];

  /**
   * @param consumer - the queue (any async iterable of deliveries) to drain
   * @param dispatcher - a bus or a function; what it returns or resolves with acks the delivery, what
   * it throws nacks it
   * @throws {@link InvalidOptionError} when `consumer` is not an async iterable, or `dispatcher` is
   * neither a function nor an object with `dispatch`
   */
  constructor(consumer: Consumer<T>, dispatcher: PumpDispatcher<NoInfer<T>>, options: PumpOptions = {}) {
    if (typeof (consumer as Partial<Consumer<T>> | null)?.[Symbol.asyncIterator] !== 'function') {
      throw new InvalidOptionError('consumer', consumer, 'an async iterable of deliveries');
    }
    this.#consumer = consumer;
    this.#terminal = toChain<T, PumpContext<T>>(dispatcher as Dispatcher<T>);
    this.#failSilently = options.failSilently ?? false;
  }

  /** Middlewares around each dispatch, outer first; they apply to drainings started afterwards. */
  use(...middlewares: InlineGeneratorMiddleware<T, PumpContext<T>>[]): this;
  use(...middlewares: Middleware<T, PumpContext<T>>[]): this;
  use(...middlewares: AnyMiddleware<T, PumpContext<T>>[]): this;
  use(...middlewares: AnyMiddleware<T, PumpContext<T>>[]): this {
    assertMiddlewares(middlewares);
    this.#middlewares.push(...middlewares);
    return this;
  }

  /**
   * Starts draining now. Stop it with `stop()` or by disposing it (`await using`).
   *
   * @throws {@link InvalidOptionError} naming the first option that cannot work
   */
  draining(options: DrainingOptions = {}): Draining<T> {
    const resolved = resolveDrainingOptions(options);
    const chain = compose(this.#middlewares, this.#terminal);
    return new Draining(this.#consumer, chain, resolved, this.#failSilently);
  }
}
