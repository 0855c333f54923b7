import { encodeEnvelope } from '../../queuing/envelope.js';
import { assertSendOptions } from '../../queuing/send-options.js';
import type { SendOptions } from '../../queuing/types.js';
import { type Connection, unavailable } from './connection.js';
import { GROUP } from './keys.js';

/** Messages per enqueue script call: big enough to amortise a round trip, small enough not to stall Redis. */
const BATCH = 1_000;

/** The sends of one script call; every send in it shares the batch's promise. */
class Batch {
  readonly plain: string[] = [];
  /** (body, priority, delay, key) per message with options. */
  readonly other: string[] = [];
  size = 0;
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (error: unknown) => void;

  constructor() {
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

/**
 * Coalesces the sends made in one tick into as few `enqueue` script calls as possible (one per
 * 1,000 messages): one command to encode, one round trip, one reply, instead of one per message.
 * A send resolves once the script that stored its message returned.
 */
export class SendBatcher {
  readonly #connection: Connection;
  readonly #keys: string[];
  readonly #name: string;
  /** Batches filled this tick, sent on the next microtask. */
  #queued: Batch[] = [];
  readonly #inFlight = new Set<Promise<void>>();

  constructor(connection: Connection, keys: string[], name: string) {
    this.#connection = connection;
    this.#keys = keys;
    this.#name = name;
  }

  send(message: unknown, options: SendOptions | undefined): Promise<void> {
    let body: string;
    try {
      if (options !== undefined) assertSendOptions(options);
      body = encodeEnvelope(message, this.#name);
    } catch (error) {
      return Promise.reject(error);
    }
    let batch = this.#queued[this.#queued.length - 1];
    if (batch === undefined || batch.size === BATCH) {
      if (this.#queued.length === 0) queueMicrotask(() => this.#flush());
      batch = new Batch();
      this.#queued.push(batch);
    }
    batch.size++;
    const { priority = 0, delay = 0, key } = options ?? {};
    if (priority === 0 && delay === 0 && key === undefined) batch.plain.push(body);
    else batch.other.push(body, String(priority), String(delay), key ?? '');
    return batch.promise;
  }

  /** Resolves once every send made so far has settled. */
  async drain(): Promise<void> {
    await Promise.resolve(); // lets the current tick's batches go out first
    await Promise.allSettled([...this.#inFlight]);
  }

  #flush(): void {
    const batches = this.#queued;
    this.#queued = [];
    const waiting = this.#connection.ready(`send to queue ${this.#name}`);
    for (const batch of batches) {
      const sent = (waiting === undefined ? this.#store(batch) : waiting.then(() => this.#store(batch))).then(
        batch.resolve,
        (error) =>
          batch.reject(error?.code === 'BROKER_UNAVAILABLE' ? error : unavailable(this.#operation(), error)),
      );
      this.#inFlight.add(sent);
      sent.finally(() => this.#inFlight.delete(sent));
    }
  }

  #store(batch: Batch): Promise<number> {
    const { plain, other } = batch;
    return this.#connection.client.sluiceEnqueue(
      ...this.#keys,
      GROUP,
      this.#name,
      plain.length,
      ...plain,
      ...other,
    );
  }

  #operation(): string {
    return `send to queue ${this.#name}`;
  }
}
