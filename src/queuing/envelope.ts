import { describe, SerializationError, ValidationError } from '../errors.js';
import { uniqueId } from './unique-id.js';

/**
 * The wire envelope, the same in every broker adapter: one JSON document per message,
 *
 *   { "id": string, "type"?: string, "attempt"?: number, "headers"?: object, "payload": <message> }
 *
 * - `payload` is the message as sent; `type` is `message.type` when that is a string.
 * - `id` is unique, given when the message is sent (`uniqueId()`); retries and dead-lettered copies
 *   keep it. Receivers treat it as an opaque string.
 * - `attempt` is 1 when sent. Where the broker counts deliveries itself (a Redis stream entry's
 *   `attempt` field, the PostgreSQL row's `attempt` column, JetStream's delivery count) that count is
 *   the attempt and this one is not read; RabbitMQ counts in the envelope (a retry is a new copy with
 *   `attempt + 1`); a dead-lettered copy on NATS carries the attempt it failed.
 * - `headers` are the producer's (e.g. a trace parent); NATS adds the dead-letter reason there.
 * - Fields at their defaults (no type, attempt 1, no headers) are left out when sending: a small body
 *   is cheaper for every broker (RabbitMQ handles bodies under 64 bytes as Erlang heap binaries).
 *
 * On receive only `payload` is required, so producers in other languages may leave out the rest. A
 * body that is not an envelope is dead-lettered wrapped in one whose payload is the body as text, so
 * the dead-letter queue, itself a sluice queue, can still hand it out.
 */
export interface Envelope {
  readonly id: string;
  readonly type: string | null;
  readonly attempt: number;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly payload: unknown;
}

/** An envelope as received: a foreign producer may have left out (or mistyped) all but `payload`. */
export interface ReceivedEnvelope extends Omit<Envelope, 'id' | 'attempt'> {
  /** The `id` when it is a string. */
  readonly id: string | undefined;
  /** The `attempt`: 1 when left out, `undefined` when it is not an integer ≥ 1. */
  readonly attempt: number | undefined;
}

/**
 * The send hot path: builds the envelope by hand around one JSON.stringify of the message, rather
 * than stringifying an envelope object. `id` must need no JSON escaping.
 */
export function encodeEnvelope(message: unknown, queue: string, id: string = uniqueId()): string {
  let payload: string | undefined;
  try {
    payload = JSON.stringify(message);
  } catch (error) {
    throw new SerializationError(`a message sent to queue ${queue} is not JSON-serialisable`, {
      cause: error,
    });
  }
  if (payload === undefined) {
    throw new SerializationError(
      `a message sent to queue ${queue} is not JSON-serialisable: ${describe(message)}`,
    );
  }
  const type = (message as { type?: unknown } | null)?.type;
  const typeField = typeof type === 'string' ? `"type":${JSON.stringify(type)},` : '';
  return `{"id":"${id}",${typeField}"payload":${payload}}`;
}

/** Parses a body; throws a ValidationError whose message is why it is not an envelope. */
export function decodeEnvelope(body: string): ReceivedEnvelope {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new ValidationError(`undecodable body: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !('payload' in value)) {
    throw new ValidationError(
      'undecodable body: not a sluice envelope { id, type, attempt, headers, payload }',
    );
  }
  const { id, type, attempt, headers, payload } = value as Record<string, unknown>;
  return {
    id: typeof id === 'string' ? id : undefined,
    type: typeof type === 'string' ? type : null,
    attempt:
      attempt === undefined
        ? 1
        : Number.isInteger(attempt) && (attempt as number) >= 1
          ? (attempt as number)
          : undefined,
    headers: isRecord(headers) ? headers : {},
    payload,
  };
}

/** The envelope a body that is not one is dead-lettered in: its payload is the body as text. */
export function wrapUndecodable(body: string, id: string = uniqueId()): Envelope {
  return { id, type: null, attempt: 1, headers: {}, payload: body };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
