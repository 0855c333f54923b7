import { headers, type Msg, type MsgHdrs } from '@nats-io/transport-node';
import { BrokerUnavailableError, QueueClosedError } from '../../errors.js';
import { assertSendOptions } from '../../queuing/send-options.js';
import { DONE_PROMISE, RESOLVED } from '../../queuing/settled.js';
import type { Backoff, Delivery, SendOptions } from '../../queuing/types.js';
import { uniqueId } from '../../queuing/unique-id.js';
import {
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  type ReceivedEnvelope,
  wrapUndecodable,
} from '../shared/envelope.js';
import type { MessageCheck } from '../shared/message-schema.js';
import { UnderWay } from '../shared/under-way.js';
import { ACK, nakWithDelay, respond, streamSequence } from './ack-protocol.js';
import { Link } from './connection.js';
import { type DeliveryOwner, NatsDelivery } from './delivery.js';
import { type Admitted, Fetcher, type FetchOwner, type Session } from './fetcher.js';
import { bandToken, DELAYED, streamName, subjectPrefix } from './names.js';
import { type NatsQueueOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { Topology } from './topology.js';

/** NATS headers of a delayed message: when it is due (epoch ms), its band and its envelope id. */
const DUE = 'Sluice-Due';
const PRIORITY = 'Sluice-Priority';
const ID = 'Sluice-Id';
/** On a dead-lettered message: the NATS header and the envelope header holding the reason. */
const DEAD_REASON = 'Sluice-Dead-Reason';
const DEAD_REASON_HEADER = 'sluice-dead-reason';
/** How long a due delayed message waits before another try when moving it failed. */
const MOVE_RETRY_MS = 1_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * What a NatsQueue does, kept off the public class: sending, the connection, decoding and
 * dead-lettering what the fetcher receives, and moving delayed messages (see `schedule`).
 */
export class QueueCore<T> implements DeliveryOwner, FetchOwner {
  readonly name: string;
  readonly stream: string;
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly visibilityTimeout: number;
  readonly prefetch: number;
  readonly #options: ResolvedOptions<T>;
  readonly #check: MessageCheck<T> | undefined;
  readonly #fetcher: Fetcher;
  #session: Promise<Session> | undefined;
  /** The session once connected, so the hot path need not await it. */
  #ready: Session | undefined;
  #closing: Promise<void> | undefined;
  /** Sends, dead-letterings and moves under way: close waits for them before closing the connection. */
  readonly #busy = new UnderWay();

  constructor(name: string, options: NatsQueueOptions<T> = {}) {
    this.#options = resolveOptions(name, options);
    this.#check = this.#options.check;
    this.name = name;
    this.stream = streamName(name);
    this.maxAttempts = this.#options.maxAttempts;
    this.backoff = this.#options.backoff;
    this.visibilityTimeout = this.#options.visibilityTimeout;
    this.prefetch = this.#options.prefetch;
    this.#fetcher = new Fetcher(this);
    this.session().catch(() => {}); // connect now; whoever needs the connection sees the error
  }

  send(message: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new QueueClosedError(this.name));
    if (options !== undefined) {
      try {
        assertSendOptions(options);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#busy.add(this.#store(message, options?.priority ?? 0, options?.delay ?? 0, options?.key));
  }

  iterator(): AsyncIterator<Delivery<T>> {
    return new NatsIterator<T>(this.#fetcher, this.#closing !== undefined);
  }

  take(): Delivery<T> | undefined {
    return this.#fetcher.take() as Delivery<T> | undefined;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#fetcher.close(this.#options.closeTimeout);
      await this.#busy.ended();
      const session = await this.#session?.catch(() => undefined);
      await session?.link.close();
    })();
    return this.#closing;
  }

  session(): Promise<Session> {
    this.#session ??= Link.open(this.#options.url, this.#options.connection).then(
      (link) => {
        this.#ready = { link, topology: new Topology(link, this.visibilityTimeout) };
        return this.#ready;
      },
      (error) => {
        this.#session = undefined; // the next operation tries to connect again
        throw error;
      },
    );
    return this.#session;
  }

  forget(delivery: NatsDelivery<unknown>): void {
    this.#fetcher.forget(delivery);
  }

  admit(raw: Msg, priority: number, attempt: number): Admitted {
    const body = decoder.decode(raw.data);
    let envelope: Envelope;
    try {
      envelope = withId(decodeEnvelope(body), this.stream, raw);
    } catch (error) {
      const wrapped = wrapUndecodable(body, storedId(this.stream, raw));
      const corpse = new NatsDelivery(this, raw, wrapped, undefined, attempt, priority);
      void this.deadLetter(corpse, (error as Error).message).catch(() => {});
      return undefined;
    }
    if (this.#check === undefined)
      return new NatsDelivery(this, raw, envelope, envelope.payload, attempt, priority);
    const accept = (message: T) => new NatsDelivery(this, raw, envelope, message, attempt, priority);
    const reject = (error: unknown) => {
      const corpse = new NatsDelivery(this, raw, envelope, envelope.payload, attempt, priority);
      void this.deadLetter(corpse, `invalid message: ${(error as Error)?.message ?? error}`).catch(() => {});
      return undefined;
    };
    try {
      const checked = this.#check(envelope.payload);
      return checked instanceof Promise ? checked.then(accept, reject) : accept(checked);
    } catch (error) {
      return reject(error);
    }
  }

  /**
   * Stores a copy on the dead-letter queue (same band; `attempt` and the reason added),
   * then acks the original. The copy's `Nats-Msg-Id` makes a retry after a crash store it once.
   */
  deadLetter(delivery: NatsDelivery<unknown>, reason: string): Promise<void> {
    const { envelope, attempt, priority } = delivery;
    const copy: Envelope = {
      ...envelope,
      attempt,
      headers: { ...envelope.headers, [DEAD_REASON_HEADER]: reason },
    };
    const natsHeaders = headers();
    natsHeaders.set(DEAD_REASON, reason.replace(/[\r\n]+/g, ' '));
    const data = encoder.encode(JSON.stringify(copy));
    const copied = this.session().then((session) =>
      this.#publish(session, this.#options.deadLetter, bandToken(priority), data, {
        msgID: `dead:${envelope.id}`,
        headers: natsHeaders,
      }),
    );
    return this.#busy.add(copied.then(() => delivery.remove()));
  }

  /**
   * A message from the delayed subject. Not due yet: nak'd with the time left, so JetStream
   * hands it back when due (each message on its own, so a shorter delay sent later comes first). Due:
   * stored on its band as a new message (waiting was not an attempt), then acked on the delayed subject.
   */
  schedule(raw: Msg): void {
    const wait = Number(raw.headers?.get(DUE)) - Date.now();
    if (wait > 0) {
      respond(raw, nakWithDelay(wait));
      return;
    }
    const priority = Number(raw.headers?.get(PRIORITY) || 0);
    const moved = this.session().then((session) =>
      this.#publish(session, this.name, bandToken(priority), raw.data, {
        msgID: `due:${raw.headers?.get(ID)}`,
      }),
    );
    void this.#busy
      .add(
        moved.then(
          () => respond(raw, ACK),
          () => respond(raw, nakWithDelay(MOVE_RETRY_MS)),
        ),
      )
      .catch(() => {});
  }

  async #store(message: T, priority: number, delay: number, key: string | undefined): Promise<void> {
    const session = this.#ready ?? (await this.session());
    if (!session.link.up) {
      throw new BrokerUnavailableError('NATS', `send to queue ${this.name} (disconnected)`);
    }
    const id = uniqueId();
    const data = encoder.encode(encodeEnvelope(message, this.name, this.#options.maxMessageSize, id));
    const band = bandToken(priority);
    const dedup = key === undefined ? {} : { msgID: key };
    if (delay === 0) return this.#publish(session, this.name, band, data, dedup);
    const due = headers();
    due.set(DUE, String(Date.now() + delay));
    due.set(PRIORITY, String(priority));
    due.set(ID, id);
    try {
      await session.topology.ensureConsumer(this.name, band); // so consumers find the band
    } catch (error) {
      throw new BrokerUnavailableError('NATS', `storing a delayed message on queue ${this.name}`, {
        cause: error,
      });
    }
    return this.#publish(session, this.name, DELAYED, data, { headers: due, ...dedup });
  }

  /** Publishes with JetStream's ack: resolves once stored. */
  async #publish(
    session: Session,
    queue: string,
    token: string,
    data: Uint8Array,
    options?: { msgID?: string; headers?: MsgHdrs },
  ): Promise<void> {
    const { link, topology } = session;
    for (let retried = false; ; retried = true) {
      try {
        const ensured = topology.ensureConsumer(queue, token);
        if (ensured !== RESOLVED) await ensured;
        await link.js.publish(`${subjectPrefix(queue)}${token}`, data, options);
        return;
      } catch (error) {
        // No stream listens on the subject: it was deleted behind our back; create it again once.
        if (!retried && link.up && (error as Error)?.name === 'JetStreamNotEnabled') {
          topology.forget(queue);
          continue;
        }
        throw new BrokerUnavailableError('NATS', `storing a message on queue ${queue}`, { cause: error });
      }
    }
  }
}

