import type { SendOptions } from '../../queuing/types.js';
import { assertBrokerSendOptions } from '../shared/broker-options.js';
import { encodeEnvelope } from '../shared/envelope.js';
import type { Connection } from './connection.js';

/**
 * The sending side of one SqliteQueue: checks and encodes a message, then inserts it in the
 * connection's next transaction, with all the other writes of the same tick.
 */
export class SqliteProducer<T> {
  constructor(
    private readonly queue: string,
    private readonly connection: Connection,
    private readonly limits: { readonly maxMessageSize: number; readonly maxDelay: number },
  ) {}

  /** Resolves once the row is committed; a `key` already held in the queue stores nothing. */
  send(message: T, options: SendOptions | undefined): Promise<void> {
    let body: string;
    try {
      if (options !== undefined) {
        assertBrokerSendOptions(options, this.limits.maxDelay, this.queue);
      }
      body = encodeEnvelope(message, this.queue, this.limits.maxMessageSize, options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.connection.write({
      kind: 'insert',
      queue: this.queue,
      body,
      priority: options?.priority ?? 0,
      runAt: Date.now() + (options?.delay ?? 0),
      key: options?.key ?? null,
      group: options?.group ?? null,
    });
  }
}
