import { errorText } from '../../queuing/reasons.js';

/**
 * The dead-letter reasons only a broker gives (a body it cannot decode or admit, a delivery whose
 * consumer vanished), worded as queuing/reasons.ts says; the reasons every queue gives are there,
 * re-exported here for the adapters.
 */
export {
  backoffReason,
  boundedReason,
  errorText,
  MAX_REASON_LENGTH,
  nackReason,
} from '../../queuing/reasons.js';

export function invalidMessageReason(error: unknown): string {
  return `invalid message: ${errorText(error)}`;
}

/**
 * Why a delivery whose consumer never settled it (the process died, the connection dropped, or the
 * lease ran out) is dead-lettered once that was its last attempt.
 */
export const NEVER_SETTLED = 'not settled: its consumer stopped or its lease ran out';

export function unsettledReason(attempt: number, maxAttempts: number): string {
  return `failed ${attempt} of ${maxAttempts} attempts: ${NEVER_SETTLED}`;
}
