import { describe, MessageTooLargeError, SerializationError, ValidationError } from '../../errors.js';
import { MAX_GROUP_BYTES } from '../../queuing/flow-options.js';
import { MAX_NESTING, nestedDeeperThan, serializationProblem } from '../../queuing/json.js';
import { storableTextProblem } from '../../queuing/text-rules.js';
import type { SendOptions } from '../../queuing/types.js';
import { uniqueId } from '../../queuing/unique-id.js';

/**
 * The wire envelope, the same in every broker adapter (docs/wire-protocol.md is its specification):
 * one JSON document per message,
 *
 *   { "id": string, "type"?: string, "attempt"?: number, "headers"?: object, "group"?: string,
 *     "payload": <message> }
 *
 * - `payload` is the message as sent; `type` is `message.type` when that is a string.
 * - `id` is unique, given when the message is sent (`uniqueId()`); retries and dead-lettered copies
 *   keep it. Receivers treat it as an opaque string.
 * - `attempt` is 1 when sent. Where the broker counts deliveries itself (a Redis stream entry's
 *   `attempt` field, the PostgreSQL row's `attempt` column, JetStream's delivery count) that count is
 *   the attempt and this one is not read; RabbitMQ counts in the envelope (a retry is a new copy with
 *   `attempt + 1`).
 * - `headers` are the producer's (e.g. a trace parent).
 * - `group` is the message's group (SPEC § 7); left out for the default group. A broker that serves
 *   groups from their own structures (a key, a column, a subject) stores the message there too.
 * - Fields at their defaults (no type, attempt 1, no headers, no group) are left out when sending: a small body
 *   is cheaper for every broker to store, copy and parse.
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
  /** The message's group; undefined for the default group (and for one a foreign producer mistyped). */
  readonly group: string | undefined;
  readonly payload: unknown;
}

/** An envelope as received: a foreign producer may have left out (or mistyped) all but `payload`. */
export interface ReceivedEnvelope extends Omit<Envelope, 'id'> {
  /** The `id` when it is a non-empty string. */
  readonly id: string | undefined;
}

/**
 * The send hot path: builds the envelope by hand around one JSON.stringify of the message, rather
 * than stringifying an envelope object. `id` must need no JSON escaping.
 *
 * Refuses, naming the path, a message that would not arrive equal to what was sent (NaN, a Date, a
 * class instance, a function...), and one whose body is over `maxMessageSize` bytes.
 */
export function encodeEnvelope(
  message: unknown,
  queue: string,
  maxMessageSize: number,
  options?: Pick<SendOptions, 'headers' | 'group'>,
  id: string = uniqueId(),
): string {
  const problem = serializationProblem(message, 'message');
  if (problem !== undefined) {
    throw new SerializationError(`a message sent to queue ${queue} was refused: ${problem}`);
  }
  const payload = JSON.stringify(message);
  if (payload === undefined) {
    throw new SerializationError(
      `a message sent to queue ${queue} is not JSON-serialisable: ${describe(message)}`,
    );
  }
  const type = (message as { type?: unknown } | null)?.type;
  const typeField = typeof type === 'string' ? `"type":${JSON.stringify(type)},` : '';
  const headers = options?.headers;
  const group = options?.group;
  const headersField = headers === undefined ? '' : headersJson(headers);
  const groupField = group === undefined ? '' : `"group":${JSON.stringify(group)},`;
  const body = `{"id":"${id}",${typeField}${headersField}${groupField}"payload":${payload}}`;
  // A UTF-8 byte is at most 3 per UTF-16 code unit: short bodies need no count.
  if (body.length * 3 > maxMessageSize) {
    const size = Buffer.byteLength(body);
    if (size > maxMessageSize) throw new MessageTooLargeError(queue, size, maxMessageSize);
  }
  return body;
}

/** The `"headers":{…},` field; empty for no headers, which are left out like every default. */
function headersJson(headers: Readonly<Record<string, string>>): string {
  for (const _ in headers) return `"headers":${JSON.stringify(headers)},`;
  return '';
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
  const { id, type, attempt = 1, headers, group, payload } = value as Record<string, unknown>;
  if (!Number.isInteger(attempt) || (attempt as number) < 1) {
    throw new ValidationError(`undecodable body: attempt ${describe(attempt)} is not an integer ≥ 1`);
  }
  if (nestedDeeperThan(payload, MAX_NESTING) || nestedDeeperThan(headers, MAX_NESTING)) {
    throw new ValidationError(`undecodable body: nested deeper than ${MAX_NESTING} levels`);
  }
  return {
    id: typeof id === 'string' && id.length > 0 ? id : undefined,
    type: typeof type === 'string' ? type : null,
    attempt: attempt as number,
    headers: isRecord(headers) ? headers : {},
    group: isGroup(group) ? group : undefined,
    payload,
  };
}

/** A group as `assertGroup` would accept it; a foreign producer's mistyped one is the default group. */
function isGroup(value: unknown): value is string {
  return storableTextProblem(value, 'group', MAX_GROUP_BYTES) === undefined;
}

/** The envelope a body that is not one is dead-lettered in: its payload is the body as text. */
export function wrapUndecodable(body: string, id: string = uniqueId()): Envelope {
  return { id, type: null, attempt: 1, headers: {}, group: undefined, payload: body };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
