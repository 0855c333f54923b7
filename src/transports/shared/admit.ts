import type { ValidationError } from '../../errors.js';
import { decodeEnvelope, type Envelope, type ReceivedEnvelope, wrapUndecodable } from './envelope.js';
import type { MessageCheck } from './message-schema.js';
import { boundedReason, invalidMessageReason } from './reasons.js';

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
  /**
   * What to store on the dead-letter queue instead of the body as received, or `undefined` to keep
   * it: an undecodable body wrapped in an envelope, or an envelope that had no id with its stored id
   * written in (so every copy keeps one id).
   */
  readonly replacement: string | undefined;
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
  storedId: string | (() => string),
): Admission<T> | Promise<Admission<T>> {
  let received: ReceivedEnvelope;
  try {
    received = decodeEnvelope(body);
  } catch (error) {
    const id = typeof storedId === 'string' ? storedId : storedId();
    const reason = boundedReason((error as ValidationError).message);
    return { admitted: false, reason, id, replacement: JSON.stringify(wrapUndecodable(body, id)) };
  }
  const named = received.id !== undefined;
  const envelope = named
    ? (received as Envelope)
    : { ...received, id: typeof storedId === 'string' ? storedId : storedId() };
  if (check === undefined) return { admitted: true, envelope, message: envelope.payload as T };
  try {
    const checked = check(envelope.payload);
    if (checked instanceof Promise) {
      return checked.then(
        (message) => ({ admitted: true, envelope, message }),
        (error) => refuse(body, envelope.id, named, error),
      );
    }
    return { admitted: true, envelope, message: checked };
  } catch (error) {
    return refuse(body, envelope.id, named, error);
  }
}

function refuse(body: string, id: string, named: boolean, error: unknown): Refused {
  return {
    admitted: false,
    reason: invalidMessageReason(error),
    id,
    replacement: named ? undefined : withId(body, id),
  };
}

/**
 * `body`, an envelope without a usable id, with `"id"` appended as its last member: the rest stays
 * byte for byte as the producer wrote it (JSON.parse keeps the last of repeated names).
 */
function withId(body: string, id: string): string {
  const end = body.lastIndexOf('}');
  return `${body.slice(0, end)},"id":${JSON.stringify(id)}${body.slice(end)}`;
}
