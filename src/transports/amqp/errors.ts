import { SluiceError } from '../../errors.js';
import { AccessRefusedError } from '../shared/access-refused.js';
import { MAX_PRIORITY } from './priority.js';

/**
 * A queue exists on the broker with arguments other than those sluice declares (e.g. another
 * `x-max-priority`). Retrying would never fix it, so sends and `next()` reject with it. Its code is
 * `AMQP_TOPOLOGY_MISMATCH`.
 */
export class AmqpTopologyError extends SluiceError {
  /** @internal Thrown by the adapter, not made by users. */
  constructor(queue: string, priorities: boolean, options?: ErrorOptions) {
    const shape = priorities ? `x-max-priority ${MAX_PRIORITY}` : 'no x-max-priority (priorities: false)';
    super(
      'AMQP_TOPOLOGY_MISMATCH',
      `RabbitMQ queue ${queue} cannot be declared as sluice needs it (durable, ${shape}): ` +
        'it probably exists with other arguments',
      options,
    );
  }
}

/**
 * RabbitMQ refused the queue's user (ACCESS_REFUSED, 403): its credentials, or its permission on a
 * queue or a name RabbitMQ reserves. No retry fixes that, so sends reject with it and a consumer's
 * iteration ends with it. Its code is `AMQP_ACCESS_REFUSED`.
 */
export class AmqpAccessError extends AccessRefusedError {
  /** @internal Thrown by the adapter, not made by users. */
  constructor(queue: string, operation: string, options: { cause: unknown }) {
    super('AMQP_ACCESS_REFUSED', 'RabbitMQ', `${operation} on queue ${queue}`, options.cause);
  }
}

/**
 * What no retry changes, as the error to reject with: a topology mismatch, or RabbitMQ refusing the
 * queue's user. Undefined for anything else (an outage), which is waited out.
 */
export function refusal(error: unknown, queue: string, operation: string): SluiceError | undefined {
  if (error instanceof AmqpTopologyError || error instanceof AmqpAccessError) return error;
  if (isAccessRefused(error)) return new AmqpAccessError(queue, operation, { cause: error });
  return undefined;
}

/** Whether RabbitMQ answered ACCESS_REFUSED, at the handshake (no code, only the text) or later. */
function isAccessRefused(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === 403 || (typeof message === 'string' && message.includes('403 (ACCESS-REFUSED)'));
}

/**
 * Listing a broker's queues ({@link queueNames}) needs RabbitMQ's management API, which did not
 * answer. Its code is `AMQP_MANAGEMENT_UNAVAILABLE`.
 */
export class AmqpManagementUnavailableError extends SluiceError {
  /** @internal Thrown by the adapter, not made by users. */
  constructor(api: string) {
    super(
      'AMQP_MANAGEMENT_UNAVAILABLE',
      `RabbitMQ's management API (${api}) did not answer: AMQP cannot list queues, so name them ` +
        '(--queue <name>) or enable the rabbitmq_management plugin',
    );
  }
}
