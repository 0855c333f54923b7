import type { ValidationError } from '../../errors.js';
import { decodeEnvelope, type Envelope, type ReceivedEnvelope, wrapUndecodable } from './envelope.js';
import type { MessageCheck } from './message-schema.js';
import { invalidMessageReason } from './reasons.js';

/** A received body that may be handed out: its envelope (with an id) and the checked message. */
export interface Admitted<T> {
  readonly admitted: true;
  readonly envelope: Envelope;
  readonly message: T;
}

/** A received body that must be dead-lettered instead. */
export interface Refused {
  readonly admitted: false;
  /** In the one wording of reasons (see reasons.ts). */
  readonly reason: string;
  /** The envelope's id, or the stored id for a body without one. */
  readonly id: string;
  /** What to store on the dead-letter queue: the body as received, or an undecodable one wrapped. */
  readonly body: string;
}

export type Admission<T> = Admitted<T> | Refused;

/**
 * The decode-and-admit step every broker consumer runs on a received body: decode the envelope,
 * give an envelope without `id` the broker's stored id (the same on every redelivery), run the
 * queue's schema. A promise only for an asynchronous Standard Schema.
 */
export function admit<T>(
  body: string,
  check: MessageCheck<T> | undefined,
  storedId: () => string,
): Admission<T> | Promise<Admission<T>> {
  let received: ReceivedEnvelope;
  try {
    received = decodeEnvelope(body);
  } catch (error) {
    const id = storedId();
    const reason = (error as ValidationError).message;
    return { admitted: false, reason, id, body: JSON.stringify(wrapUndecodable(body, id)) };
  }
  const envelope = received.id === undefined ? { ...received, id: storedId() } : (received as Envelope);
  if (check === undefined) return { admitted: true, envelope, message: envelope.payload as T };
  try {
    const checked = check(envelope.payload);
    if (checked instanceof Promise) {
      return checked.then(
        (message) => ({ admitted: true, envelope, message }),
        (error) => refuse(envelope, body, error),
      );
    }
    return { admitted: true, envelope, message: checked };
  } catch (error) {
    return refuse(envelope, body, error);
  }
}

function refuse(envelope: Envelope, body: string, error: unknown): Refused {
  return { admitted: false, reason: invalidMessageReason(error), id: envelope.id, body };
}
