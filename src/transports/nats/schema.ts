import type { StandardSchemaV1 } from '@standard-schema/spec';
import { describe, InvalidOptionError } from '../../errors.js';

/** Something that validates a decoded message and returns it typed (a message definition has this). */
export interface MessageParser<T> {
  parse(value: unknown): T;
}

/** A message definition, an array of them (chosen by the message's `type`), or any Standard Schema. */
export type MessageSchema<T> =
  | MessageParser<T>
  | readonly (MessageParser<T> & { readonly type: string })[]
  | StandardSchemaV1<unknown, T>;

/** Returns the message, or throws an error whose message is the reason it is invalid. */
export type Check<T> = (message: unknown) => T | Promise<T>;

export function toCheck<T>(schema: MessageSchema<T> | undefined): Check<T> | undefined {
  if (schema === undefined) return undefined;
  if (Array.isArray(schema)) {
    const byType = new Map<string, MessageParser<T>>();
    for (const definition of schema) {
      if (typeof definition?.parse !== 'function' || typeof definition.type !== 'string') {
        throw new InvalidOptionError('schema', definition, 'message definitions (with type and parse)');
      }
      byType.set(definition.type, definition);
    }
    return (message) => {
      const type = (message as { type?: unknown } | null)?.type;
      const definition = typeof type === 'string' ? byType.get(type) : undefined;
      if (definition === undefined) throw new Error(`no schema for message type ${describe(type)}`);
      return definition.parse(message);
    };
  }
  const standard = (schema as Partial<StandardSchemaV1<unknown, T>>)['~standard'];
  if (typeof standard?.validate === 'function') return (message) => validate(standard, message);
  const parser = schema as Partial<MessageParser<T>>;
  if (typeof parser.parse === 'function') return (message) => parser.parse!(message);
  throw new InvalidOptionError(
    'schema',
    schema,
    'a message definition, an array of them or a Standard Schema',
  );
}

async function validate<T>(standard: StandardSchemaV1.Props<unknown, T>, message: unknown): Promise<T> {
  const result = await standard.validate(message);
  if (result.issues) throw new Error(result.issues.map((issue) => issue.message).join('; '));
  return result.value;
}
