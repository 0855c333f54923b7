import { randomUUID } from 'node:crypto';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { describe, InvalidOptionError, SerializationError, ValidationError } from '../../errors.js';

/**
 * The wire envelope, stored as JSON text in the `body` column:
 * `{ "id": string, "type": string | null, "attempt": number, "headers": object, "payload": <message> }`.
 * `payload` is the message as sent. On receive only `payload` is required (a foreign producer may
 * omit the rest); the row's `attempt` column, not the envelope's, counts deliveries.
 */
export function encode(message: unknown, queue: string): string {
  if (message === undefined || typeof message === 'function' || typeof message === 'symbol') {
    throw new SerializationError(`message for queue ${queue} is not JSON-serialisable: ${describe(message)}`);
  }
  const type = (message as { type?: unknown } | null)?.type;
  try {
    return JSON.stringify({
      id: randomUUID(),
      type: typeof type === 'string' ? type : null,
      attempt: 1,
      headers: {},
      payload: message,
    });
  } catch (error) {
    throw new SerializationError(`message for queue ${queue} is not JSON-serialisable`, { cause: error });
  }
}

/** A message definition (defineCommand...) as far as decoding needs it. */
export interface MessageDefinitionLike<T> {
  readonly type: string;
  parse(value: unknown): T;
}

/** What `schema` accepts: a Standard Schema (zod, valibot...), a definition, or definitions matched by `type`. */
export type MessageSchema<T> =
  | StandardSchemaV1<unknown, T>
  | MessageDefinitionLike<T>
  | readonly MessageDefinitionLike<T>[];

/**
 * A body that is not an envelope at all. It is dead-lettered wrapped in a new envelope whose payload
 * is the body as it was stored, so the dead-letter queue can still be read with sluice.
 */
export class NotAnEnvelopeError extends ValidationError {}

/** Turns a stored body into a message, or throws a ValidationError saying why it cannot be delivered. */
export type Decoder<T> = (body: string) => T | Promise<T>;

export function decoder<T>(schema: MessageSchema<T> | undefined, queue: string): Decoder<T> {
  const validate = validator(schema, queue);
  return (body) => {
    let envelope: unknown;
    try {
      envelope = JSON.parse(body);
    } catch (error) {
      throw new NotAnEnvelopeError(`message on queue ${queue} is not JSON: ${(error as Error).message}`);
    }
    if (envelope === null || typeof envelope !== 'object' || !('payload' in envelope)) {
      throw new NotAnEnvelopeError(
        `message on queue ${queue} is not a sluice envelope { id, type, attempt, headers, payload }`,
      );
    }
    const message = (envelope as { payload: unknown }).payload;
    return validate ? validate(message) : (message as T);
  };
}

function validator<T>(
  schema: MessageSchema<T> | undefined,
  queue: string,
): ((message: unknown) => T | Promise<T>) | undefined {
  if (schema === undefined) return undefined;
  if (isStandardSchema(schema)) {
    return (message) => {
      const result = schema['~standard'].validate(message);
      return result instanceof Promise
        ? result.then((r) => standardResult(r, queue))
        : standardResult(result, queue);
    };
  }
  const definitions = Array.isArray(schema) ? schema : [schema];
  if (!definitions.every(isDefinition)) {
    throw new InvalidOptionError(
      'schema',
      schema,
      'a message definition, an array of them, or a Standard Schema (zod, valibot, arktype...)',
    );
  }
  const byType = new Map(definitions.map((definition) => [definition.type, definition]));
  return (message) => {
    const type = (message as { type?: unknown } | null)?.type;
    const definition = typeof type === 'string' ? byType.get(type) : undefined;
    if (definition === undefined) {
      throw new ValidationError(`message on queue ${queue} has no known type: ${describe(type)}`);
    }
    return definition.parse(message) as T;
  };
}

function standardResult<T>(result: StandardSchemaV1.Result<T>, queue: string): T {
  if (result.issues === undefined) return result.value;
  const summary = result.issues.map((issue) => issue.message).join('; ');
  throw new ValidationError(`message on queue ${queue} failed its schema: ${summary}`, result.issues);
}

function isStandardSchema<T>(schema: unknown): schema is StandardSchemaV1<unknown, T> {
  return typeof (schema as StandardSchemaV1 | null)?.['~standard']?.validate === 'function';
}

function isDefinition<T>(value: unknown): value is MessageDefinitionLike<T> {
  const definition = value as Partial<MessageDefinitionLike<T>> | null;
  return typeof definition?.type === 'string' && typeof definition.parse === 'function';
}
