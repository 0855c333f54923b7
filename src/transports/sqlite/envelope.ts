import { randomUUID } from 'node:crypto';
import { SerializationError } from '../../errors.js';

/**
 * The wire envelope, shared with the other adapters:
 * `{ "id": string, "type": string | null, "attempt": number, "headers": object, "payload": <message> }`.
 * In SQLite the row's `attempt` column is authoritative; the envelope's `attempt` is what the
 * producer wrote (1) and is not read back.
 */
export interface Envelope {
  id: string;
  type: string | null;
  attempt: number;
  headers: Record<string, unknown>;
  payload: unknown;
}

/** Builds the stored body as text directly, so the message is serialised once. */
export function encode(queue: string, message: unknown): string {
  let payload: string | undefined;
  try {
    payload = JSON.stringify(message);
  } catch (cause) {
    throw new SerializationError(`a message sent to queue ${queue} is not JSON-serialisable`, { cause });
  }
  if (payload === undefined) {
    throw new SerializationError(
      `a message sent to queue ${queue} is not JSON-serialisable (got ${typeof message})`,
    );
  }
  const type = (message as { type?: unknown } | null)?.type;
  const typeJson = typeof type === 'string' ? JSON.stringify(type) : 'null';
  return `{"id":"${randomUUID()}","type":${typeJson},"attempt":1,"headers":{},"payload":${payload}}`;
}

/** Wraps a body that is not an envelope so the dead-letter queue can still hand it out (as a string). */
export function wrapForeign(body: string): string {
  return `{"id":"${randomUUID()}","type":null,"attempt":1,"headers":{},"payload":${JSON.stringify(body)}}`;
}

export type Decoded = { ok: true; envelope: Envelope } | { ok: false; reason: string };

/** Parses a stored body. Anything that is not a JSON object with a `payload` is undecodable. */
export function decode(body: string): Decoded {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    return { ok: false, reason: `undecodable message: ${(error as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !('payload' in value)) {
    return {
      ok: false,
      reason: 'undecodable message: not a sluice envelope { id, type, attempt, headers, payload }',
    };
  }
  return { ok: true, envelope: value as Envelope };
}
