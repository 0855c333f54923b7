import { randomBytes } from 'node:crypto';

/** 96 random bits, drawn once per process (and per worker thread, which loads its own copy). */
const PREFIX = randomBytes(12).toString('base64url');
let counter = 0;

/**
 * A process-unique prefix plus a counter: as unique across processes as a random UUID for any
 * realistic number of processes, yet 16 characters plus a base-36 counter (20 in all up to the
 * 1,679,616th id, 21 up to the 60,466,176th) instead of 36, and no entropy drawn per call.
 * Every message envelope carries one, so its length is paid on every broker write: RabbitMQ stores
 * a small message measurably faster than one a UUID pushes past 64 bytes. The characters
 * (base64url, base 36) need no escaping in JSON, headers or NATS message ids.
 */
export function uniqueId(): string {
  return PREFIX + (counter++).toString(36);
}
