import { InvalidOptionError } from '../errors.js';
import { assertGroup } from './flow-options.js';
import { storableTextProblem, textProblem } from './text-rules.js';
import type { NackOptions, SendOptions } from './types.js';

/** Checks send options at the boundary so nothing invalid is accepted. Shared by every queue. */
export function assertSendOptions(options: SendOptions): void {
  assertObject('send options', options);
  const { priority, delay, key, headers, group } = options;
  if (priority !== undefined && (typeof priority !== 'number' || !Number.isFinite(priority))) {
    throw new InvalidOptionError('priority', priority, 'a finite number');
  }
  if (delay !== undefined) assertDelay(delay);
  if (key !== undefined) assertKey(key);
  if (headers !== undefined) assertHeaders(headers);
  if (group !== undefined) assertGroup(group);
}

/** Headers every queue can carry as given: string names and values, under the rule of text-rules.ts. */
function assertHeaders(headers: unknown): void {
  const prototype =
    headers === null || typeof headers !== 'object' ? undefined : Object.getPrototypeOf(headers);
  if (prototype !== Object.prototype && prototype !== null) {
    // A Map or a class instance would arrive as `{}`: its entries are no own properties.
    throw new InvalidOptionError('headers', headers, 'a plain object of string names and values');
  }
  for (const [name, value] of Object.entries(headers as object)) {
    const problem = name.length === 0 ? 'is empty' : textProblem(name);
    if (problem !== undefined) {
      throw new InvalidOptionError('headers', name, `header names of well-formed text (this one ${problem})`);
    }
    if (typeof value !== 'string') {
      throw new InvalidOptionError('headers', value, `a string value for header ${JSON.stringify(name)}`);
    }
    if (!value.isWellFormed()) {
      throw new InvalidOptionError('headers', value, `well-formed Unicode in header ${JSON.stringify(name)}`);
    }
  }
}

/**
 * The longest deduplication key, in UTF-8 bytes, on every queue: so that a key that works in one
 * process works on every broker, where it travels in a header of its message and of every retry
 * (amqplib corrupts a frame whose headers outgrow its buffer) or sits in an index entry (PostgreSQL
 * refuses one over about 2,700 bytes).
 */
export const MAX_KEY_BYTES = 1024;

/** A deduplication key every queue can store as given: see text-rules.ts. */
export function assertKey(key: unknown): asserts key is string {
  const expected = storableTextProblem(key, 'key', MAX_KEY_BYTES);
  if (expected !== undefined) throw new InvalidOptionError('key', key, expected);
}

export function assertNackOptions(options: NackOptions): void {
  assertObject('nack options', options);
  if (options.delay !== undefined) assertDelay(options.delay);
  if (options.requeue !== undefined && typeof options.requeue !== 'boolean') {
    throw new InvalidOptionError('requeue', options.requeue, 'a boolean');
  }
}

function assertObject(name: string, options: unknown): void {
  if (options === null || typeof options !== 'object')
    throw new InvalidOptionError(name, options, 'an object');
}

function assertDelay(delay: unknown): void {
  if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
    throw new InvalidOptionError('delay', delay, 'a finite number of milliseconds ≥ 0');
  }
}
