/**
 * This process's consumers of each queue, by name: what `stats().inFlight` counts when RabbitMQ's
 * management API cannot be reached (AMQP 0-9-1 counts no unacknowledged messages).
 */
const consumers = new Map<string, Set<{ readonly held: number }>>();

/** Counts `consumer`'s deliveries in its queue's in-flight figure until the returned call. */
export function countInFlight(name: string, consumer: { readonly held: number }): () => void {
  const mine = consumers.get(name) ?? new Set();
  consumers.set(name, mine.add(consumer));
  return () => {
    mine.delete(consumer);
    if (mine.size === 0 && consumers.get(name) === mine) consumers.delete(name);
  };
}

/** The deliveries this process's consumers of queue `name` hold. */
export function inFlightHere(name: string): number {
  let held = 0;
  for (const consumer of consumers.get(name) ?? []) held += consumer.held;
  return held;
}
