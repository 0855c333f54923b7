import { headers, type MsgHdrs } from '@nats-io/transport-node';
import { BrokerUnavailableError, MessageTooLargeError } from '../../errors.js';
import { RESOLVED } from '../../queuing/settled.js';
import type { SendOptions } from '../../queuing/types.js';
import { assertBrokerSendOptions } from '../shared/broker-options.js';
import { encodeEnvelope } from '../shared/envelope.js';
import type { UnderWay } from '../shared/under-way.js';
import { deadLetterRoom } from './dead-letter-room.js';
import { NatsTopologyError } from './errors.js';
import { msgIdOf } from './keys.js';
import {
  bandToken,
  DELAYED,
  DUE_HEADER,
  groupToken,
  MSG_ID_HEADER,
  PRIORITY_HEADER,
  readySubject,
  streamName,
  subjectPrefix,
} from './names.js';
import type { LazySession, Session } from './session.js';

const encoder = new TextEncoder();

/**
 * The send side of a NatsQueue: a message goes to its band's subject (its group's band's, when it
 * has a group: see groupToken), or with a delay to the delayed subject with its due time and band
 * in headers (see delayed.ts); a `key` is its `Nats-Msg-Id` (see keys.ts).
 *
 * A body is refused over `maxMessageSize` (default the server's `max_payload`) and over `max_payload`
 * less the room a dead-letter copy adds (see deadLetterRoom): a message the server stores but whose
 * copy it refuses could never be dead-lettered.
 */
export class NatsProducer<T> {
  readonly #name: string;
  /** The user's, or none (the server's `max_payload` applies). */
  readonly #maxMessageSize: number;
  readonly #maxDelay: number;
  readonly #deadLetterRoom: number;
  readonly #session: LazySession;
  readonly #busy: UnderWay;

  constructor(
    name: string,
    limits: { readonly maxMessageSize: number | undefined; readonly maxDelay: number },
    session: LazySession,
    busy: UnderWay,
  ) {
    this.#name = name;
    this.#maxMessageSize = limits.maxMessageSize ?? Number.POSITIVE_INFINITY;
    this.#maxDelay = limits.maxDelay;
    this.#deadLetterRoom = deadLetterRoom(streamName(name));
    this.#session = session;
    this.#busy = busy;
  }

  send(message: T, options?: SendOptions): Promise<void> {
    if (options !== undefined) {
      try {
        assertBrokerSendOptions(options, this.#maxDelay, this.#name);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#busy.add(this.#store(message, options ?? {}));
  }

  async #store(message: T, options: SendOptions): Promise<void> {
    const { priority = 0, delay = 0, key, group } = options;
    const session = this.#session.ready ?? (await this.#session.get());
    const { connection, topology } = session;
    if (!connection.up) {
      throw new BrokerUnavailableError('NATS', `send to queue ${this.#name} (disconnected)`);
    }
    const limit = Math.min(this.#maxMessageSize, connection.maxPayload - this.#deadLetterRoom);
    const data = encoder.encode(encodeEnvelope(message, this.#name, limit, options));
    const band = group === undefined ? bandToken(priority) : groupToken(priority, group);
    const dedup = key === undefined ? {} : { msgID: msgIdOf(key) };
    if (delay === 0) {
      if (group === undefined) return publish(session, this.#name, band, data, dedup);
      await publish(session, this.#name, band, data, dedup);
      return nudge(session, this.#name, band);
    }
    const due = headers();
    due.set(DUE_HEADER, String(Date.now() + delay));
    due.set(PRIORITY_HEADER, String(priority));
    try {
      await topology.ensureConsumer(this.#name, band); // so consumers know the band before it is due
    } catch (error) {
      if (error instanceof NatsTopologyError) throw error;
      throw new BrokerUnavailableError('NATS', `storing a delayed message on queue ${this.#name}`, {
        cause: error,
      });
    }
    return publish(session, this.#name, DELAYED, data, { headers: due, ...dedup });
  }
}

export interface PublishOptions {
  readonly msgID?: string;
  readonly headers?: MsgHdrs;
}

/**
 * Publishes with JetStream's ack: resolves once stored. The stream and the subject's consumer are
 * ensured first (so consumers find a new band), and once more if the stream was deleted behind our
 * back. Rejects NatsTopologyError when they cannot be, MessageTooLargeError when the server's
 * `max_payload` refuses the message with its headers, else BrokerUnavailableError.
 */
export async function publish(
  session: Session,
  queue: string,
  token: string,
  data: Uint8Array,
  options?: PublishOptions,
): Promise<void> {
  const { connection, topology } = session;
  for (let retried = false; ; retried = true) {
    try {
      const ensured = topology.ensureConsumer(queue, token);
      if (ensured !== RESOLVED) await ensured;
      await connection.js.publish(`${subjectPrefix(queue)}${token}`, data, options);
      return;
    } catch (error) {
      if (error instanceof NatsTopologyError) throw error;
      // No stream listens on the subject: it was deleted behind our back; create it again once.
      if (!retried && connection.up && (error as Error)?.name === 'JetStreamNotEnabled') {
        topology.forget(queue);
        continue;
      }
      if (overMaxPayload(error)) {
        throw new MessageTooLargeError(queue, publishedSize(data, options), connection.maxPayload);
      }
      throw new BrokerUnavailableError('NATS', `storing a message on queue ${queue}`, { cause: error });
    }
  }
}

/** Tells consumers that a group's band got a message (see GroupFetch); a lost nudge costs a tick. */
export function nudge(session: Session, queue: string, token: string): void {
  try {
    session.connection.nc.publish(readySubject(queue), token);
  } catch {
    // The connection is closing: consumers find the message at their next look.
  }
}

/** The client refuses, before sending, a message whose body and headers are over `max_payload`. */
function overMaxPayload(error: unknown): boolean {
  return (error as Error)?.name === 'InvalidArgumentError' && /max_payload/.test((error as Error).message);
}

/** What the client counted against `max_payload`: the body and the header block it would have sent. */
function publishedSize(data: Uint8Array, options: PublishOptions | undefined): number {
  let lines = '';
  for (const [name, values] of options?.headers ?? [])
    for (const value of values) lines += `${name}: ${value}\r\n`;
  if (options?.msgID !== undefined) lines += `${MSG_ID_HEADER}: ${options.msgID}\r\n`;
  return data.length + (lines === '' ? 0 : Buffer.byteLength(`NATS/1.0\r\n${lines}\r\n`));
}
