import type { Channel, GetMessage } from 'amqplib';
import type { DeadLetter } from '../../queuing/operations.js';
import { type Admission, admit } from '../shared/admit.js';
import type { Envelope } from '../shared/envelope.js';
import type { MessageProperties } from './publisher.js';
import { storedId } from './received.js';
import { DEAD_AT_HEADER, REASON_HEADER } from './topology.js';

/** A dead letter as read, with what a redrive publishes. */
export interface ReadLetter<T> extends DeadLetter<T> {
  readonly raw: GetMessage;
  readonly envelope: Envelope;
}

/** How often `release` looks at the count, and how long it waits for it to grow before giving up. */
const REQUEUE_POLL = 20;
const REQUEUE_STALL = 1_000;

/**
 * Reads a dead-letter queue from its head with `basic.get`, holding each message unacknowledged so
 * that the next read returns the one behind it; `release` hands back what was not acked, and
 * RabbitMQ puts each back at its place (reading neither loses nor reorders anything, but marks the
 * letters redelivered). It reads at most what the queue held when it started, so that letters
 * arriving meanwhile (a redriven message failing again) cannot keep it going for ever.
 */
export class DeadLetterReader<T> {
  readonly #held: number;
  #read = 0;
  #acked = 0;

  constructor(
    private readonly channel: Channel,
    private readonly queue: string,
    held: number,
  ) {
    this.#held = held;
  }

  /** The next letter, or undefined at the end. */
  async next(): Promise<ReadLetter<T> | undefined> {
    if (this.#read >= this.#held) return undefined;
    this.#read++;
    const raw = await this.channel.get(this.queue, { noAck: false });
    return raw === false ? undefined : readLetter<T>(raw);
  }

  /** Deletes a letter read. */
  ack(letter: ReadLetter<T>): void {
    this.channel.ack(letter.raw);
    this.#acked++;
  }

  /**
   * Hands back every letter read and not acked, and waits until the queue counts them again: RabbitMQ
   * requeues them a few at a time after answering, so a scan started at once would see too few and
   * could find them out of place. It stops waiting once the count no longer grows (another consumer
   * of the dead-letter queue may keep it lower for ever).
   */
  async release(): Promise<void> {
    this.channel.nackAll(true);
    const expected = this.#held - this.#acked;
    let count = -1;
    let grew = Date.now();
    for (;;) {
      const now = (await this.channel.checkQueue(this.queue)).messageCount;
      if (now >= expected) return;
      if (now > count) [count, grew] = [now, Date.now()];
      else if (Date.now() - grew > REQUEUE_STALL) return;
      await new Promise((resolve) => setTimeout(resolve, REQUEUE_POLL));
    }
  }
}

function readLetter<T>(raw: GetMessage): ReadLetter<T> {
  const admission = admit<T>(raw.content.toString(), undefined, storedId(raw)) as Admission<T>;
  // A body that is no envelope (a foreign producer's) is shown as sluice would dead-letter it: as text.
  const envelope: Envelope = admission.admitted
    ? admission.envelope
    : {
        id: admission.id,
        type: null,
        attempt: 1,
        headers: {},
        group: undefined,
        payload: raw.content.toString(),
      };
  const headers = raw.properties.headers ?? {};
  const reason: unknown = headers[REASON_HEADER];
  return {
    id: envelope.id,
    message: envelope.payload as T,
    reason: typeof reason === 'string' ? reason : '',
    attempt: envelope.attempt,
    deadAt: deadAt(raw),
    raw,
    envelope,
  };
}

/**
 * When the letter was dead-lettered: its `x-sluice-dead-at` header, else the AMQP `timestamp`
 * property a foreign producer may have set (seconds), else 0: RabbitMQ itself keeps no time.
 */
function deadAt(raw: GetMessage): number {
  const header: unknown = raw.properties.headers?.[DEAD_AT_HEADER];
  if (typeof header === 'number' && Number.isFinite(header)) return header;
  const { timestamp } = raw.properties as { timestamp?: unknown };
  return typeof timestamp === 'number' && Number.isFinite(timestamp) ? timestamp * 1000 : 0;
}

/** The letter as `deadLetters` shows it. */
export function shown<T>({ id, message, reason, attempt, deadAt }: ReadLetter<T>): DeadLetter<T> {
  return { id, message, reason, attempt, deadAt };
}

/** The letter as a new message of the queue: attempt 1, without what dead-lettering added. */
export function redriven(letter: ReadLetter<unknown>): { body: Buffer; properties: MessageProperties } {
  const { attempt: _, ...rest } = letter.envelope;
  const { contentType, priority, headers } = letter.raw.properties;
  const kept = { ...headers };
  delete kept[REASON_HEADER];
  delete kept[DEAD_AT_HEADER];
  return { body: Buffer.from(JSON.stringify(rest)), properties: { contentType, priority, headers: kept } };
}
