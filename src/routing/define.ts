import type { StandardSchemaV1 } from '@standard-schema/spec';
import { describe, InvalidOptionError, ValidationError } from '../errors.js';
import type {
  Command,
  CommandDefinition,
  Event,
  EventDefinition,
  Message,
  MessageDefinition,
  Query,
  QueryDefinition,
} from './message.js';

/**
 * Defines a command type. With a schema, the payload type is inferred from it and checked on creation:
 * the factory takes the schema's input type and the message carries its output (defaults applied).
 * To give the result type too, pass the schema's type first: `defineCommand<typeof schema, User>(...)`.
 *
 * @param type - the message type, a non-empty string
 * @param schema - a synchronous Standard Schema (zod, valibot, arktype, ...) for the payload
 * @throws {@link InvalidOptionError} when `type` is empty or `schema` is not a Standard Schema
 *
 * @example
 * ```ts
 * import { CommandBus, defineCommand } from 'sluice';
 *
 * const PlaceOrder = defineCommand<{ sku: string }, string, 'PlaceOrder'>('PlaceOrder');
 * const bus = new CommandBus().register(PlaceOrder, (command) => `order for ${command.payload.sku}`);
 * const answer: string = await bus.dispatch(PlaceOrder({ sku: 'A-1' }));
 * ```
 */
export function defineCommand<S extends StandardSchemaV1, R = void, T extends string = string>(
  type: T,
  schema: S,
): CommandDefinition<StandardSchemaV1.InferOutput<S>, R, T, StandardSchemaV1.InferInput<S>>;
export function defineCommand<P = unknown, R = void, T extends string = string, I = P>(
  type: T,
  schema?: StandardSchemaV1<I, P>,
): CommandDefinition<P, R, T, I>;
export function defineCommand(type: string, schema?: StandardSchemaV1): CommandDefinition {
  return define<Command, unknown>(type, schema);
}

/**
 * Defines a query type, like {@link defineCommand}: with a schema, the payload type is inferred from
 * it and checked on creation. Pass the schema's type first to give the result type:
 * `defineQuery<typeof schema, User>(...)`.
 *
 * @param type - the message type, a non-empty string
 * @param schema - a synchronous Standard Schema for the payload
 * @throws {@link InvalidOptionError} when `type` is empty or `schema` is not a Standard Schema
 */
export function defineQuery<S extends StandardSchemaV1, R = unknown, T extends string = string>(
  type: T,
  schema: S,
): QueryDefinition<StandardSchemaV1.InferOutput<S>, R, T, StandardSchemaV1.InferInput<S>>;
/**
 * Defines a query type whose payload type `P` and result type `R` are given explicitly; a schema, when
 * given, checks the payload on creation.
 *
 * @param type - the message type, a non-empty string
 * @param schema - a synchronous Standard Schema for the payload
 * @throws {@link InvalidOptionError} when `type` is empty or `schema` is not a Standard Schema
 */
export function defineQuery<P = unknown, R = unknown, T extends string = string, I = P>(
  type: T,
  schema?: StandardSchemaV1<I, P>,
): QueryDefinition<P, R, T, I>;
export function defineQuery(type: string, schema?: StandardSchemaV1): QueryDefinition {
  return define<Query, unknown>(type, schema);
}

/**
 * Defines an event type; a schema, when given, checks the payload on creation and gives its type.
 *
 * @param type - the message type, a non-empty string
 * @param schema - a synchronous Standard Schema for the payload
 * @throws {@link InvalidOptionError} when `type` is empty or `schema` is not a Standard Schema
 */
export function defineEvent<P = unknown, T extends string = string, I = P>(
  type: T,
  schema?: StandardSchemaV1<I, P>,
): EventDefinition<P, T, I> {
  return define<Event<P, T>, I>(type, schema);
}

function define<M extends Message, I>(
  type: M['type'],
  schema: StandardSchemaV1 | undefined,
): MessageDefinition<M, I> {
  if (typeof type !== 'string' || type.length === 0)
    throw new InvalidOptionError('type', type, 'a non-empty string');
  if (schema !== undefined && typeof schema?.['~standard']?.validate !== 'function') {
    throw new InvalidOptionError(
      `schema of "${type}"`,
      schema,
      'a Standard Schema (zod, valibot, arktype, ...)',
    );
  }
  const build = (payload: unknown) => ({ type, payload }) as unknown as M;
  const factory = schema
    ? (payload: M['payload']) => build(validate(schema, type, payload))
    : (payload: M['payload']) => build(payload);
  return Object.assign(factory, {
    type,
    schema,
    is: (value: unknown): value is M => (value as { type?: unknown } | null)?.type === type,
    parse(value: unknown): M {
      if (value === null || typeof value !== 'object' || (value as Message).type !== type) {
        throw new ValidationError(`expected a "${type}" message { type, payload }, got ${describe(value)}`);
      }
      // JSON drops an `undefined` payload (`Ping()`), so a missing one is undefined: the schema, if
      // any, decides whether that is valid.
      return factory((value as Message).payload as M['payload']);
    },
  }) as MessageDefinition<M, I>;
}

function validate(schema: StandardSchemaV1, type: string, payload: unknown): unknown {
  const result = schema['~standard'].validate(payload);
  if (result instanceof Promise) {
    throw new ValidationError(
      `the schema of "${type}" is asynchronous; message definitions need a synchronous schema`,
    );
  }
  if (result.issues) {
    const summary = result.issues.map(formatIssue).join('; ');
    throw new ValidationError(`invalid payload for "${type}": ${summary}`, result.issues);
  }
  return result.value;
}

function formatIssue(issue: StandardSchemaV1.Issue): string {
  const path = issue.path?.map((segment) => (typeof segment === 'object' ? segment.key : segment)).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}
