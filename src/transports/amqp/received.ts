import { createHash } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import type { Envelope } from '../shared/envelope.js';
import type { MessageProperties } from './publisher.js';
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

/** A held message whose body is an envelope (its id written in when the body had none). */
export interface Received extends Held {
  readonly envelope: Envelope;
}

/**
 * The id of a body that carries none: the AMQP `message_id` a producer in another language set,
 * else one derived from the body (the first 32 hex digits of its SHA-256), the same on every
 * redelivery of it. Two different messages with the same body and no `message_id` get the same
 * id: docs/wire-protocol.md (RabbitMQ) asks foreign producers to set one.
 */
export function storedId(raw: Pick<ConsumeMessage, 'content' | 'properties'>): string | (() => string) {
  const { messageId } = raw.properties;
  return typeof messageId === 'string' && messageId.length > 0 ? messageId : deriving(raw.content);
}

/** Hashes the body only if it turns out to have no id (a closure only for such foreign messages). */
function deriving(body: Buffer): () => string {
  return () => `sha256:${createHash('sha256').update(body).digest('hex').slice(0, 32)}`;
}

/** The body of a retry: the envelope with `attempt + 1` (and its id, whether or not the body had one). */
export function retryBody(envelope: Envelope): Buffer {
  return Buffer.from(JSON.stringify({ ...envelope, attempt: envelope.attempt + 1 }));
}

/**
 * The body of a copy with the same attempt: as received when it carries the id, else with the id
 * written in. Only copies (a release, a dead letter) read the body again, not the hot path.
 */
export function copyBody(body: Buffer, id: string): Buffer {
  const received = JSON.parse(body.toString()) as { id?: unknown };
  return received.id === id ? body : Buffer.from(JSON.stringify({ ...received, id }));
}

/** What a copy keeps of the original's properties. */
export function copyProperties(raw: ConsumeMessage): MessageProperties {
  const { contentType, priority, headers } = raw.properties;
  return { contentType, priority, headers };
}
