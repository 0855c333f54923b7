import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import type { OperableQueue } from '../../src/queuing/operations.js';
import type { Queue } from '../../src/queuing/types.js';

/** A MemoryQueue with a dead-letter MemoryQueue, so that it has dead letters to show. */
export function memoryQueue(name: string): MemoryQueue<unknown> {
  return new MemoryQueue<unknown>({ name, deadLetter: new MemoryQueue({ name: `${name}.dead` }) });
}

/** Puts `messages` in a MemoryQueue's dead letters, through the queue itself. */
export function deadLetter(queue: OperableQueue<unknown>, messages: readonly unknown[], reason = 'boom') {
  return deadLetterThrough(queue, queue, messages, reason);
}

/**
 * Sends `messages` with `producer`, then takes each from `consumer` and nacks it with
 * `{ requeue: false }`: they end in the queue's dead letters, oldest first, as any consumer's would.
 */
export async function deadLetterThrough(
  producer: Queue<unknown>,
  consumer: Queue<unknown>,
  messages: readonly unknown[],
  reason: string,
): Promise<void> {
  for (const message of messages) await producer.send(message);
  const iterator = consumer[Symbol.asyncIterator]();
  try {
    for (let left = messages.length; left > 0; left--) {
      const next = await iterator.next();
      if (next.done) throw new Error('the queue ended before every message was dead-lettered');
      await next.value.nack({ requeue: false, error: new Error(reason) });
    }
  } finally {
    await iterator.return?.();
  }
}
