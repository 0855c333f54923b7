import type { StandardSchemaV1 } from '@standard-schema/spec';

declare const resultType: unique symbol;
declare const messageKind: unique symbol;

/** A plain, JSON-serialisable message: any transport can carry it. */
export interface Message<T extends string = string, P = unknown> {
  readonly type: T;
  readonly payload: P;
}

/**
 * A command: handled by exactly one handler, answering `R`. `R` and the kind exist only in types; `R`
 * sits in a function type so an optional property cannot strip `undefined` from it (`User | undefined`).
 */
export interface Command<P = unknown, R = unknown, T extends string = string> extends Message<T, P> {
  readonly [resultType]?: () => R;
  readonly [messageKind]?: 'command';
}

/** A query: like a command, by convention without side effects. */
export interface Query<P = unknown, R = unknown, T extends string = string> extends Message<T, P> {
  readonly [resultType]?: () => R;
  readonly [messageKind]?: 'query';
}

/** An event: zero, one or many subscribers, no result. */
export interface Event<P = unknown, T extends string = string> extends Message<T, P> {
  readonly [messageKind]?: 'event';
}

/** The result type a command or query promises. */
export type ResultOf<M> = M extends { readonly [resultType]?: () => infer R } ? R : unknown;

/** A callable factory of messages of one type, with a guard and a validating parser. */
export interface MessageDefinition<M extends Message, I = M['payload']> {
  (payload: I): M;
  readonly type: M['type'];
  readonly schema: StandardSchemaV1 | undefined;
  /** True when `value` is a message of this type (checks the type tag, not the payload). */
  is(value: unknown): value is M;
  /** Validates a decoded message (e.g. from a queue) and returns it typed; throws `ValidationError`. */
  parse(value: unknown): M;
}

export type CommandDefinition<P = unknown, R = void, T extends string = string, I = P> = MessageDefinition<
  Command<P, R, T>,
  I
>;
export type QueryDefinition<P = unknown, R = unknown, T extends string = string, I = P> = MessageDefinition<
  Query<P, R, T>,
  I
>;
export type EventDefinition<P = unknown, T extends string = string, I = P> = MessageDefinition<
  Event<P, T>,
  I
>;
