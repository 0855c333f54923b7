import type { Channel, ConfirmChannel, Options } from 'amqplib';
import { SluiceError } from '../../errors.js';
import { UnderWay } from '../shared/under-way.js';
import type { Connection, Session } from './connection.js';
import {
  declareGroupQueue,
  declareRegistry,
  groupQueueName,
  registryName,
  signalRegistry,
} from './group-queues.js';
import { declareQueue } from './topology.js';

/** What a publish carries besides its body; every publish is persistent and mandatory. */
export type MessageProperties = Pick<Options.Publish, 'contentType' | 'priority' | 'headers'>;

/** How the broker answered a single publish (see `Publisher.offer`). */
export type Outcome = 'stored' | 'returned' | 'refused';

/**
 * Publishes on the session's confirm channel. `confirmed` is called once: with the broker's answer,
 * or with an error if the channel closed first (see Connection's publisher watch).
 */
function publishConfirmed(
  session: Session,
  queue: string,
  body: Buffer,
  options: Options.Publish,
  confirmed: (error: unknown) => void,
): void {
  const { unconfirmed } = session;
  const settle = (error: unknown) => {
    if (unconfirmed.delete(settle)) confirmed(error);
  };
  unconfirmed.add(settle);
  try {
    session.publisher.sendToQueue(queue, body, options, settle);
  } catch (error) {
    settle(error);
  }
}

/**
 * Confirmed publishing for one queue: every publish is persistent and mandatory, and resolves once
 * the broker stored it. Each publish carries a `messageId` of its own (a counter, not the message's
 * id, which is in the body), the only way to tell which publish the broker returned as unroutable.
 */
export class Publisher {
  #published = 0;
  /** Publishes returned as unroutable and being declared and sent again: `flush` waits for them. */
  readonly #republishing = new UnderWay();
  readonly #options: Options.Publish = { persistent: true, mandatory: true };
  readonly #declareMain: (channel: Channel) => Promise<unknown>;
  /** Told of each group queue registered here, so that this process's consumers need not wait to read it. */
  registered: (queue: string) => void = () => {};

  constructor(
    private readonly connection: Connection,
    private readonly queue: string,
    private readonly priorities: boolean,
  ) {
    this.#declareMain = (channel) => declareQueue(channel, queue, priorities);
  }

  /**
   * Publishes into the queue of `group` (undefined: the default group, the queue itself;
   * DEFAULT_GROUP_QUEUE: the default group's own queue, see admission.ts) now, or
   * after `delay` ms into the queue through its delay queue: the consumer that finds a grouped
   * message there moves it into its group's queue (group-queues.ts).
   */
  async publishGrouped(
    session: Session,
    group: string | undefined,
    body: Buffer,
    properties: MessageProperties,
    delay: number,
  ): Promise<void> {
    if (group === undefined || delay > 0) return this.publishIn(session, body, properties, delay);
    const target = groupQueueName(this.queue, group);
    const redeclare = () => declareGroupQueue(session.publisher, target, this.priorities);
    if (session.declared.has(target)) return this.publish(session, target, body, properties, redeclare);
    await redeclare();
    // Registered while the message is published: a stream confirms its appends in batches, slowly.
    await Promise.all([
      this.#register(session, target),
      this.publish(session, target, body, properties, redeclare),
    ]);
  }

