import type { Channel, ConfirmChannel } from 'amqplib';
import { RESOLVED } from '../../queuing/settled.js';

/*
 * Pausing a queue `name`, across processes and restarts (docs/wire-protocol.md, "Pausing a queue on
 * RabbitMQ"):
 *
 * - the record: the durable queue `name.paused` (no arguments) holds a message while the queue is
 *   paused. Its ready count, which a declaration returns, is the state: nothing ever consumes it.
 * - the signal: after changing the record, `pause` and `resume` publish to the durable direct
 *   exchange `sluice.control` with the queue's name as routing key. Each consumer binds a queue of
 *   its own (exclusive, auto-delete) to it and, on any signal, reads the record again: a signal
 *   only says "look", so that signals crossing each other cannot leave a consumer in a stale state.
 */

export const CONTROL_EXCHANGE = 'sluice.control';
const PAUSED = 'paused';

export function pausedQueueName(name: string): string {
  return `${name}.paused`;
}

/** Whether queue `name` is paused; declares its record. */
export async function readPaused(channel: Channel, name: string): Promise<boolean> {
  const { messageCount } = await channel.assertQueue(pausedQueueName(name), { durable: true });
  return messageCount > 0;
}

/** Writes the record (confirmed), then tells the running consumers. */
export async function writePaused(channel: ConfirmChannel, name: string, paused: boolean): Promise<void> {
  const record = pausedQueueName(name);
  const was = await readPaused(channel, name);
  if (paused && !was) {
    channel.sendToQueue(record, Buffer.from(PAUSED), { persistent: true });
    await channel.waitForConfirms();
  } else if (!paused && was) {
    await channel.purgeQueue(record);
  }
  await channel.assertExchange(CONTROL_EXCHANGE, 'direct', { durable: true });
  channel.publish(CONTROL_EXCHANGE, name, Buffer.from(paused ? PAUSED : 'resumed'));
  await channel.waitForConfirms();
}

/**
 * Follows the state of queue `name` on a consumer's channel: `apply` is called with the state read
 * at once, then with every change a signal reveals, one call at a time (each awaited). Bound before
 * the first read, so no signal sent after it is missed. Ends with the channel.
 */
export async function watchPaused(
  channel: Channel,
  name: string,
  apply: (paused: boolean) => Promise<void>,
): Promise<void> {
  await channel.assertExchange(CONTROL_EXCHANGE, 'direct', { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  await channel.bindQueue(queue, CONTROL_EXCHANGE, name);
  let current: boolean | undefined;
  const check = async () => {
    const paused = await readPaused(channel, name);
    if (paused === current) return;
    current = paused;
    await apply(paused);
  };
  // Signals sent meanwhile wait in the bound queue until the consume below.
  await check();
  let checking = RESOLVED;
  await channel.consume(
    queue,
    () => {
      checking = checking.then(check).catch(() => {}); // the channel closed: the consumer subscribes again
    },
    { noAck: true },
  );
}
