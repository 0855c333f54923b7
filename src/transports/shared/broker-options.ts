import { InvalidOptionError } from '../../errors.js';
import { assertBackoff, assertMaxAttempts } from '../../queuing/backoff.js';
import { assertSendOptions } from '../../queuing/send-options.js';
import { textProblem } from '../../queuing/text-rules.js';
import type { Backoff, SendOptions } from '../../queuing/types.js';
import { compileMessageSchema, type MessageCheck, type MessageSchema } from './message-schema.js';

/** The options every broker queue takes, next to its own connection options. */
export interface BrokerQueueOptions<T = unknown> {
  /**
   * Deliveries before a nacked message is dead-lettered: the retry policy's last attempt.
   * @defaultValue `5`
   */
  maxAttempts?: number;
  /**
   * Wait before redelivering a nacked message.
   * @defaultValue `{ type: 'exponential', delay: 100, max: 30_000 }`
   */
  backoff?: Backoff;
  /**
   * The queue that receives dead messages with the reason, itself a queue of the same kind on the
   * same broker. Must differ from the queue's name.
   * @defaultValue the queue's name followed by `.dead`
   */
  deadLetter?: string;
  /**
   * Milliseconds a delivery that is not settled stays away before it is redelivered.
   * @defaultValue `30_000`
   */
  visibilityTimeout?: number;
  /**
   * Checked on receive: a message that fails it is dead-lettered with the reason, never handed out.
   * @defaultValue none: every decoded message is handed out as it is
   */
  schema?: MessageSchema<T>;
  /**
   * Milliseconds `close()` lets handed-out deliveries settle before releasing them.
   * @defaultValue `10_000`
   */
  closeTimeout?: number;
  /**
   * Bytes an encoded message may take; a larger one is refused at `send` with
   * {@link sluice!MessageTooLargeError | MessageTooLargeError}.
   * @defaultValue 16 MiB (RabbitMQ 4's own limit); on NATS the server's `max_payload` less the room
   * a dead-letter copy's headers need
   */
  maxMessageSize?: number;
}

/** What a broker allows, given by its adapter. */
export interface BrokerLimits {
  /** The shortest lease the broker can honour (ms). Default 1. */
  minVisibilityTimeout?: number;
  /** The longest delay (ms) it can store, for a send, a nack or a backoff. Default MAX_DELAY. */
  maxDelay?: number;
  /** The longest queue name it takes, in UTF-8 bytes (the dead-letter queue's too). Default 200. */
  maxNameBytes?: number;
}

/**
 * The longest delay a broker queue takes unless its broker allows less (RabbitMQ): a century, far
 * inside what every store's timestamps and every timer protocol can hold.
 */
export const MAX_DELAY = 100 * 365 * 24 * 60 * 60 * 1000;

/** The default `maxMessageSize`: RabbitMQ 4's own limit, and far above what a message should be. */
export const DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

export interface ResolvedBrokerOptions<T> {
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly deadLetter: string;
  readonly visibilityTimeout: number;
  readonly closeTimeout: number;
  readonly maxMessageSize: number;
  readonly maxDelay: number;
  /** The compiled `schema`, if one was given. */
  readonly check: MessageCheck<T> | undefined;
}

/**
 * Checks the queue name and the common options, filling in the defaults. The name rule every broker
 * shares: 1 to `maxNameBytes` UTF-8 bytes of well-formed Unicode without control characters (see
 * text-rules.ts); an adapter adds its broker's own rules.
 */
export function resolveBrokerOptions<T>(
  name: string,
  options: BrokerQueueOptions<T>,
  limits: BrokerLimits = {},
): ResolvedBrokerOptions<T> {
  const { minVisibilityTimeout = 1, maxDelay = MAX_DELAY, maxNameBytes = 200 } = limits;
  assertQueueName('name', name, maxNameBytes);
  const {
    maxAttempts = 5,
    backoff = { type: 'exponential', delay: 100, max: 30_000 },
    deadLetter = `${name}.dead`,
    visibilityTimeout = 30_000,
    schema,
    closeTimeout = 10_000,
    maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE,
  } = options;
  assertMaxAttempts(maxAttempts);
  assertBackoff(backoff);
  if (typeof deadLetter !== 'string' || deadLetter.length === 0 || deadLetter === name) {
    throw new InvalidOptionError('deadLetter', deadLetter, `a queue name other than ${JSON.stringify(name)}`);
  }
  if (options.deadLetter === undefined && Buffer.byteLength(deadLetter) > maxNameBytes) {
    // The default dead-letter name is too long: say so of the name the caller chose.
    throw new InvalidOptionError(
      'name',
      name,
      `at most ${maxNameBytes - 5} UTF-8 bytes, or a deadLetter name`,
    );
  }
  assertQueueName('deadLetter', deadLetter, maxNameBytes);
  assertBackoffWithin(backoff, maxDelay);
  if (!Number.isInteger(visibilityTimeout) || visibilityTimeout < minVisibilityTimeout) {
    throw new InvalidOptionError(
      'visibilityTimeout',
      visibilityTimeout,
      `an integer ≥ ${minVisibilityTimeout} (milliseconds)`,
    );
  }
  if (typeof closeTimeout !== 'number' || !Number.isFinite(closeTimeout) || closeTimeout < 0) {
    throw new InvalidOptionError('closeTimeout', closeTimeout, 'a finite number of milliseconds ≥ 0');
  }
  if (!Number.isSafeInteger(maxMessageSize) || maxMessageSize < 1) {
    throw new InvalidOptionError('maxMessageSize', maxMessageSize, 'a whole number of bytes ≥ 1');
  }
  const check = compileMessageSchema(schema);
  return {
    maxAttempts,
    backoff,
    deadLetter,
    visibilityTimeout,
    closeTimeout,
    maxMessageSize,
    maxDelay,
    check,
  };
}

/** A broker queue's send options: the rules of every queue, and a `delay` the queue can store. */
export function assertBrokerSendOptions(options: SendOptions, maxDelay: number, queue: string): void {
  assertSendOptions(options);
  const { delay } = options;
  if (delay !== undefined && delay > maxDelay) {
    throw new InvalidOptionError('delay', delay, `at most ${maxDelay} milliseconds on queue ${queue}`);
  }
}

function assertQueueName(option: string, name: unknown, maxBytes: number): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidOptionError(option, name, 'a non-empty string');
  }
  const problem = textProblem(name);
  if (problem !== undefined) {
    throw new InvalidOptionError(
      option,
      name,
      `a queue name of well-formed Unicode without control characters (it ${problem})`,
    );
  }
  if (Buffer.byteLength(name) > maxBytes) {
    throw new InvalidOptionError(option, name, `a queue name of at most ${maxBytes} UTF-8 bytes`);
  }
}

/** A fixed or exponential backoff whose configured delays the queue can store. */
function assertBackoffWithin(backoff: Backoff, maxDelay: number): void {
  if (typeof backoff === 'function') return; // bounded per call (backoffDelay's limit)
  const longest = backoff.type === 'fixed' ? backoff.delay : Math.max(backoff.delay, backoff.max ?? 0);
  if (longest > maxDelay) {
    throw new InvalidOptionError(
      'backoff',
      backoff,
      `delays of at most ${maxDelay} milliseconds on this queue`,
    );
  }
}
