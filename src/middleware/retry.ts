import { InvalidOptionError } from '../errors.js';
import { abortableSleep } from './sleep.js';
import type { Context, GeneratorMiddleware } from './types.js';

/** Options of {@link retry}. */
export interface RetryOptions {
  /**
   * Every try, the first included: an integer of at least 1.
   *
   * @defaultValue `3`
   */
  attempts?: number;
  /**
   * Milliseconds before the second try.
   *
   * @defaultValue `0`
   */
  delay?: number;
  /**
   * `fixed` waits `delay` each time; `exponential` doubles it after each failure.
   *
   * @defaultValue `'fixed'`
   */
  backoff?: 'fixed' | 'exponential';
  /** Retries only errors for which this returns true; unset, every error is retried. */
  when?: (error: unknown) => boolean;
}

/**
 * Retries the rest of the chain; stops early when the dispatch's signal aborts. The last error is
 * thrown on when the tries run out or `when` declines it.
 *
 * @throws {@link InvalidOptionError} when an option is out of range or of the wrong type
 */
export function retry<M = any>(options: RetryOptions = {}): GeneratorMiddleware<M, Context<M>> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('retry options', options, 'an object');
  }
  const { attempts = 3, delay = 0, backoff = 'fixed', when = () => true } = options;
  if (!Number.isInteger(attempts) || attempts < 1)
    throw new InvalidOptionError('attempts', attempts, 'an integer ≥ 1');
  if (!Number.isFinite(delay) || delay < 0)
    throw new InvalidOptionError('delay', delay, 'a finite number ≥ 0');
  if (backoff !== 'fixed' && backoff !== 'exponential') {
    throw new InvalidOptionError('backoff', backoff, '"fixed" or "exponential"');
  }
  if (typeof when !== 'function') throw new InvalidOptionError('when', when, 'a function');

  return async function* retryMiddleware(_message, context) {
    for (let attempt = 1; ; attempt++) {
      try {
        return yield;
      } catch (error) {
        if (attempt >= attempts || context.signal.aborted || !when(error)) throw error;
        // Not capped: the doubling asked for is honoured however long it gets (past Node's 24.8-day
        // timer limit too); the dispatch's signal still cuts any wait short.
        const wait = backoff === 'exponential' ? delay * 2 ** (attempt - 1) : delay;
        if (wait > 0) await abortableSleep(wait, context.signal);
      }
    }
  };
}
