import { BrokerUnavailableError, SluiceError } from '../../errors.js';

/**
 * Redis refused the queue's user: wrong credentials (WRONGPASS, NOAUTH) or an ACL without a
 * command or key the queue needs (NOPERM). No retry fixes it, so it ends the iteration (a pump stops
 * on it) and fails sends and settles, where an outage is waited out.
 */
export class RedisAccessError extends SluiceError {
  constructor(operation: string, options: { cause: unknown }) {
    const detail = options.cause instanceof Error ? `: ${options.cause.message}` : '';
    super('REDIS_ACCESS_REFUSED', `Redis refused ${operation}${detail}`, options);
  }
}

/** Whether Redis answered that the user may not do this, whatever the connection does next. */
export function isAccessRefused(error: unknown): boolean {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' && /^(WRONGPASS|NOAUTH|NOPERM)\b/.test(message);
}

/** The error of an operation (naming its queue) that Redis refused, or that did not reach it. */
export function failure(operation: string, cause: unknown): SluiceError {
  return isAccessRefused(cause)
    ? new RedisAccessError(operation, { cause })
    : new BrokerUnavailableError('Redis', operation, { cause });
}
