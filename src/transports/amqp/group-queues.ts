import { createHash } from 'node:crypto';
import type { Channel } from 'amqplib';
import { AmqpTopologyError } from './errors.js';
import { CONTROL_EXCHANGE } from './pause.js';
import { MAX_PRIORITY } from './priority.js';

/*
 * The groups of a queue `name` (SPEC § 7; docs/wire-protocol.md, "Groups on RabbitMQ"):
 *
 * - `name.g.<group>`: one durable queue per group, declared by the first send of the group (in each
 *   connection) with `x-single-active-consumer`, so that one consumer at a time serves a group and
 *   its cap holds across processes, and with the main queue's priority argument. The default group
 *   is the main queue itself.
 * - `name.groups`: the registry, a stream to which whoever declares a group queue first in a
 *   connection appends its name; consumers read it from the start (group-registry.ts).
 *
 * A grouped message found in the main queue (a delayed one or a retry, dead-lettered there by its
 * delay queue, or a redriven dead letter) is moved into its group's queue by the consumer.
 */

/**
 * What `Publisher.publishGrouped` takes for the default group's own queue, `name.g.` (no group is
 * empty): where consumers under a group cap move the default group's messages (admission.ts).
 */
export const DEFAULT_GROUP_QUEUE = '';

/** RabbitMQ's longest queue name, in UTF-8 bytes. */
const MAX_QUEUE_NAME_BYTES = 255;
const GROUP_INFIX = '.g.';
const HASHED_GROUP = '.g.sha256.';

/**
 * The queue of `group`: `name.g.<group>`, or `name.g.sha256.<hex>` (the hex SHA-256 of the group)
 * when that is too long for a queue name or the group itself begins with `sha256.`.
 */
export function groupQueueName(name: string, group: string): string {
  const readable = `${name}${GROUP_INFIX}${group}`;
  if (Buffer.byteLength(readable) <= MAX_QUEUE_NAME_BYTES && !group.startsWith('sha256.')) return readable;
  return `${name}${HASHED_GROUP}${createHash('sha256').update(group).digest('hex')}`;
}

/** What every group queue's name begins with. */
export function groupQueuePrefix(name: string): string {
  return `${name}${GROUP_INFIX}`;
}

/** Declares a group queue; every process must pass the same arguments. */
export async function declareGroupQueue(channel: Channel, queue: string, priorities: boolean): Promise<void> {
  const args: Record<string, unknown> = { 'x-single-active-consumer': true };
  if (priorities) args['x-max-priority'] = MAX_PRIORITY;
  try {
    await channel.assertQueue(queue, { durable: true, arguments: args });
  } catch (error) {
    const failed = (error as { code?: unknown } | null)?.code === 406;
    throw failed ? new AmqpTopologyError(queue, priorities, { cause: error }) : error;
  }
}

/** The registry stream's arguments: every process declares it alike. */
const STREAM_ARGUMENTS = { 'x-queue-type': 'stream' };

/** The registry of queue `name`'s group queues (group-registry.ts). */
export function registryName(name: string): string {
  return `${name}.groups`;
}

/** Declares the registry stream of queue `name`. */
export async function declareRegistry(channel: Channel, name: string): Promise<void> {
  await channel.assertQueue(registryName(name), { durable: true, arguments: STREAM_ARGUMENTS });
}

/**
 * Tells the readers of queue `name`'s registry to look for it: sent on the control exchange
 * (pause.ts), with the registry's name as routing key, after a group queue was registered.
 */
export async function signalRegistry(channel: Channel, name: string): Promise<void> {
  await channel.assertExchange(CONTROL_EXCHANGE, 'direct', { durable: true });
  channel.publish(CONTROL_EXCHANGE, registryName(name), Buffer.alloc(0));
}
