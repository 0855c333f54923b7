import { AmqpManagementUnavailableError } from './errors.js';
import { Management } from './management.js';
import { resolveOptions } from './options.js';

/** Names that sluice derives from a queue's: not queues of their own. */
const DERIVED = /\.(?:delay\.[0-9]+|key\..*|paused|groups|g\..*|rate\.[0-9]+\.[0-9]+(?:\.cool|\.minted)?)$/s;

/**
 * The sluice queues on the broker at `url`, sorted: every queue but those sluice derives from a
 * queue's name (delay, key-marker and pause queues, group queues, the group registry and rate
 * tokens), RabbitMQ's own (`amq.*`, such as consumers' control queues) and a dead-letter queue
 * `<q>.dead` next to its `<q>`. Only RabbitMQ's management API lists queues.
 * @param options - `url`: the broker, as {@link AmqpQueueOptions.url}; default
 * `amqp://guest:guest@127.0.0.1:5672`
 * @throws {@link sluice!InvalidOptionError | InvalidOptionError} for a `url` that is not an
 * `amqp://` or `amqps://` URL
 * @throws {@link AmqpManagementUnavailableError} when the management API does not answer
 */
export async function queueNames(options: { url?: string } = {}): Promise<string[]> {
  const { target } = resolveOptions('sluice', options); // the URL checked and defaulted as a queue's
  const management = new Management((target as { url: string }).url);
  const names = await management.queueNames();
  if (names === undefined) throw new AmqpManagementUnavailableError(management.base);
  const all = new Set(names);
  return names
    .filter((name) => !name.startsWith('amq.') && !DERIVED.test(name))
    .filter((name) => !(name.endsWith('.dead') && all.has(name.slice(0, -'.dead'.length))))
    .sort();
}
