import { InvalidOptionError } from '../errors.js';
import type { ClassicMiddleware, Context } from './types.js';

/** Options of {@link captureErrors}. */
export interface CaptureErrorsOptions {
  /**
   * Throw the error on after reporting it. When false the dispatch resolves `undefined`.
   *
   * @defaultValue `false`
   */
  rethrow?: boolean;
}

/**
 * Reports every error of the inner chain to `onError` (awaited), then swallows or rethrows it.
 *
 * @throws {@link InvalidOptionError} when `onError` is not a function or an option has a wrong type
 */
export function captureErrors<M = any, C extends Context<M> = Context<M>>(
  onError: (error: unknown, message: M, context: C) => unknown,
  options: CaptureErrorsOptions = {},
): ClassicMiddleware<M, C> {
  if (typeof onError !== 'function') throw new InvalidOptionError('onError', onError, 'a function');
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('captureErrors options', options, 'an object');
  }
  const { rethrow = false } = options;
  if (typeof rethrow !== 'boolean') throw new InvalidOptionError('rethrow', rethrow, 'a boolean');
  return async function captureErrorsMiddleware(message, next, context) {
    try {
      return await next(message, context);
    } catch (error) {
      await onError(error, message, context);
      if (rethrow) throw error;
      return undefined;
    }
  };
}
