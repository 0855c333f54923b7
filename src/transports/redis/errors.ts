import { BrokerUnavailableError, type SluiceError } from '../../errors.js';
import { AccessRefusedError } from '../shared/access-refused.js';

/**
 * Redis refused the queue's user: wrong credentials (WRONGPASS, NOAUTH) or an ACL without a
 * command or key the queue needs (NOPERM). No retry fixes that, so it fails sends and settles, and
 * a consumer's iteration ends with it. Its code is `REDIS_ACCESS_REFUSED`.
 */
export class RedisAccessError extends AccessRefusedError {
  /** @internal Thrown by the adapter, not made by users. */
  constructor(operation: string, options: { cause: unknown }) {
    super('REDIS_ACCESS_REFUSED', 'Redis', operation, options.cause);
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
