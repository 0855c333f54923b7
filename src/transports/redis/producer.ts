import { SluiceError } from '../../errors.js';
import type { SendOptions } from '../../queuing/types.js';
import { assertBrokerSendOptions } from '../shared/broker-options.js';
import { encodeEnvelope } from '../shared/envelope.js';
import type { Connection } from './connection.js';
import { failure } from './errors.js';
import { TickBatches } from './tick-batches.js';

/** The messages of one `enqueue` script call. */
interface SendBatch {
  readonly plain: string[];
  /** (body, priority, delay, key) per message with options. */
  readonly other: string[];
  /** (body, priority, delay, key, group) per message of a group. */
  readonly grouped: string[];
}

/**
 * Coalesces the sends made in one tick into as few `enqueue` script calls as possible (one per
 * batch, see tick-batches.ts). A send resolves once the script that stored its message returned.
 */
export class RedisProducer {
  readonly #connection: Connection;
  readonly #stream: string;
  readonly #name: string;
  readonly #batches = new TickBatches<SendBatch>(
    () => ({ plain: [], other: [], grouped: [] }),
    (batch) => this.#store(batch),
  );

  constructor(
    connection: Connection,
    stream: string,
    name: string,
    private readonly limits: { readonly maxMessageSize: number; readonly maxDelay: number },
  ) {
    this.#connection = connection;
    this.#stream = stream;
    this.#name = name;
  }

  send(message: unknown, options: SendOptions | undefined): Promise<void> {
    let body: string;
    try {
      if (options !== undefined) {
        assertBrokerSendOptions(options, this.limits.maxDelay, this.#name);
      }
      body = encodeEnvelope(message, this.#name, this.limits.maxMessageSize, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const { priority = 0, delay = 0, key, group } = options ?? {};
    return this.#batches.add((batch) => {
      if (group !== undefined) batch.grouped.push(body, String(priority), String(delay), key ?? '', group);
      else if (priority === 0 && delay === 0 && key === undefined) batch.plain.push(body);
      else batch.other.push(body, String(priority), String(delay), key ?? '');
    });
  }

  /** Resolves once every send made so far has settled. */
  drain(): Promise<void> {
    return this.#batches.drain();
  }

  /**
   * Rejects the sends still waiting for Redis: the queue closed without their answer. (A client
   * closed while it waits to reconnect never rejects the commands it holds for replaying.)
   */
  abandon(): void {
    const operation = `send to queue ${this.#name}`;
    this.#batches.abandon(failure(operation, new Error('the queue closed before Redis answered')));
  }

  #store(batch: SendBatch): Promise<void> {
    const operation = `send to queue ${this.#name}`;
    // Stored at once while connected: waiting for `ready` only when it is not.
    const waiting = this.#connection.ready(operation);
    const stored = waiting === undefined ? this.#enqueue(batch) : waiting.then(() => this.#enqueue(batch));
    return stored.then(
      () => undefined,
      (error) => {
        throw error instanceof SluiceError ? error : failure(operation, error);
      },
    );
  }

  #enqueue({ plain, other, grouped }: SendBatch): Promise<unknown> {
    const client = this.#connection.client;
    if (grouped.length === 0) return client.sluiceEnqueue(this.#stream, plain.length, ...plain, ...other);
    // Grouped messages have their own script (flow-prelude.ts), called only for a batch that has some.
    const storing = client.sluiceEnqueueGrouped(this.#stream, ...grouped);
    if (plain.length + other.length === 0) return storing;
    return Promise.all([storing, client.sluiceEnqueue(this.#stream, plain.length, ...plain, ...other)]);
  }
}
