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
  constructor(
    private readonly owner: DeliveryOwner<NatsDelivery<T>>,
    private readonly stream: string,
    private readonly check: MessageCheck<T> | undefined,
    private readonly deadLetters: DeadLetters,
  ) {}

  admit(raw: Msg, priority: number, attempt: number): Admitted<T> {
    const body = decoder.decode(raw.data);
    // A thunk, not the id: it is read from the ack subject, and only a body without an id needs it.
    const admission = admit(body, this.check, () => storedId(this.stream, raw));
    if (admission instanceof Promise) {
      return admission.then((settled) => this.#deliver(raw, body, priority, attempt, settled));
    }
    return this.#deliver(raw, body, priority, attempt, admission);
  }

  #deliver(
    raw: Msg,
    body: string,
    priority: number,
    attempt: number,
    admission: Admission<T>,
  ): NatsDelivery<T> | undefined {
    if (!admission.admitted) {
      const { replacement, id, reason } = admission;
      // Not stored: the message stays in the stream and comes back after ack_wait, to try again.
      void this.deadLetters
        .deadLetter(raw, priority, replacement ?? body, id, reason, attempt)
        .catch(() => {});
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
      envelope.group,
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
