import type { StandardSchemaV1 } from '@standard-schema/spec';
import { describe, InvalidOptionError, ValidationError } from '../../errors.js';

/** Anything with a `parse` that returns the message or throws, like a definition from `defineCommand`. */
export interface MessageParser<T = unknown> {
  /** Returns the checked message, or throws why `value` is not one (the dead-letter reason then). */
  parse(value: unknown): T;
}

/**
 * What a broker queue's `schema` option accepts, checked on receive: a message definition, an array
 * of them (a message goes to the one of its `type`), or any Standard Schema (zod, valibot, arktype...).
 * A message that fails it is dead-lettered with the reason, never handed out.
 */
export type MessageSchema<T = unknown> =
  | StandardSchemaV1<unknown, T>
  | MessageParser<T>
  | readonly (MessageParser<T> & {
      /** The message type this definition checks: the one whose `message.type` it is. */
      readonly type: string;
    })[];

/**
 * Returns the checked message (a promise only for an asynchronous Standard Schema), or throws why it
 * is invalid: a ValidationError naming what failed, or whatever a custom `parse` threw.
 */
export type MessageCheck<T> = (message: unknown) => T | Promise<T>;

/** Compiles the `schema` option once, so a bad one is rejected when the queue is constructed. */
export function compileMessageSchema<T>(schema: MessageSchema<T> | undefined): MessageCheck<T> | undefined {
  if (schema === undefined) return undefined;
  // Standard Schema first: a zod schema has a `parse` too, which throws zod's own error.
  const standard = (schema as Partial<StandardSchemaV1<unknown, T>> | null)?.['~standard'];
  if (typeof standard?.validate === 'function') return (message) => validate(standard, message);
  if (Array.isArray(schema)) return byType<T>(schema);
  if (typeof (schema as Partial<MessageParser<T>> | null)?.parse === 'function') {
    return (message) => (schema as MessageParser<T>).parse(message);
  }
  throw new InvalidOptionError(
    'schema',
    schema,
    'a message definition, an array of them, or a Standard Schema (zod, valibot, arktype, ...)',
  );
}

function byType<T>(definitions: readonly unknown[]): MessageCheck<T> {
  if (definitions.length === 0) {
    throw new InvalidOptionError('schema', definitions, 'at least one message definition');
  }
  const parsers = new Map<string, MessageParser<T>>();
  for (const definition of definitions) {
    const { type, parse } = (definition ?? {}) as Partial<MessageParser<T> & { type: string }>;
    if (typeof type !== 'string' || typeof parse !== 'function') {
      throw new InvalidOptionError('schema', definition, 'message definitions (with type and parse)');
    }
    parsers.set(type, definition as MessageParser<T>);
  }
  return (message) => {
    const type = (message as { type?: unknown } | null)?.type;
    const parser = typeof type === 'string' ? parsers.get(type) : undefined;
    if (parser === undefined) throw new ValidationError(`no schema for message type ${describe(type)}`);
    return parser.parse(message);
  };
}

function validate<T>(standard: StandardSchemaV1.Props<unknown, T>, message: unknown): T | Promise<T> {
  const result = standard.validate(message);
  return result instanceof Promise ? result.then(checkedValue) : checkedValue(result);
}

function checkedValue<T>(result: StandardSchemaV1.Result<T>): T {
  if (!result.issues) return result.value;
  throw new ValidationError(result.issues.map(describeIssue).join('; '), result.issues);
}

/** `quantity: Too small` rather than `Too small`: the path says which field failed. */
function describeIssue(issue: StandardSchemaV1.Issue): string {
  const path = issue.path?.map((segment) => String(typeof segment === 'object' ? segment.key : segment));
  return path?.length ? `${path.join('.')}: ${issue.message}` : issue.message;
}
