import { InvalidOptionError } from '../errors.js';
import { textProblem } from '../queuing/text-rules.js';

/** Characters a caller-chosen job id may have. */
export const MAX_JOB_ID_LENGTH = 255;

/**
 * A job id is a key in every store (a Redis key, a primary key, an encoded NATS KV key) and a queue
 * deduplication key: a non-empty string of at most 255 characters, following the queues' text rule
 * (well-formed Unicode, no control characters) so that it means one job on every backend.
 */
export function assertJobId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_JOB_ID_LENGTH) {
    throw new InvalidOptionError('id', id, `a non-empty string of at most ${MAX_JOB_ID_LENGTH} characters`);
  }
  const problem = textProblem(id);
  if (problem !== undefined) {
    throw new InvalidOptionError('id', id, `well-formed Unicode without control characters (it ${problem})`);
  }
}
