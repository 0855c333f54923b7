/**
 * Every error sluice throws is a `SluiceError` with a stable `code`, so callers can branch on
 * `error.code` (or `instanceof`) without parsing messages. Messages name what went wrong.
 */
export class SluiceError extends Error {
  /**
   * Stable machine-readable identifier of the failure (for example `'QUEUE_CLOSED'`): it does not
   * change between releases, unlike the message text.
   */
  readonly code: string;

  /**
   * @param code - the stable {@link SluiceError.code} of the failure
   * @param message - the human-readable message
   * @param options - `cause`: the underlying error, when there is one
   */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A payload or decoded message failed its schema. `issues` are the schema's own issues. */
export class ValidationError extends SluiceError {
  /** The issues the schema reported, as it reported them (empty when there were none to pass on). */
  readonly issues: readonly unknown[];

  constructor(message: string, issues: readonly unknown[] = [], options?: ErrorOptions) {
    super('VALIDATION_FAILED', message, options);
    this.issues = issues;
  }
}

/** An option or argument has a value that cannot work (names the option and the value). */
export class InvalidOptionError extends SluiceError {
  constructor(option: string, value: unknown, expected: string) {
    super('INVALID_OPTION', `invalid ${option}: ${describe(value)} (expected ${expected})`);
  }
}

/** `dispatch` on a command or query bus of a message whose type has no registered handler. */
export class NoHandlerError extends SluiceError {
  constructor(type: string) {
    super('NO_HANDLER', `no handler registered for "${type}"`);
  }
}

/** `register` on a command or query bus for a message type that already has a handler. */
export class HandlerAlreadyRegisteredError extends SluiceError {
  constructor(type: string) {
    super('HANDLER_ALREADY_REGISTERED', `a handler is already registered for "${type}"`);
  }
}

/** A middleware broke the middleware contract (e.g. a generator yielded twice after a success). */
export class MiddlewareError extends SluiceError {
  constructor(message: string) {
    super('MIDDLEWARE_MISUSE', message);
  }
}

/**
 * An operation did not finish within its time limit: a dispatch under the `timeout` middleware, a job
 * past its task's `timeout`, or `job.wait` past its `timeout` option.
 */
export class TimeoutError extends SluiceError {
  constructor(what: string, ms: number) {
    super('TIMEOUT', `${what} timed out after ${ms} ms`);
  }
}

/** `send` on a closed queue, or a sender still waiting for room when the queue closed. */
export class QueueClosedError extends SluiceError {
  /** `cause`: what closed the queue, when it was not `close()` (a draining pump's error). */
  constructor(queue: string, options?: ErrorOptions) {
    super('QUEUE_CLOSED', `queue ${queue} is closed: the message was not accepted`, options);
  }
}

/** `ack` or `nack` on a delivery that was already acked or nacked. */
export class DeliverySettledError extends SluiceError {
  constructor(queue: string) {
    super('DELIVERY_SETTLED', `delivery from queue ${queue} was already acked or nacked`);
  }
}

/** A broker could not be reached, or its connection dropped while an operation was under way. */
export class BrokerUnavailableError extends SluiceError {
  constructor(broker: string, operation: string, options?: ErrorOptions) {
    super('BROKER_UNAVAILABLE', `${broker} is unavailable: ${operation} failed`, options);
  }
}

/** A value that must travel over a queue (job arguments, results) is not JSON-serialisable. */
export class SerializationError extends SluiceError {
  constructor(message: string, options?: ErrorOptions) {
    super('NOT_SERIALIZABLE', message, options);
  }
}

/** A message whose encoded body is larger than its queue's `maxMessageSize` (nothing was sent). */
export class MessageTooLargeError extends SluiceError {
  /** Size of the encoded message, in bytes. */
  readonly size: number;
  /** The queue's `maxMessageSize`, in bytes. */
  readonly limit: number;

  constructor(queue: string, size: number, limit: number) {
    super(
      'MESSAGE_TOO_LARGE',
      `a message sent to queue ${queue} is ${size} bytes encoded, over the queue's maxMessageSize of ${limit} bytes`,
    );
    this.size = size;
    this.limit = limit;
  }
}

/**
 * An operation that the object's current state does not allow: configuring it after it was frozen
 * (e.g. registering a task after `jobs.start()`), or using it after it was stopped or closed.
 */
export class InvalidStateError extends SluiceError {
  constructor(message: string) {
    super('INVALID_STATE', message);
  }
}

/** @internal Short, log-safe description of a value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return shortened(JSON.stringify(value));
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  try {
    return shortened(JSON.stringify(value));
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Longest description of a value an error message quotes: a hostile value must not flood logs. */
const DESCRIBED_LENGTH = 200;

function shortened(text: string): string {
  return text.length <= DESCRIBED_LENGTH
    ? text
    : `${text.slice(0, DESCRIBED_LENGTH).toWellFormed()}… (${text.length} characters)`;
}
