import { randomUUID } from 'node:crypto';
import type { Channel } from 'amqplib';
import { RESOLVED } from '../../queuing/settled.js';
import { type Connection, closed, type Session } from './connection.js';
import { groupQueuePrefix, registryName } from './group-queues.js';
import { CONTROL_EXCHANGE } from './pause.js';
import type { Publisher } from './publisher.js';

/** Entries a stream consumer may hold unacked: RabbitMQ requires a prefetch on streams. */
const STREAM_PREFETCH = 1_000;
/** Wait before reading again after the broker closed only the registry's channel. */
const REOPEN_DELAY = 250;

/**
 * The group queues of queue `name`, read from its registry: the stream `name.groups`, to which
 * whoever declares a group queue first in a connection appends its name (group-queues.ts). A stream
 * is read without being consumed away, so every reader sees every entry, from the first, and then
 * each new one as it is appended: consumers learn of every group, whenever it was created.
 *
 * One registry per queue handle, read on a channel of its own from the first connection that needs
 * it; `caughtUp` appends a marker of its own (once per connection) and waits to read it back, so
 * that what is known then includes every group registered before.
 *
 * The stream exists only once a group was sent: a queue whose messages have no group has none, and
 * its consumers neither declare nor read one. Until it exists, a reader waits for the signal that
 * whoever registers a group queue sends (`signalRegistry`), bound before it first looks for it.
 */
export class GroupRegistry {
  readonly known = new Set<string>();
  readonly #listeners = new Set<(queue: string) => void>();
  readonly #prefix: string;
  #unsubscribe: (() => void) | undefined;
  #channel: Channel | undefined;
  #closed = false;
  /** The marker this connection appended, and who waits to read it back. */
  #marker: { session: Session; id: string; read: Promise<void>; resolve: () => void } | undefined;
  /** The connection on which the stream was found: it exists from then on. */
  #found: Session | undefined;
  /** Looks for the stream again, and reads it once found. */
  #look: () => void = () => {};

  constructor(
    private readonly connection: Connection,
    private readonly publisher: Publisher,
    private readonly name: string,
  ) {
    this.#prefix = groupQueuePrefix(name);
  }

  /** Calls `listener` with every group queue known now and with each one read later. Returns the unsubscriber. */
  follow(listener: (queue: string) => void): () => void {
    this.#start();
    this.#listeners.add(listener);
    for (const queue of this.known) listener(queue);
    return () => this.#listeners.delete(listener);
  }

  /** A group queue this process registered: known at once. */
  registered(queue: string): void {
    this.#entry(queue);
  }

  /** Resolves once every group registered before the call is known. */
  async caughtUp(session: Session): Promise<void> {
    this.#start();
    if (!(await this.#exists(session))) return; // no group was ever registered
    this.#look();
    if (this.#marker?.session !== session) {
      let resolve!: () => void;
      const read = new Promise<void>((done) => {
        resolve = done;
      });
      const marker = { session, id: `?${randomUUID()}`, read, resolve };
      this.#marker = marker;
      await this.publisher.publish(session, registryName(this.name), Buffer.from(marker.id), {});
    }
    await this.#marker!.read;
  }

  close(): void {
    this.#closed = true;
    this.#unsubscribe?.();
    this.#channel?.close().catch(() => {});
  }

  #start(): void {
    if (this.#closed) return;
    this.#unsubscribe ??= this.connection.onSession({
      up: (session) => void this.#read(session),
      refused: () => {},
    });
  }

  async #read(session: Session): Promise<void> {
    let channel: Channel;
    try {
      channel = await session.connection.createChannel();
    } catch {
      return this.#readLater(session);
    }
    channel.on('error', () => {}); // a 'close' always follows
    channel.once('close', () => {
      if (this.#channel === channel) this.#channel = undefined;
      this.#readLater(session);
    });
    if (this.#closed) return void channel.close().catch(() => {});
    this.#channel = channel;
    try {
      await channel.assertExchange(CONTROL_EXCHANGE, 'direct', { durable: true });
      const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
      await channel.bindQueue(queue, CONTROL_EXCHANGE, registryName(this.name));
      await channel.prefetch(STREAM_PREFETCH);
      let reading = false;
      let looking = RESOLVED;
      const look = async () => {
        if (reading || !(await this.#exists(session))) return;
        reading = true;
        await this.#consume(channel);
      };
      this.#look = () => {
        looking = looking.then(look).catch(() => void channel.close().catch(() => {}));
      };
      await channel.consume(queue, () => this.#look(), { noAck: true });
      this.#look();
    } catch {
      channel.close().catch(() => {}); // its 'close' reads again
    }
  }

  async #consume(channel: Channel): Promise<void> {
    await channel.consume(
      registryName(this.name),
      (entry) => {
        if (entry === null) return void channel.close().catch(() => {});
        channel.ack(entry);
        this.#entry(entry.content.toString());
      },
      { arguments: { 'x-stream-offset': 'first' } },
    );
  }

  /** Whether the stream exists, looked up on a channel of its own (a queue not found closes it). */
  async #exists(session: Session): Promise<boolean> {
    if (this.#found === session) return true;
    const channel = await session.connection.createChannel();
    channel.on('error', () => {});
    try {
      await channel.checkQueue(registryName(this.name));
      this.#found = session;
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code === 404) return false;
      throw error;
    } finally {
      await closed(channel);
    }
  }

  #readLater(session: Session): void {
    setTimeout(() => {
      if (!this.#closed && this.connection.session === session) void this.#read(session);
    }, REOPEN_DELAY).unref();
  }

  #entry(entry: string): void {
    if (entry === this.#marker?.id) this.#marker.resolve();
    if (!entry.startsWith(this.#prefix) || this.known.has(entry)) return;
    this.known.add(entry);
    for (const listener of this.#listeners) listener(entry);
  }
}
