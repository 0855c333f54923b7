import type { Consumer, Delivery, NackOptions } from '../../src/queuing/types.js';

export type Settlement<T> = { message: T; ack: true } | { message: T; nack: NackOptions };

/**
 * Wraps a consumer to record how the pump settles each delivery, delegating the settlement itself.
 * It exposes only the plain iterator, so the pump takes the ordinary `next()` path.
 */
export class RecordingConsumer<T> implements Consumer<T> {
  readonly settlements: Settlement<T>[] = [];
  readonly #source: Consumer<T>;

  constructor(source: Consumer<T>) {
    this.#source = source;
  }

  [Symbol.asyncIterator](): AsyncIterator<Delivery<T>> {
    const iterator = this.#source[Symbol.asyncIterator]();
    return {
      next: async () => {
        const result = await iterator.next();
        return result.done ? result : { done: false, value: this.#record(result.value) };
      },
      return: async () => (await iterator.return?.()) ?? { done: true, value: undefined },
    };
  }

  #record(delivery: Delivery<T>): Delivery<T> {
    const { settlements } = this;
    return {
      message: delivery.message,
      attempt: delivery.attempt,
      ack() {
        settlements.push({ message: delivery.message, ack: true });
        return delivery.ack();
      },
      nack(options = {}) {
        settlements.push({ message: delivery.message, nack: options });
        return delivery.nack(options);
      },
      [Symbol.asyncDispose]: () => delivery[Symbol.asyncDispose](),
    };
  }
}
