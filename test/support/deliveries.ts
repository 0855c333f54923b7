import { BrokerUnavailableError } from '../../src/errors.js';
import type { Delivery, Producer } from '../../src/queuing/types.js';
import { sleep, within } from './async.js';

/** Takes `count` deliveries from a new iterator on `queue`, failing after `timeoutMs` in all. */
export async function receive<D extends Delivery<unknown>>(
  queue: AsyncIterable<D>,
  count = 1,
  timeoutMs = 10_000,
): Promise<D[]> {
  const iterator = queue[Symbol.asyncIterator]();
  const deadline = Date.now() + timeoutMs;
  const deliveries: D[] = [];
  try {
    while (deliveries.length < count) {
      const next = await within(
        iterator.next(),
        deadline - Date.now(),
        () => `waiting for delivery ${deliveries.length + 1} of ${count}`,
      );
      if (next.done) throw new Error(`iteration ended after ${deliveries.length} of ${count} deliveries`);
      deliveries.push(next.value);
    }
  } finally {
    await iterator.return?.();
  }
  return deliveries;
}

/** Fails if `queue` hands out anything within `ms`. */
export async function expectNothing<D extends Delivery<unknown>>(
  queue: AsyncIterable<D>,
  ms: number,
): Promise<void> {
  const iterator = queue[Symbol.asyncIterator]();
  const result = await Promise.race([iterator.next(), sleep(ms).then(() => undefined)]);
  await iterator.return?.();
  if (result !== undefined && !result.done) {
    const { message, attempt } = result.value;
    throw new Error(`unexpected delivery ${JSON.stringify(message)} (attempt ${attempt})`);
  }
}

/** Sends `message`, retrying while the broker is unavailable, for up to `timeoutMs`. */
export async function sendRetrying<T>(producer: Producer<T>, message: T, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await producer.send(message);
    } catch (error) {
      if (!(error instanceof BrokerUnavailableError) || Date.now() > deadline) throw error;
      await sleep(50);
    }
  }
}
