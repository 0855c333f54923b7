import { InvalidOptionError } from '../../errors.js';
import { assertBackoff, assertMaxAttempts } from '../../queuing/backoff.js';
import type { Backoff } from '../../queuing/types.js';
import { compileSchema, type MessageSchema } from './message-schema.js';

export interface SqliteQueueOptions<T> {
  /** Database file, created if missing; every queue of the file shares one table. */
  path: string;
  /** Deliveries before a nacked message is dead-lettered. Default 5. */
  maxAttempts?: number;
  /** Wait before redelivering a nacked message. Default exponential from 100 ms, at most 30 s. */
  backoff?: Backoff;
  /** Queue (in the same file) receiving dead messages. Default `${name}.dead`. */
  deadLetter?: string;
  /** Milliseconds a claimed message stays invisible before it is redelivered if not settled. Default 30 s. */
  visibilityTimeout?: number;
  /** Checked on receive; a message that fails is dead-lettered with the reason, never handed out. */
  schema?: MessageSchema<T>;
  /**
   * Milliseconds between checks for messages written by other processes while a consumer waits.
   * Sends from this process wake consumers at once. Default 100.
   */
  pollInterval?: number;
  /** Milliseconds `close()` lets handed-out deliveries settle before releasing them. Default 10 s. */
  closeTimeout?: number;
}

export interface ResolvedOptions {
  readonly path: string;
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly deadLetter: string;
  readonly visibilityTimeout: number;
  readonly check: ReturnType<typeof compileSchema> | undefined;
  readonly pollInterval: number;
  readonly closeTimeout: number;
}

export function resolveOptions<T>(name: unknown, options: SqliteQueueOptions<T>): ResolvedOptions {
  assertName('name', name);
  const {
    path,
    maxAttempts = 5,
    backoff = { type: 'exponential', delay: 100, max: 30_000 },
    deadLetter = `${name}.dead`,
    visibilityTimeout = 30_000,
    schema,
    pollInterval = 100,
    closeTimeout = 10_000,
  } = (options ?? {}) as SqliteQueueOptions<T>;
  if (typeof path !== 'string' || path.length === 0) {
    throw new InvalidOptionError('path', path, 'the path of a database file');
  }
  assertMaxAttempts(maxAttempts);
  assertBackoff(backoff);
  assertName('deadLetter', deadLetter);
  if (deadLetter === name)
    throw new InvalidOptionError('deadLetter', deadLetter, `a queue other than ${name}`);
  assertMilliseconds('visibilityTimeout', visibilityTimeout, 1);
  assertMilliseconds('pollInterval', pollInterval, 1);
  assertMilliseconds('closeTimeout', closeTimeout, 0);
  return {
    path,
    maxAttempts,
    backoff,
    deadLetter,
    visibilityTimeout,
    check: schema === undefined ? undefined : compileSchema(schema),
    pollInterval,
    closeTimeout,
  };
}

function assertName(option: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidOptionError(option, value, 'a non-empty queue name');
  }
}

function assertMilliseconds(option: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new InvalidOptionError(option, value, `a finite number of milliseconds ≥ ${min}`);
  }
}
