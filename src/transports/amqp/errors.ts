import { SluiceError } from '../../errors.js';
import { MAX_PRIORITY } from './priority.js';

/** A queue exists on the broker with arguments other than those sluice declares. */
export class AmqpTopologyError extends SluiceError {
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
