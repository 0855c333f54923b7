import { randomUUID } from 'node:crypto';
import { describe, SerializationError } from '../../errors.js';

/**
 * The wire envelope, one JSON document in the stream entry's `body` field:
 *   { "id": string, "type": string | null, "attempt": 1, "headers": {}, "payload": <message> }
 * The stream entry's own `attempt` field, when present, is the current attempt (redeliveries keep
 * the body byte for byte and count attempts beside it).
 */
export interface Envelope {
  readonly id: string;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly payload: unknown;
}

/** Encodes a message by hand around one JSON.stringify of the payload: the send hot path. */
export function encode(message: unknown, queue: string): string {
  let payload: string | undefined;
  try {
    payload = JSON.stringify(message);
  } catch (error) {
    throw new SerializationError(`a message sent to queue ${queue} is not JSON-serialisable`, {
      cause: error,
    });
  }
  if (payload === undefined) {
    throw new SerializationError(`a message sent to queue ${queue} is not JSON: ${describe(message)}`);
  }
  const type = (message as { type?: unknown } | null)?.type;
  const typeJson = typeof type === 'string' ? JSON.stringify(type) : 'null';
  return `{"id":"${randomUUID()}","type":${typeJson},"attempt":1,"headers":{},"payload":${payload}}`;
}

/** Parses a body; throws (with the reason) when it is not an envelope. */
export function decode(body: string, entryId: string): Envelope {
  const value = JSON.parse(body) as Partial<Envelope> | null;
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !('payload' in value)) {
    throw new Error('not an envelope: expected a JSON object with a "payload" field');
  }
  const headers = value.headers !== null && typeof value.headers === 'object' ? value.headers : {};
  return { id: typeof value.id === 'string' ? value.id : entryId, headers, payload: value.payload };
}

/**
 * What the dead-letter queue receives for a body that is not an envelope: an envelope whose payload
 * is that body as a string, so nothing is lost and the dead-letter queue can still be read.
 */
export function wrapRaw(body: string): string {
  return `{"id":"${randomUUID()}","type":null,"attempt":1,"headers":{},"payload":${JSON.stringify(body)}}`;
}
