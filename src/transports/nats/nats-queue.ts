import { takeNow } from '../../queuing/hand-off.js';
import type { Delivery, Queue, SendOptions } from '../../queuing/types.js';
import { QueueCore } from './core.js';
import type { NatsQueueOptions } from './options.js';

/**
 * A durable queue on NATS JetStream: a WorkQueue stream per queue (`sluice-<name>`), a durable pull
 * consumer per priority band, delayed messages on a subject of their own, dead letters on the queue
 * named by `deadLetter` (default `${name}.dead`, itself a NatsQueue).
 */
export class NatsQueue<T> implements Queue<T> {
  readonly #core: QueueCore<T>;

  constructor(name: string, options: NatsQueueOptions<T> = {}) {
    this.#core = new QueueCore(name, options);
  }

  get name(): string {
    return this.#core.name;
  }

  /** The JetStream stream holding the queue's messages. */
  get stream(): string {
    return this.#core.stream;
  }

  /**
   * Resolves once JetStream stored the message (a duplicate `key` within the stream's duplicate
   * window resolves without storing a second copy). Rejects BrokerUnavailableError when NATS is
   * down or does not answer in time: it was then not stored, unless only the answer was lost.
   */
  send(message: T, options?: SendOptions): Promise<void> {
    return this.#core.send(message, options);
  }

  [Symbol.asyncIterator](): AsyncIterator<Delivery<T>> {
    return this.#core.iterator();
  }

  [takeNow](): Delivery<T> | undefined {
    return this.#core.take();
  }

  /**
   * Stops sends and fetching; pending `next()` calls end; buffered messages go back to the stream;
   * handed-out deliveries can be settled for `closeTimeout`, then go back too; then the connection
   * closes if the queue opened it.
   */
  close(): Promise<void> {
    return this.#core.close();
  }
}
