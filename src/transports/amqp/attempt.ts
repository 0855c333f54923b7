import { decodeEnvelope, type Envelope } from '../shared/envelope.js';

/*
 * RabbitMQ does not count deliveries across a requeue, so this adapter keeps the attempt in the
 * envelope (format in src/queuing/envelope.ts): a body must carry a string `id` and an `attempt`,
 * and a retry is published as a copy with `attempt + 1`.
 */

/** The envelope, or why the body is not one (the reason a foreign message is dead-lettered with). */
export function receiveEnvelope(body: Buffer): Envelope | string {
  let envelope: ReturnType<typeof decodeEnvelope>;
  try {
    envelope = decodeEnvelope(body.toString());
  } catch (error) {
    return (error as Error).message;
  }
  if (envelope.id === undefined) return 'undecodable envelope: id is not a string';
  if (envelope.attempt === undefined) return 'undecodable envelope: attempt is not an integer ≥ 1';
  return envelope as Envelope;
}

export function encodeRetry(envelope: Envelope): Buffer {
  return Buffer.from(JSON.stringify({ ...envelope, attempt: envelope.attempt + 1 }));
}
