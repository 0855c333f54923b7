import type { StandardSchemaV1 } from '@standard-schema/spec';
import { InvalidOptionError, ValidationError } from '../../errors.js';

/** A message definition (`defineCommand(...)` etc.): anything with a `type` and a validating `parse`. */
export interface MessageParser {
  readonly type: string;
  parse(value: unknown): unknown;
}

/** What `schema` accepts: a definition, several (matched by `type`), or any Standard Schema. */
export type MessageSchema = MessageParser | readonly MessageParser[] | StandardSchemaV1;

/** Returns the validated message, or a promise of it for an asynchronous Standard Schema; throws if invalid. */
export type Validate = (message: unknown) => unknown;

export function compileSchema(schema: unknown): Validate | undefined {
  if (schema === undefined) return undefined;
  // Standard Schema first: a zod schema also has `parse` and a string `type`.
  const standard = (schema as Partial<StandardSchemaV1> | null)?.['~standard'];
  if (typeof standard?.validate === 'function') {
    return (message) => {
      const result = standard.validate(message);
      return result instanceof Promise ? result.then(unwrap) : unwrap(result);
    };
  }
  if (isParser(schema)) return (message) => schema.parse(message);
  if (Array.isArray(schema) && schema.length > 0 && schema.every(isParser)) {
    const byType = new Map(schema.map((parser) => [parser.type, parser]));
    return (message) => {
      const type = (message as { type?: unknown } | null)?.type;
      const parser = typeof type === 'string' ? byType.get(type) : undefined;
      if (parser === undefined) {
        throw new ValidationError(`no definition for message type ${JSON.stringify(type)}`);
      }
      return parser.parse(message);
    };
  }
  throw new InvalidOptionError(
    'schema',
    schema,
    'a message definition, an array of them, or a Standard Schema (zod, valibot, arktype, ...)',
  );
}

function isParser(value: unknown): value is MessageParser {
  const parser = value as Partial<MessageParser> | null;
  return typeof parser?.parse === 'function' && typeof parser.type === 'string';
}

function unwrap(result: StandardSchemaV1.Result<unknown>): unknown {
  if (result.issues) {
    const summary = result.issues.map((issue) => issue.message).join('; ');
    throw new ValidationError(`invalid message: ${summary}`, result.issues);
  }
  return result.value;
}
