import type { StandardSchemaV1 } from '@standard-schema/spec';
import { InvalidOptionError } from '../../errors.js';

/** Something with a validating `parse`, like a message definition from `defineCommand`. */
export interface Parser<T = unknown> {
  parse(value: unknown): T;
}

/** A message definition, an array of them (matched by `type`), or any Standard Schema. */
export type MessageSchema<T = unknown> =
  | StandardSchemaV1<unknown, T>
  | Parser<T>
  | readonly (Parser & { readonly type: string })[];

export type Checked = { ok: true; message: unknown } | { ok: false; reason: string };

/** Returns the receive-side check for `schema`; it never throws, failures carry the reason. */
export function compileSchema(schema: unknown): (message: unknown) => Checked | Promise<Checked> {
  if (Array.isArray(schema)) return byType(schema);
  const standard = (schema as Partial<StandardSchemaV1> | null)?.['~standard'];
  if (typeof standard?.validate === 'function') return (message) => validate(standard, message);
  if (typeof (schema as Partial<Parser> | null)?.parse === 'function') {
    return (message) => parseWith(schema as Parser, message);
  }
  throw new InvalidOptionError(
    'schema',
    schema,
    'a message definition, an array of definitions, or a Standard Schema',
  );
}

function byType(definitions: unknown[]): (message: unknown) => Checked {
  const byName = new Map<string, Parser>();
  for (const definition of definitions) {
    const { type, parse } = (definition ?? {}) as Partial<Parser & { type: string }>;
    if (typeof type !== 'string' || typeof parse !== 'function') {
      throw new InvalidOptionError('schema', definition, 'message definitions with type and parse');
    }
    byName.set(type, definition as Parser);
  }
  return (message) => {
    const type = (message as { type?: unknown } | null)?.type;
    const definition = typeof type === 'string' ? byName.get(type) : undefined;
    if (definition === undefined) return { ok: false, reason: `no schema for message type ${String(type)}` };
    return parseWith(definition, message);
  };
}

function parseWith(parser: Parser, message: unknown): Checked {
  try {
    return { ok: true, message: parser.parse(message) };
  } catch (error) {
    return {
      ok: false,
      reason: `invalid message: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}

function validate(standard: StandardSchemaV1['~standard'], message: unknown): Checked | Promise<Checked> {
  let result: StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>>;
  try {
    result = standard.validate(message);
  } catch (error) {
    return {
      ok: false,
      reason: `invalid message: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  return result instanceof Promise
    ? result.then(fromResult, (error) => ({ ok: false, reason: `invalid message: ${String(error)}` }))
    : fromResult(result);
}

function fromResult(result: StandardSchemaV1.Result<unknown>): Checked {
  if (result.issues === undefined) return { ok: true, message: result.value };
  const summary = result.issues.map(formatIssue).join('; ');
  return { ok: false, reason: `invalid message: ${summary}` };
}

function formatIssue(issue: StandardSchemaV1.Issue): string {
  const path = issue.path?.map((segment) => (typeof segment === 'object' ? segment.key : segment)).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}
