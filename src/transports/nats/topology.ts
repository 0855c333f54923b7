import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { RESOLVED } from '../../queuing/settled.js';
import type { Link } from './connection.js';
import { streamName, subjectPrefix } from './names.js';

/**
 * JetStream remembers each `Nats-Msg-Id` (a send's `key`) this long and stores a second message with
 * the same id only after it; this is the stream's `duplicate_window` (JetStream's default, 2 minutes).
 */
export const DUPLICATE_WINDOW_MS = 120_000;

/**
 * Creates streams and consumers on first use and remembers that it did, so the hot path never asks
 * the server twice. A stream or consumer that already exists is used as it is, except that a
 * consuming handle sets the consumer's `ack_wait` to its own visibility timeout.
 */
export class Topology {
  readonly #link: Link;
  readonly #ackWait: number;
  readonly #ensured = new Map<string, Promise<void>>();
  /** Keys whose creation finished: asked again, they answer RESOLVED (the hot path skips an await). */
  readonly #done = new Set<string>();

  constructor(link: Link, visibilityTimeout: number) {
    this.#link = link;
    this.#ackWait = nanos(visibilityTimeout);
  }

  ensureStream(queue: string): Promise<void> {
    return this.#once(queue, () => this.#addStream(queue));
  }

  /** Ensures the stream and the durable consumer of one subject token (a band or `delayed`). */
  ensureConsumer(queue: string, token: string, consuming = false): Promise<void> {
    return this.#once(`${queue}\u0000${token}\u0000${consuming}`, async () => {
      await this.ensureStream(queue);
      await this.#addConsumer(queue, token, consuming);
    });
  }

  /** Consumer names of a queue's stream: its bands in use and `delayed`. */
  async consumers(queue: string): Promise<string[]> {
    const names: string[] = [];
    for await (const info of this.#link.jsm.consumers.list(streamName(queue))) names.push(info.name);
    return names;
  }

  /** Forgets what was ensured for a queue, after finding its stream or a consumer gone. */
  forget(queue: string): void {
    for (const key of this.#ensured.keys()) {
      if (key === queue || key.startsWith(`${queue}\u0000`)) {
        this.#ensured.delete(key);
        this.#done.delete(key);
      }
    }
  }

  #once(key: string, create: () => Promise<void>): Promise<void> {
    if (this.#done.has(key)) return RESOLVED;
    let ensured = this.#ensured.get(key);
    if (ensured === undefined) {
      ensured = create();
      ensured.then(
        () => this.#ensured.get(key) === ensured && this.#done.add(key),
        () => this.#ensured.delete(key),
      );
      this.#ensured.set(key, ensured);
    }
    return ensured;
  }

  async #addStream(queue: string): Promise<void> {
    const name = streamName(queue);
    try {
      await this.#link.jsm.streams.info(name);
      return;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    await this.#link.jsm.streams.add({
      name,
      subjects: [`${subjectPrefix(queue)}*`],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    });
  }

  async #addConsumer(queue: string, token: string, consuming: boolean): Promise<void> {
    const stream = streamName(queue);
    const config = {
      durable_name: token,
      filter_subject: `${subjectPrefix(queue)}${token}`,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: this.#ackWait,
      max_deliver: -1, // attempts are counted by the queue: it dead-letters, the server never drops
      max_ack_pending: -1, // messages waiting out a delay or a backoff count as pending
    };
    try {
      await this.#link.jsm.consumers.add(stream, config);
    } catch (error) {
      const existing = await this.#link.jsm.consumers.info(stream, token).catch(() => undefined);
      if (existing === undefined) throw error;
      if (consuming && existing.config.ack_wait !== this.#ackWait) {
        await this.#link.jsm.consumers.update(stream, token, { ack_wait: this.#ackWait });
      }
    }
  }
}

function isNotFound(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 10059;
}
