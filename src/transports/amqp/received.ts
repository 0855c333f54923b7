import { createHash } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import type { Envelope } from '../shared/envelope.js';
import type { MessageProperties } from './producer.js';
import type { Subscription } from './subscription.js';

/*
 * RabbitMQ does not count deliveries across a requeue, so this adapter keeps the attempt in the
 * envelope (shared/envelope.ts): a retry is published as a copy with `attempt + 1`, and every copy
 * (retry, release, dead letter) carries the message's id in its body, so the id stays the same
 * whichever copy is received.
 */

/** A message held by a consumer, as the settling operations need it. */
export interface Held {
  readonly subscription: Subscription;
  readonly raw: ConsumeMessage;
  /** Its dedup key (`x-sluice-key` header), released when it leaves the queue. */
  readonly key: string | undefined;
}

/** A held message whose body is an envelope. */
export interface Received extends Held {
  readonly envelope: Envelope;
  /** False when the body has no id: `envelope.id` then came from `storedId`, and copies add it. */
  readonly ownId: boolean;
}

/**
 * The id of a body that carries none: the AMQP `message_id` a producer in another language set,
 * else one derived from the body (the first 32 hex digits of its SHA-256), the same on every
 * redelivery of it.
 */
export function storedId(raw: ConsumeMessage): string {
  const { messageId } = raw.properties;
  if (typeof messageId === 'string' && messageId.length > 0) return messageId;
  return `sha256:${createHash('sha256').update(raw.content).digest('hex').slice(0, 32)}`;
}

/** The body of a retry: the envelope with `attempt + 1` (and its id, whether or not the body had one). */
export function retryBody(envelope: Envelope): Buffer {
  return Buffer.from(JSON.stringify({ ...envelope, attempt: envelope.attempt + 1 }));
}

/** The body of a copy with the same attempt: as received, with the id added when it had none. */
export function copyBody(body: Buffer | string, id: string, ownId: boolean): Buffer {
  if (ownId) return typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.from(JSON.stringify({ ...JSON.parse(body.toString()), id }));
}

/** What a copy keeps of the original's properties. */
export function copyProperties(raw: ConsumeMessage): MessageProperties {
  const { contentType, priority, headers } = raw.properties;
  return { contentType, priority, headers };
}
