import { randomUUID } from 'node:crypto';

/**
 * The wire format of a message, identical across sluice adapters: UTF-8 JSON
 * `{ "id": string, "type": string | null, "attempt": number, "headers": object, "payload": <message> }`.
 * `payload` is the message as sent, `type` is `message.type` when it has one, `attempt` is the number
 * of deliveries before this copy was stored (0 when sent; a dead-lettered copy carries the attempts
 * it failed). NATS itself tells the consumer the delivery count, so receiving ignores `attempt`.
 */
export interface Envelope {
  id: string;
  type: string | null;
  attempt: number;
  headers: Record<string, string>;
  payload: unknown;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function createEnvelope(message: unknown): Envelope {
  const type = (message as { type?: unknown } | null)?.type;
  return {
    id: randomUUID(),
    type: typeof type === 'string' ? type : null,
    attempt: 0,
    headers: {},
    payload: message,
  };
}

/** Throws when the message cannot be written as JSON (a BigInt, a cycle). */
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return encoder.encode(JSON.stringify(envelope));
}

/** Parses a body; throws an error whose message says why it is not an envelope. */
export function decodeEnvelope(body: Uint8Array): Envelope {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(body));
  } catch (error) {
    throw new Error(`undecodable body: ${(error as Error).message}`);
  }
  const envelope = value as Partial<Envelope> | null;
  if (
    envelope === null ||
    typeof envelope !== 'object' ||
    typeof envelope.id !== 'string' ||
    !('payload' in envelope)
  ) {
    throw new Error('undecodable body: not a sluice envelope { id, type, attempt, headers, payload }');
  }
  envelope.headers ??= {};
  return envelope as Envelope;
}

/** Wraps a body that is not an envelope so the dead-letter queue can still hand it out (as text). */
export function wrapForeignBody(body: Uint8Array): Envelope {
  return { id: randomUUID(), type: null, attempt: 0, headers: {}, payload: decoder.decode(body) };
}
