import type { StandardSchemaV1 } from '@standard-schema/spec';

declare const resultType: unique symbol;
declare const messageKind: unique symbol;

/** A plain, JSON-serialisable message: any transport can carry it. */
export interface Message<T extends string = string, P = unknown> {
  /** The message type: the key handlers are registered and subscribed under. */
  readonly type: T;
  /** The message's data; a definition with a schema has validated it. */
  readonly payload: P;
}

/**
 * A command: handled by exactly one handler, answering `R`. `R` and the kind exist only in types; `R`
 * sits in a function type so an optional property cannot strip `undefined` from it (`User | undefined`).
 */
export interface Command<P = unknown, R = unknown, T extends string = string> extends Message<T, P> {
  /** @internal Type-level only: carries `R`; never present at run time. */
  readonly [resultType]?: () => R;
  /** @internal Type-level only: tells commands, queries and events apart. */
  readonly [messageKind]?: 'command';
}

/** A query: like a command, by convention without side effects. */
export interface Query<P = unknown, R = unknown, T extends string = string> extends Message<T, P> {
  /** @internal Type-level only: carries `R`; never present at run time. */
  readonly [resultType]?: () => R;
  /** @internal Type-level only: tells commands, queries and events apart. */
  readonly [messageKind]?: 'query';
}

/** An event: zero, one or many subscribers, no result. */
export interface Event<P = unknown, T extends string = string> extends Message<T, P> {
  /** @internal Type-level only: tells commands, queries and events apart. */
  readonly [messageKind]?: 'event';
}

/** The result type a command or query promises. */
export type ResultOf<M> = M extends {
  /** @internal */
  readonly [resultType]?: () => infer R;
}
  ? R
  : unknown;

/** A callable factory of messages of one type, with a guard and a validating parser. */
export interface MessageDefinition<M extends Message, I = M['payload']> {
  /**
   * Creates a message of this type from `payload`, validated by the schema when there is one.
   *
   * @throws {@link ValidationError} when the schema rejects the payload, or is asynchronous
   */
  (payload: I): M;
  /** The type every message it creates carries. */
  readonly type: M['type'];
  /** The Standard Schema that validates payloads, or `undefined` when payloads are not checked. */
  readonly schema: StandardSchemaV1 | undefined;
  /** True when `value` is a message of this type (checks the type tag, not the payload). */
  is(value: unknown): value is M;
  /**
   * Validates a decoded message (e.g. from a queue) and returns it typed, its payload as the
   * schema outputs it.
   *
   * @throws {@link ValidationError} when `value` is not a `{ type, payload }` message of this type,
   * or the schema rejects its payload
   */
  parse(value: unknown): M;
}

/** What {@link defineCommand} returns: a factory, guard and parser of commands answering `R`. */
export type CommandDefinition<P = unknown, R = void, T extends string = string, I = P> = MessageDefinition<
  Command<P, R, T>,
  I
>;
/** What {@link defineQuery} returns: a factory, guard and parser of queries answering `R`. */
export type QueryDefinition<P = unknown, R = unknown, T extends string = string, I = P> = MessageDefinition<
  Query<P, R, T>,
  I
>;
/** What {@link defineEvent} returns: a factory, guard and parser of events. */
export type EventDefinition<P = unknown, T extends string = string, I = P> = MessageDefinition<
  Event<P, T>,
  I
>;
