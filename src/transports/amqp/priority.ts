/** RabbitMQ's highest priority, the `x-max-priority` of a priority queue. */
export const MAX_PRIORITY = 10;

/**
 * Sluice priorities are any finite numbers, default 0; RabbitMQ's are integers 0..MAX_PRIORITY.
 * Rounded, -5..5 map one to one onto 0..10 (0 onto 5, so negative priorities come after the
 * default); anything below -5 counts as -5, anything above 5 as 5.
 */
export function toAmqpPriority(priority: number): number {
  const half = MAX_PRIORITY / 2;
  return Math.min(half, Math.max(-half, Math.round(priority))) + half;
}

/** What a message sent without a priority carries, so it sits between positive and negative ones. */
export const DEFAULT_AMQP_PRIORITY = MAX_PRIORITY / 2;
