import type { StandardSchemaV1 } from '@standard-schema/spec';
import { describe, InvalidOptionError, ValidationError } from '../../errors.js';

/** Anything with `parse` that throws on bad input, like a message definition from `defineCommand`. */
export interface Parser {
  parse(value: unknown): unknown;
}

/** A message definition, several (matched by the message's `type`), or any Standard Schema. */
export type MessageSchema = Parser | readonly (Parser & { readonly type: string })[] | StandardSchemaV1;

/** Returns the checked message, or throws (possibly asynchronously) why it is invalid. */
export type Check = (message: unknown) => unknown;

export function toCheck(schema: MessageSchema | undefined): Check | undefined {
  if (schema === undefined) return undefined;
  if (Array.isArray(schema)) return byType(schema);
  const standard = (schema as Partial<StandardSchemaV1>)['~standard'];
  if (typeof standard?.validate === 'function') return (message) => validate(standard, message);
  if (typeof (schema as Partial<Parser>).parse === 'function') {
    return (message) => (schema as Parser).parse(message);
  }
  throw new InvalidOptionError(
    'schema',
    schema,
    'a message definition, an array of them, or a Standard Schema',
  );
}

function byType(definitions: readonly (Parser & { readonly type: string })[]): Check {
  const parsers = new Map<string, Parser>();
  for (const definition of definitions) {
    if (typeof definition?.type !== 'string' || typeof definition.parse !== 'function') {
      throw new InvalidOptionError('schema', definition, 'a message definition (with type and parse)');
    }
    parsers.set(definition.type, definition);
  }
  return (message) => {
    const type = (message as { type?: unknown } | null)?.type;
    const parser = typeof type === 'string' ? parsers.get(type) : undefined;
    if (parser === undefined) throw new ValidationError(`no schema for message type ${describe(type)}`);
    return parser.parse(message);
  };
}

function validate(standard: StandardSchemaV1.Props, message: unknown): unknown {
  const result = standard.validate(message);
  return result instanceof Promise ? result.then(unwrap) : unwrap(result);
}

function unwrap(result: StandardSchemaV1.Result<unknown>): unknown {
  if (!result.issues) return result.value;
  const summary = result.issues.map((issue) => issue.message).join('; ');
  throw new ValidationError(`invalid message: ${summary}`, result.issues);
}
