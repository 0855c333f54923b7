import { randomUUID } from 'node:crypto';
import { SerializationError } from '../../errors.js';

/**
 * The wire format, JSON in the message body (content type application/json), shared with the other
 * adapters: `payload` is the message as sent, `type` its `type` when it has one, `attempt` the
 * delivery this copy is for (a retry is published as a new copy with `attempt + 1`). Foreign
 * producers may leave out `type` and `headers`.
 */
export interface Envelope {
  readonly id: string;
  readonly type: string | null;
  readonly attempt: number;
  readonly headers: Record<string, unknown>;
  readonly payload: unknown;
}

export function encodeNew(queue: string, message: unknown): Buffer {
  if (message === undefined) throw new SerializationError(`queue ${queue} cannot carry undefined: not JSON`);
  const type = (message as { type?: unknown } | null)?.type;
  const envelope: Envelope = {
    id: randomUUID(),
    type: typeof type === 'string' ? type : null,
    attempt: 1,
    headers: {},
    payload: message,
  };
  try {
    return Buffer.from(JSON.stringify(envelope));
  } catch (error) {
    throw new SerializationError(`a message sent to queue ${queue} is not JSON-serialisable`, {
      cause: error,
    });
  }
}

/**
 * A body that is not an envelope, wrapped into one (its payload the body as text) so that the
 * dead-letter queue, itself a sluice queue, hands it out as a string message.
 */
export function wrapForeign(body: Buffer): Buffer {
  return encode({ id: randomUUID(), type: null, attempt: 1, headers: {}, payload: body.toString() });
}

export function encode(envelope: Envelope): Buffer {
  return Buffer.from(JSON.stringify(envelope));
}

/** The envelope, or why the body is not one (the reason a foreign message is dead-lettered with). */
export function decode(body: Buffer): Envelope | string {
  let value: unknown;
  try {
    value = JSON.parse(body.toString());
  } catch (error) {
    return `undecodable body: ${(error as Error).message}`;
  }
  const envelope = value as Partial<Envelope> | null;
  if (envelope === null || typeof envelope !== 'object') return 'undecodable body: not a sluice envelope';
  if (typeof envelope.id !== 'string') return 'undecodable envelope: id is not a string';
  if (!Number.isInteger(envelope.attempt) || envelope.attempt! < 1) {
    return 'undecodable envelope: attempt is not an integer ≥ 1';
  }
  if (!('payload' in envelope)) return 'undecodable envelope: payload is missing';
  const { type = null, headers = {} } = envelope;
  if (type !== null && typeof type !== 'string') return 'undecodable envelope: type is not a string';
  if (headers === null || typeof headers !== 'object')
    return 'undecodable envelope: headers is not an object';
  if (envelope.type === type && envelope.headers === headers) return envelope as Envelope;
  return { ...(envelope as Envelope), type, headers }; // a foreign producer may leave them out
}
