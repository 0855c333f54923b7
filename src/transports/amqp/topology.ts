import { createHash } from 'node:crypto';
import type { Channel, Replies } from 'amqplib';
import { AmqpTopologyError } from './errors.js';
import { MAX_PRIORITY } from './priority.js';

/*
 * The RabbitMQ objects behind one sluice queue `name` (all durable, all on the default exchange;
 * docs/wire-protocol.md (RabbitMQ) is their specification for clients in other languages):
 *
 * - `name`: the queue itself, a classic queue with `x-max-priority` (quorum queues of RabbitMQ 3.x
 *   have no priorities), or a plain classic queue when opened with `priorities: false`.
 * - `name.delay.<ms>`: one per distinct delay. Its queue-level `x-message-ttl` is that delay and it
 *   dead-letters into `name`. One TTL per queue keeps every delay exact: RabbitMQ only expires
 *   messages at the head of a queue, so mixed TTLs in one queue would hold a short delay behind a long
 *   one. `x-expires` removes the queue once unused; see `DelayDeclarations`.
 * - `name.key.<key>`: a dedup marker holding one message while a keyed message is in the queue, for
 *   at most the sender's `keyTimeout` (the marker's own expiration); see key-markers.ts.
 * - the dead-letter queue (default `name.dead`), declared like a main queue so that
 *   `new AmqpQueue('name.dead')` reads it.
 * - `name.paused`: holds a message while the queue is paused; see pause.ts.
 */

/** AMQP header of a keyed message: its dedup key, released when the message leaves the queue. */
export const KEY_HEADER = 'x-sluice-key';
/**
 * AMQP header of a keyed message: when its key's marker may expire at the earliest (milliseconds
 * since the epoch, on the sender's clock); see `KeyMarkers.mayRelease`.
 */
export const KEY_UNTIL_HEADER = 'x-sluice-key-until';
/** AMQP header of a dead-lettered message: why it was dead-lettered (shared/reasons.ts's wording). */
export const REASON_HEADER = 'x-sluice-reason';

/** AMQP header of a dead-lettered message: when it was dead-lettered, in milliseconds since the epoch. */
export const DEAD_AT_HEADER = 'x-sluice-dead-at';

/** Any client declaring `name` must pass the same arguments, or RabbitMQ refuses the declaration. */
const PRIORITY_ARGUMENTS = { 'x-max-priority': MAX_PRIORITY };
const PLAIN_ARGUMENTS = {};

/** How long an unused delay queue outlives its TTL; it is redeclared at least twice within it. */
const DELAY_QUEUE_GRACE = 60_000;

/** The longest `x-message-ttl` and `x-expires` RabbitMQ takes (ten years): it refuses a longer one. */
export const MAX_TTL = 315_360_000_000;

/** The longest delay a delay queue can hold: its `x-expires` is its TTL plus the grace. */
export const LONGEST_DELAY = MAX_TTL - DELAY_QUEUE_GRACE;

/**
 * Declares a main or dead-letter queue: a priority queue, or a plain one with `priorities: false`.
 * The broker's answer counts its ready messages and its consumers.
 */
export async function declareQueue(
  channel: Channel,
  queue: string,
  priorities: boolean,
): Promise<Replies.AssertQueue> {
  const args = priorities ? PRIORITY_ARGUMENTS : PLAIN_ARGUMENTS;
  try {
    return await channel.assertQueue(queue, { durable: true, arguments: args });
  } catch (error) {
    throw isPreconditionFailure(error) ? new AmqpTopologyError(queue, priorities, { cause: error }) : error;
  }
}

/**
 * Declares delay queues on demand. `x-expires` counts from the last declaration (publishing does not
 * reset it), so a queue is redeclared before a publish whenever its last declaration is older than
 * half the grace: a message published into it always expires (into the main queue) before the queue.
 */
export class DelayDeclarations {
  readonly #declaredAt = new Map<number, number>();

  constructor(private readonly name: string) {}

  async ensure(channel: Channel, delay: number, force = false): Promise<string> {
    const queue = delayQueueName(this.name, delay);
    const now = Date.now();
    const fresh = now - (this.#declaredAt.get(delay) ?? Number.NEGATIVE_INFINITY) < DELAY_QUEUE_GRACE / 2;
    if (fresh && !force) return queue;
    await channel.assertQueue(queue, {
      durable: true,
      arguments: {
        'x-message-ttl': delay,
        'x-expires': delay + DELAY_QUEUE_GRACE,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': this.name,
      },
    });
    this.#declaredAt.set(delay, now);
    const delays = declaredDelays.get(this.name) ?? new Set();
    declaredDelays.set(this.name, delays.add(delay));
    return queue;
  }
}

export function delayQueueName(name: string, delay: number): string {
  return `${name}.delay.${delay}`;
}

/**
 * The delays each queue had a delay queue declared for in this process: where `stats` and `purge`
 * look for delayed messages when RabbitMQ's management API cannot list the delay queues.
 */
const declaredDelays = new Map<string, Set<number>>();

export function delaysDeclaredHere(name: string): ReadonlySet<number> {
  return declaredDelays.get(name) ?? new Set();
}

/** RabbitMQ's longest queue name (a short string: 255 bytes). */
const MAX_QUEUE_NAME_BYTES = 255;

/** What names a marker queue by its key's hash: see `keyQueueName`. */
const HASHED_KEY = '.key.sha256.';
const SHA256_HEX_LENGTH = 64;

/**
 * The longest name (and dead-letter name) of a queue, in UTF-8 bytes: what leaves room for its
 * longest derived name, the marker queue of a hashed key, within RabbitMQ's limit.
 */
export const MAX_NAME_BYTES = MAX_QUEUE_NAME_BYTES - HASHED_KEY.length - SHA256_HEX_LENGTH;

/**
 * The marker queue of a dedup key: `name.key.<key>`, or `name.key.sha256.<hex>` (the hex SHA-256 of
 * the key) for a key too long for a queue name and for any key that itself begins with `sha256.`,
 * so that no key's readable name is another key's hashed one.
 */
export function keyQueueName(name: string, key: string): string {
  const readable = `${name}.key.${key}`;
  if (Buffer.byteLength(readable) <= MAX_QUEUE_NAME_BYTES && !key.startsWith('sha256.')) return readable;
  return `${name}${HASHED_KEY}${createHash('sha256').update(key).digest('hex')}`;
}

/**
 * The longest a key is held: a marker's queue-level TTL, and so the cap of `keyTimeout` (a marker's
 * own expiration). Fixed, because every process declares the marker queue with these arguments.
 */
export const KEY_HOLD = 86_400_000;

export const KEY_QUEUE_ARGUMENTS = {
  // reject-publish makes the broker nack a second marker: an atomic test-and-set across processes.
  'x-max-length': 1,
  'x-overflow': 'reject-publish',
  'x-message-ttl': KEY_HOLD,
  'x-expires': KEY_HOLD,
};

function isPreconditionFailure(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 406;
}
