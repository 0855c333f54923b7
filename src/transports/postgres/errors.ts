import { DatabaseError } from 'pg';
import { BrokerUnavailableError, SluiceError } from '../../errors.js';
import { causeDetail } from '../shared/access-refused.js';

/**
 * PostgreSQL refused a statement for a reason other than the connection (permissions, a dropped
 * table...): no retry fixes that, so the operation rejects with it; `cause` is pg's error. Its code
 * is `POSTGRES_QUERY_FAILED`.
 */
export class PostgresQueryError extends SluiceError {
  /** @internal Thrown by the adapter, not made by users. */
  constructor(operation: string, options?: ErrorOptions) {
    super('POSTGRES_QUERY_FAILED', `PostgreSQL rejected ${operation}${causeDetail(options?.cause)}`, options);
  }
}

/**
 * Whether an error means "the server cannot be reached right now" and the operation may succeed
 * once it is back: socket errors, and SQLSTATE classes 08 (connection), 53 (resources),
 * 57 (shutdown, admin termination) and 40 (serialization, deadlock).
 */
export function isTransient(error: unknown): boolean {
  // Already classified by `failure()` (a failed migration, say): only an outage is waited out.
  if (error instanceof SluiceError) return error instanceof BrokerUnavailableError;
  if (!(error instanceof DatabaseError)) return true;
  const sqlClass = error.code?.slice(0, 2);
  return sqlClass === '08' || sqlClass === '53' || sqlClass === '57' || sqlClass === '40';
}

/**
 * Whether PostgreSQL refused a statement because of the values of some row: SQLSTATE class 22
 * (data exception, e.g. an untranslatable character) or 54 (a limit, e.g. an index entry too
 * large). The other rows of a multi-row statement would be accepted on their own.
 */
export function isRowError(error: unknown): boolean {
  const cause = error instanceof SluiceError ? error.cause : error;
  if (!(cause instanceof DatabaseError)) return false;
  const sqlClass = cause.code?.slice(0, 2);
  return sqlClass === '22' || sqlClass === '54';
}

/** The SluiceError to reject with when `operation` failed with `error` from pg. */
export function failure(operation: string, error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  return isTransient(error)
    ? new BrokerUnavailableError('PostgreSQL', operation, { cause: error })
    : new PostgresQueryError(operation, { cause: error });
}
