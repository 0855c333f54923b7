import { InvalidOptionError } from '../../errors.js';
import { assertBackoff, assertMaxAttempts } from '../backoff.js';
import type { Backoff, Producer, RetryPolicy } from '../types.js';

/** Options of a {@link MemoryQueue}. */
export interface MemoryQueueOptions<T> extends RetryPolicy<T> {
  /**
   * Messages held (ready or delayed) before `send` waits; `0` hands each message straight to a
   * consumer. Delayed sends and retries are never held back, but count too.
   *
   * @defaultValue `Infinity`
   */
  maxsize?: number;
  /**
   * `fifo`, `lifo` (newest first) or `priority` (highest first, FIFO among equals).
   *
   * @defaultValue `'fifo'`
   */
  order?: 'fifo' | 'lifo' | 'priority';
  /**
   * Names the queue in error messages.
   *
   * @defaultValue `'memory'`
   */
  name?: string;
}

/** A MemoryQueue's options with their defaults, checked. */
export interface ResolvedMemoryOptions<T> {
  readonly name: string;
  readonly maxsize: number;
  readonly order: 'fifo' | 'lifo' | 'priority';
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly deadLetter: Producer<T> | undefined;
}

/** Throws an `InvalidOptionError` naming the first option that cannot work. */
export function resolveMemoryOptions<T>(options: MemoryQueueOptions<T>): ResolvedMemoryOptions<T> {
  const { maxsize = Number.POSITIVE_INFINITY, order = 'fifo', name = 'memory' } = options;
  const { maxAttempts = 1, backoff = { type: 'exponential', delay: 100, max: 30_000 }, deadLetter } = options;
  assertMaxsize(maxsize);
  assertMaxAttempts(maxAttempts);
  assertBackoff(backoff);
  if (deadLetter !== undefined && typeof deadLetter?.send !== 'function') {
    throw new InvalidOptionError('deadLetter', deadLetter, 'a Producer (an object with send)');
  }
  if (order !== 'fifo' && order !== 'lifo' && order !== 'priority') {
    throw new InvalidOptionError('order', order, '"fifo", "lifo" or "priority"');
  }
  return { name, maxsize, order, maxAttempts, backoff, deadLetter };
}

export function assertMaxsize(maxsize: unknown): asserts maxsize is number {
  const valid =
    typeof maxsize === 'number' &&
    maxsize >= 0 &&
    (Number.isInteger(maxsize) || maxsize === Number.POSITIVE_INFINITY);
  if (!valid) throw new InvalidOptionError('maxsize', maxsize, 'an integer ≥ 0 or Infinity');
}
