import type { NackOptions } from '../../queuing/types.js';

/**
 * The one wording of dead-letter reasons, the same on every broker, so an operator (or a consumer in
 * another language) reads one format whichever queue a message died on:
 *
 *   undecodable body: <why>                          the body is not JSON, or not an envelope
 *   invalid message: <error>                         the payload failed the queue's schema
 *   failed <n> of <max> attempts[: <error>]          nacked with no attempts left, or never settled
 *   rejected[: <error>]                              nacked with `{ requeue: false }`
 *
 * `<error>` is the error's message, prefixed by its name unless that is plain `Error`.
 */
export function errorText(error: unknown): string {
  if (error instanceof Error) {
    return error.name === 'Error' || error.name === '' ? error.message : `${error.name}: ${error.message}`;
  }
  return String(error);
}

export function invalidMessageReason(error: unknown): string {
  return `invalid message: ${errorText(error)}`;
}

/** Why a nacked delivery is dead-lettered: rejected outright, or out of attempts. */
export function nackReason(options: NackOptions, attempt: number, maxAttempts: number): string {
  const why = options.error === undefined ? '' : `: ${errorText(options.error)}`;
  return options.requeue === false ? `rejected${why}` : `failed ${attempt} of ${maxAttempts} attempts${why}`;
}

/**
 * Why a delivery whose consumer never settled it (the process died, the connection dropped, or the
 * lease ran out) is dead-lettered once that was its last attempt.
 */
export const NEVER_SETTLED = 'not settled: its consumer stopped or its lease ran out';

export function unsettledReason(attempt: number, maxAttempts: number): string {
  return `failed ${attempt} of ${maxAttempts} attempts: ${NEVER_SETTLED}`;
}
