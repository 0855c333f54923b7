import { InvalidOptionError, SluiceError } from '../../errors.js';
import type { SendOptions } from '../../queuing/types.js';
import { assertBrokerSendOptions } from '../shared/broker-options.js';
import { encodeEnvelope } from '../shared/envelope.js';
import { UnderWay } from '../shared/under-way.js';
import type { Connection } from './connection.js';
import type { KeyMarkers } from './key-markers.js';
import type { ResolvedOptions } from './options.js';
import { DEFAULT_AMQP_PRIORITY, toAmqpPriority } from './priority.js';
import type { MessageProperties, Publisher } from './publisher.js';
import { KEY_HEADER, KEY_UNTIL_HEADER } from './topology.js';

const CONTENT_TYPE = 'application/json';
/** What a message sent without options carries, on a priority queue and on a plain one. */
const DEFAULT_PRIORITY: MessageProperties = { contentType: CONTENT_TYPE, priority: DEFAULT_AMQP_PRIORITY };
const NO_PRIORITY: MessageProperties = { contentType: CONTENT_TYPE };

/**
 * The queue's `send`: encodes the envelope, then publishes it with its priority, into the delay
 * queue of its delay, after taking its dedup key. A send without options on a live connection is
 * one publish (the hot path); the others take several steps.
 */
export class AmqpProducer {
  /**
   * Sends of more than one step (connect, take a key, then publish) under way: close() waits for
   * them, since closing the connection in between would fail them and strand their dedup key. A send
   * that is one publish needs no entry: the publisher's flush waits for what it published.
   */
  readonly #sending = new UnderWay();
  readonly #defaultProperties: MessageProperties;

  constructor(
    private readonly options: ResolvedOptions<unknown>,
    private readonly connection: Connection,
    private readonly publisher: Publisher,
    private readonly keys: KeyMarkers,
  ) {
    this.#defaultProperties = options.priorities ? DEFAULT_PRIORITY : NO_PRIORITY;
  }

  send(message: unknown, options: SendOptions | undefined): Promise<void> {
    const { name } = this.options;
    let body: Buffer;
    try {
      if (options !== undefined) this.#assertSendOptions(options);
      body = Buffer.from(encodeEnvelope(message, name, this.options.maxMessageSize, options));
    } catch (error) {
      return Promise.reject(error);
    }
    const session = this.connection.session;
    if (options === undefined && session !== undefined) {
      return this.publisher.publish(session, name, body, this.#defaultProperties);
    }
    return this.#sending.add(this.#sendWith(body, options ?? {}));
  }

  /** Resolves once the sends under way stored their message or failed; call once sends stopped. */
  ended(): Promise<void> {
    return this.#sending.ended();
  }

  #assertSendOptions(options: SendOptions): void {
    const { name, priorities, maxDelay } = this.options;
    assertBrokerSendOptions(options, maxDelay, name);
    const { priority = 0 } = options;
    if (!priorities && priority !== 0) {
      throw new InvalidOptionError(
        'priority',
        priority,
        `none: queue ${name} was opened with priorities: false`,
      );
    }
  }

  async #sendWith(body: Buffer, { priority, delay = 0, key, group }: SendOptions): Promise<void> {
    const session = await this.connection.ready('send');
    const properties: MessageProperties =
      priority === undefined || !this.options.priorities
        ? { ...this.#defaultProperties }
        : { contentType: CONTENT_TYPE, priority: toAmqpPriority(priority) };
    if (key !== undefined) {
      properties.headers = { [KEY_HEADER]: key, [KEY_UNTIL_HEADER]: this.keys.heldUntil() };
      if (!(await this.#guard(() => this.keys.take(session, key)))) return;
    }
    try {
      await this.#guard(() => this.publisher.publishGrouped(session, group, body, properties, delay));
    } catch (error) {
      if (key !== undefined) await this.keys.abandon(session, key);
      throw error;
    }
  }

  /** Runs a broker operation; its failures become BrokerUnavailableError unless already explained. */
  async #guard<R>(run: () => Promise<R>): Promise<R> {
    try {
      return await run();
    } catch (error) {
      throw error instanceof SluiceError ? error : this.connection.unavailable('send', error);
    }
  }
}
