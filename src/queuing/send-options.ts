import { InvalidOptionError } from '../errors.js';
import { textProblem } from './text-rules.js';
import type { NackOptions, SendOptions } from './types.js';

/** Checks send options at the boundary so nothing invalid is accepted. Shared by every queue. */
export function assertSendOptions(options: SendOptions): void {
  assertObject('send options', options);
  const { priority, delay, key } = options;
  if (priority !== undefined && (typeof priority !== 'number' || !Number.isFinite(priority))) {
    throw new InvalidOptionError('priority', priority, 'a finite number');
  }
  if (delay !== undefined) assertDelay(delay);
  if (key !== undefined) assertKey(key);
}

/** A deduplication key every queue can store as given: see text-rules.ts. */
export function assertKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new InvalidOptionError('key', key, 'a non-empty string');
  }
  const problem = textProblem(key);
  if (problem !== undefined) {
    throw new InvalidOptionError(
      'key',
      key,
      `well-formed Unicode without control characters (it ${problem})`,
    );
  }
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
