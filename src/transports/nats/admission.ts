import type { Msg } from '@nats-io/transport-node';
import { type Admission, admit } from '../shared/admit.js';
import type { DeliveryOwner } from '../shared/delivery.js';
import type { MessageCheck } from '../shared/message-schema.js';
import { streamSequence } from './ack-protocol.js';
import type { DeadLetters } from './dead-letter.js';
import { NatsDelivery } from './delivery.js';
import { DEAD_REASON_HEADER } from './names.js';

const decoder = new TextDecoder();

/** A delivery to hand out, a schema check under way, or undefined: it was dead-lettered instead. */
export type Admitted<T> = NatsDelivery<T> | Promise<NatsDelivery<T> | undefined> | undefined;

/**
 * The decode-and-admit step of a NatsQueue consumer (shared/admit.ts) on a message from a band: a
 * delivery carrying the envelope's id and headers, and on a dead-letter queue the reason stored with
 * the copy; or a dead-lettering, with the reason, of a body that fails to decode or validate.
 */
export class NatsAdmission<T> {
  /** The message being admitted, read by `#storedId` (admit() calls it synchronously, if at all). */
  #raw: Msg | undefined;
  /** Made once rather than a closure per message. */
  readonly #storedId = () => storedId(this.stream, this.#raw!);

  constructor(
    private readonly owner: DeliveryOwner<NatsDelivery<T>>,
    private readonly stream: string,
    private readonly check: MessageCheck<T> | undefined,
    private readonly deadLetters: DeadLetters,
  ) {}

  admit(raw: Msg, priority: number, attempt: number): Admitted<T> {
    this.#raw = raw;
    const admission = admit(decoder.decode(raw.data), this.check, this.#storedId);
    this.#raw = undefined;
    if (admission instanceof Promise) return admission.then((a) => this.#deliver(raw, priority, attempt, a));
    return this.#deliver(raw, priority, attempt, admission);
  }

  #deliver(
    raw: Msg,
    priority: number,
    attempt: number,
    admission: Admission<T>,
  ): NatsDelivery<T> | undefined {
    if (!admission.admitted) {
      const { body, id, reason } = admission;
      void this.deadLetters.store(raw, priority, body, id, reason).catch(() => {}); // redelivered if not stored
      return undefined;
    }
    const { envelope, message } = admission;
    // Only a message with NATS headers (a key, a dead-letter copy) pays for reading them.
    const reason = raw.headers?.get(DEAD_REASON_HEADER) || undefined;
    return new NatsDelivery(
      this.owner,
      raw,
      priority,
      message,
      attempt,
      envelope.id,
      envelope.headers,
      reason,
    );
  }
}

/**
 * The id of a message sent without one: `<stream>:<stream sequence>`, the same on every delivery of
 * it (so is a body that is no envelope at all).
 */
export function storedId(stream: string, raw: Msg): string {
  return `${stream}:${streamSequence(raw.reply)}`;
}