class NatsIterator<T> implements AsyncIterator<Delivery<T>> {
  readonly #fetcher: Fetcher;
  #returned: boolean;

  constructor(fetcher: Fetcher, closed: boolean) {
    this.#fetcher = fetcher;
    this.#returned = closed;
    if (!closed) fetcher.attach(this);
  }

  next(): Promise<IteratorResult<Delivery<T>>> {
    if (this.#returned) return DONE_PROMISE;
    return this.#fetcher.next(this) as Promise<IteratorResult<Delivery<T>>>;
  }

  return(): Promise<IteratorResult<Delivery<T>>> {
    if (!this.#returned) {
      this.#returned = true;
      this.#fetcher.detach(this);
    }
    return DONE_PROMISE;
  }
}

/**
 * The dead-letter copy's `Nats-Msg-Id` is made of the envelope's id, so it must be the same on every
 * delivery: an envelope a foreign producer sent without one is named by its stream and sequence.
 */
function withId(envelope: ReceivedEnvelope, stream: string, raw: Msg): Envelope {
  if (envelope.id !== undefined) return envelope as Envelope;
  return { ...envelope, id: storedId(stream, raw) } as Envelope;
}

/** The same on every delivery of a stored message (so is a body that is no envelope at all). */
function storedId(stream: string, raw: Msg): string {
  return `${stream}:${streamSequence(raw.reply)}`;
}
