import type { ConsumerInfo } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { RESOLVED } from '../../queuing/settled.js';
import type { Connection } from './connection.js';
import { NatsTopologyError } from './errors.js';
import { streamName, subjectPrefix } from './names.js';
import {
  consumerConfig,
  consumerProblem,
  filterCovers,
  filtersOf,
  streamConfig,
  streamProblem,
} from './shapes.js';

/** JetStream's error codes this file tells apart. */
const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;
const SUBJECTS_OVERLAP = 10065;
const WORKQUEUE_CONSUMER_NOT_UNIQUE = 10100;
const WORKQUEUE_MULTIPLE_UNFILTERED = 10099;

/**
 * Creates streams and consumers on first use and remembers that it did, so the hot path never asks
 * the server twice. A stream or consumer that already exists (made by another handle, or by a
 * producer in another language from the wire protocol) is used as it is once it passes the checks
 * of shapes.ts; otherwise, and when something else holds its subjects, the ensure rejects with
 * NatsTopologyError. The one change made to an existing consumer: a consuming handle sets its
 * `ack_wait` to its own visibility timeout.
 */
export class Topology {
  readonly #connection: Connection;
  readonly #ackWait: number;
  readonly #ensured = new Map<string, Promise<void>>();
  /** Keys whose creation finished: asked again, they answer RESOLVED (the hot path skips an await). */
  readonly #done = new Set<string>();

  constructor(connection: Connection, visibilityTimeout: number) {
    this.#connection = connection;
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

  /** Consumer names of a queue's stream: its bands in use, `delayed`, and anyone else's. */
  async consumers(queue: string): Promise<string[]> {
    const names: string[] = [];
    for await (const info of this.#connection.jsm.consumers.list(streamName(queue))) names.push(info.name);
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
    const { jsm } = this.#connection;
    const config = streamConfig(queue);
    try {
      const problem = streamProblem(queue, (await jsm.streams.info(config.name)).config);
      if (problem !== undefined) throw new NatsTopologyError(queue, `stream ${config.name}`, problem);
      return;
    } catch (error) {
      if (codeOf(error) !== STREAM_NOT_FOUND) throw error;
    }
    try {
      await jsm.streams.add(config);
    } catch (error) {
      if (codeOf(error) !== SUBJECTS_OVERLAP) throw error;
      const holder = await jsm.streams.find(`${subjectPrefix(queue)}p0`).catch(() => 'another stream');
      throw new NatsTopologyError(
        queue,
        `stream ${config.name}`,
        `its subjects ${config.subjects![0]} are held by stream ${holder}`,
      );
    }
  }

  async #addConsumer(queue: string, token: string, consuming: boolean): Promise<void> {
    const { jsm } = this.#connection;
    const stream = streamName(queue);
    let existing = await this.#info(stream, token);
    if (existing === undefined) {
      try {
        await jsm.consumers.add(stream, consumerConfig(queue, token, this.#ackWait));
        return;
      } catch (error) {
        const code = codeOf(error);
        if (code === WORKQUEUE_CONSUMER_NOT_UNIQUE || code === WORKQUEUE_MULTIPLE_UNFILTERED) {
          throw await this.#taken(queue, token);
        }
        existing = await this.#info(stream, token); // made meanwhile by another handle
        if (existing === undefined) throw error;
      }
    }
    const problem = consumerProblem(queue, token, existing.config);
    if (problem !== undefined) {
      throw new NatsTopologyError(queue, `consumer ${token} of stream ${stream}`, problem);
    }
    if (consuming && existing.config.ack_wait !== this.#ackWait) {
      await jsm.consumers.update(stream, token, { ack_wait: this.#ackWait });
    }
  }

  async #info(stream: string, token: string): Promise<ConsumerInfo | undefined> {
    try {
      return await this.#connection.jsm.consumers.info(stream, token);
    } catch (error) {
      if (codeOf(error) === CONSUMER_NOT_FOUND) return undefined;
      throw error;
    }
  }

  /** The error for a subject another consumer already takes from the WorkQueue stream, naming it. */
  async #taken(queue: string, token: string): Promise<NatsTopologyError> {
    const stream = streamName(queue);
    const subject = `${subjectPrefix(queue)}${token}`;
    const takers: string[] = [];
    try {
      for await (const { name, config } of this.#connection.jsm.consumers.list(stream)) {
        const filters = filtersOf(config);
        if (filters.length === 0 || filters.some((filter) => filterCovers(filter, subject))) {
          takers.push(`${name} (filter ${filters.join(', ') || 'none'})`);
        }
      }
    } catch {
      // The server said the subject is taken; naming who takes it is a courtesy.
    }
    const who = takers.length > 0 ? `consumer ${takers.join(', consumer ')}` : 'another consumer';
    return new NatsTopologyError(
      queue,
      `consumer ${token} of stream ${stream}`,
      `${who} already takes ${subject} from the WorkQueue stream, which lets no two consumers share a subject`,
    );
  }
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}
