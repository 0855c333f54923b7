import { InvalidOptionError, TimeoutError } from '../errors.js';
import { Timer } from '../timer.js';
import type { ClassicMiddleware, Context } from './types.js';

/**
 * Rejects with `TimeoutError` when the rest of the chain takes longer than `ms`, and aborts the
 * signal the inner chain sees so a handler that honours it stops working too.
 *
 * @param ms - the time limit in milliseconds, finite and greater than 0
 * @throws {@link InvalidOptionError} when `ms` is not a finite number greater than 0
 */
export function timeout<M = any, C extends Context<M> = Context<M>>(ms: number): ClassicMiddleware<M, C> {
  if (typeof ms !== 'number' || !(ms > 0) || !Number.isFinite(ms)) {
    throw new InvalidOptionError('timeout', ms, 'a finite number of milliseconds > 0');
  }
  return async function timeoutMiddleware(message, next, context) {
    const controller = new AbortController();
    const parent = context.signal;
    const forward = () => controller.abort(parent.reason);
    if (parent.aborted) forward();
    else parent.addEventListener('abort', forward, { once: true });
    let timer!: Timer;
    const expired = new Promise<never>((_, reject) => {
      timer = new Timer(ms, () => {
        const error = new TimeoutError(`dispatch of ${describeMessage(message)}`, ms);
        controller.abort(error);
        reject(error);
      });
    });
    try {
      return await Promise.race([next(message, { ...context, signal: controller.signal }), expired]);
    } finally {
      timer.cancel();
      parent.removeEventListener('abort', forward);
    }
  };
}

function describeMessage(message: unknown): string {
  const type = (message as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? `"${type}"` : 'a message';
}
