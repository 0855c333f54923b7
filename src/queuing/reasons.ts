import type { NackOptions } from './types.js';

/**
 * The one wording of dead-letter reasons, the same on MemoryQueue and every broker, so an operator
 * (or a consumer in another language) reads one format whichever queue a message died on:
 *
 *   undecodable body: <why>                          the body is not JSON, or not an envelope
 *   invalid message: <error>                         the payload failed the queue's schema
 *   failed <n> of <max> attempts[: <error>]          nacked with no attempts left, or never settled
 *   rejected[: <error>]                              nacked with `{ requeue: false }`
 *
 *   backoff failed on attempt <n>: <error>         the queue's backoff function threw or gave no delay
 *
 * `<error>` is the error's message, prefixed by its name unless that is plain `Error`. Every reason
 * is bounded (see `boundedReason`): it travels in a header or a column, where a reason of any length
 * or with any character would be refused, cut, or break the protocol carrying it. The reasons only
 * brokers give live in transports/shared/reasons.ts.
 */
export function errorText(error: unknown): string {
  let text: string;
  try {
    text =
      error instanceof Error
        ? error.name === 'Error' || error.name === ''
          ? String(error.message)
          : `${error.name}: ${error.message}`
        : String(error);
  } catch {
    text = Object.prototype.toString.call(error); // a thrown value whose toString throws
  }
  return boundedReason(text);
}

/** Characters a reason keeps: a reason is a line for an operator, not a document. */
export const MAX_REASON_LENGTH = 1000;

/**
 * `text` made safe to store as a reason on any broker: control characters (NUL, CR, LF...) become
 * spaces, a lone surrogate becomes U+FFFD, and it is cut to MAX_REASON_LENGTH characters.
 */
export function boundedReason(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing them is the point
  const clean = text.toWellFormed().replace(/[\u0000-\u001f\u007f]/g, ' ');
  return clean.length <= MAX_REASON_LENGTH
    ? clean
    : `${clean.slice(0, MAX_REASON_LENGTH - 1).toWellFormed()}…`;
}

/** Why a nacked delivery is dead-lettered: rejected outright, or out of attempts. */
export function nackReason(options: NackOptions, attempt: number, maxAttempts: number): string {
  const why = options.error === undefined ? '' : `: ${errorText(options.error)}`;
  return options.requeue === false ? `rejected${why}` : `failed ${attempt} of ${maxAttempts} attempts${why}`;
}

export function backoffReason(attempt: number, error: unknown): string {
  return `backoff failed on attempt ${attempt}: ${errorText(error)}`;
}