  /**
   * Appends a group queue to the registry (group-registry.ts), once per connection: sluice never
   * deletes a group queue, so a connection registers each once.
   */
  async #register(session: Session, queue: string): Promise<void> {
    await declareRegistry(session.publisher, this.queue);
    this.registered(queue);
    await this.publish(session, registryName(this.queue), Buffer.from(queue), {});
    await signalRegistry(session.publisher, this.queue); // readers waiting for the stream to exist
    session.declared.add(queue);
  }

  /**
   * Publishes to the queue now, or after `delay` ms through the delay queue of that delay (see
   * topology.ts), which dead-letters it into the queue when its TTL runs out.
   */
  async publishIn(
    session: Session,
    body: Buffer,
    properties: MessageProperties,
    delay: number,
  ): Promise<void> {
    if (delay <= 0) return this.publish(session, this.queue, body, properties);
    const ms = Math.ceil(delay);
    const queue = await session.delays.ensure(session.publisher, ms);
    await this.publish(session, queue, body, properties, (channel) =>
      session.delays.ensure(channel, ms, true),
    );
  }

  /**
   * Publishes a persistent message and resolves once the broker confirmed it stored it. When the
   * target queue is gone (deleted by someone, or an expired delay queue) the broker returns the
   * message instead of dropping it, and it is published again after `redeclare` (by default the
   * queue's own declaration).
   */
  publish(
    session: Session,
    queue: string,
    body: Buffer,
    properties: MessageProperties,
    redeclare: (channel: ConfirmChannel) => Promise<unknown> = this.#declareMain,
  ): Promise<void> {
    // The hot path of every send: one promise and one confirm callback (tracked in `unconfirmed`)
    // per message, nothing else.
    return new Promise((resolve, reject) => {
      const id = this.#publishOnce(session, queue, body, properties, (error: unknown) => {
        if (error) reject(this.#explain(error));
        else if (!session.returned.delete(id)) resolve();
        else {
          const again = this.#republish(session, queue, body, properties, redeclare);
          this.#republishing.add(again).then(resolve, reject);
        }
      });
    });
  }

  /**
   * Publishes once, with nothing published again: resolves how the broker answered (`refused`: it
   * nacked the publish, as a queue full with `x-overflow: reject-publish` does); rejects when the
   * channel closed first.
   */
  offer(session: Session, queue: string, body: Buffer, options: Options.Publish): Promise<Outcome> {
    return new Promise((resolve, reject) => {
      const id = this.#publishOnce(session, queue, body, options, (error: unknown) => {
        if (error === null || error === undefined)
          resolve(session.returned.delete(id) ? 'returned' : 'stored');
        else if ((error as Error).message === 'message nacked') resolve('refused');
        else reject(error);
      });
    });
  }

  /** Resolves once the broker answered what was published on `session`, republished ones included. */
  async flush(session: Session): Promise<void> {
    // A confirm of a returned publish starts its republish before waitForConfirms resolves.
    await session.publisher.waitForConfirms().catch(() => {});
    await this.#republishing.ended();
  }

  /** The broker returned a publish as unroutable: declares the queue again, then publishes once more. */
  async #republish(
    session: Session,
    queue: string,
    body: Buffer,
    properties: MessageProperties,
    redeclare: (channel: ConfirmChannel) => Promise<unknown>,
  ): Promise<void> {
    try {
      await redeclare(session.publisher);
      await new Promise<void>((resolve, reject) => {
        const id = this.#publishOnce(session, queue, body, properties, (error: unknown) => {
          if (error) reject(error);
          else if (!session.returned.delete(id)) resolve();
          else reject(new Error(`queue ${queue} still does not exist after declaring it`));
        });
      });
    } catch (error) {
      throw this.#explain(error);
    }
  }

  /**
   * Sends one mandatory, persistent publish on the session's confirm channel; `confirmed` gets the
   * broker's answer, or the error when the channel is already closed. Returns the publish's
   * `messageId`, which a 'return' of it carries.
   */
  #publishOnce(
    session: Session,
    queue: string,
    body: Buffer,
    properties: Options.Publish,
    confirmed: (error: unknown) => void,
  ): string {
    const id = String(++this.#published);
    // amqplib copies the options into the frame before sendToQueue returns: one object serves all.
    const options = this.#options;
    options.contentType = properties.contentType;
    options.priority = properties.priority;
    options.headers = properties.headers;
    options.expiration = properties.expiration;
    options.messageId = id;
    publishConfirmed(session, queue, body, options, confirmed);
    return id;
  }

  #explain(error: unknown): SluiceError {
    return error instanceof SluiceError ? error : this.connection.unavailable('publish', error);
  }
}
