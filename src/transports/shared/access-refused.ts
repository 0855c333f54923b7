import { SluiceError } from '../../errors.js';

/**
 * The broker refused who a queue connects as (its credentials) or what it may do (a permission).
 * No retry fixes that, so, unlike an outage, which is waited out, it fails sends and ends a
 * consumer's iteration (a pump stops). Each broker has its subclass, with a code of its own.
 */
export abstract class AccessRefusedError extends SluiceError {
  protected constructor(code: string, broker: string, operation: string, cause: unknown) {
    super(code, `${broker} refused ${operation}${causeDetail(cause)}`, { cause });
  }
}

/** `: ` and the message of the error that caused a broker error, or nothing when it is no Error. */
export function causeDetail(cause: unknown): string {
  return cause instanceof Error ? `: ${cause.message}` : '';
}
