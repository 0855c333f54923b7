/**
 * Names and values from OpenTelemetry's semantic conventions for messaging (v1.45.0, in development
 * there), and the few sluice adds under its own `sluice.` prefix where the conventions name nothing.
 */

/**
 * The version of OpenTelemetry's semantic conventions that sluice's span, attribute and metric names
 * follow; docs/telemetry.md lists them.
 */
export const SEMCONV_VERSION = '1.45.0';

export const MESSAGING_SYSTEM = 'messaging.system';
export const DESTINATION_NAME = 'messaging.destination.name';
export const OPERATION_TYPE = 'messaging.operation.type';
export const OPERATION_NAME = 'messaging.operation.name';
export const MESSAGE_ID = 'messaging.message.id';
export const CONSUMER_GROUP = 'messaging.consumer.group.name';
export const ERROR_TYPE = 'error.type';

/** The delivery's attempt: 1 on first delivery, +1 on each redelivery. */
export const ATTEMPT = 'sluice.message.attempt';
/** How the processing ended: `ack`, `nack` (to be retried) or `dead_letter`. */
export const OUTCOME = 'sluice.message.outcome';
/** On a job's spans: its task and id (the message is a job envelope). */
export const JOB_TASK = 'sluice.job.task';
export const JOB_ID = 'sluice.job.id';
/** On a job's execution span: 1 on the first execution, +1 on each retry. */
export const JOB_ATTEMPT = 'sluice.job.attempt';

export type Outcome = 'ack' | 'nack' | 'dead_letter';

/**
 * `messaging.system` of sluice's own queues, by class: the conventions' value where they have one
 * (`rabbitmq`), else the broker's name. A queue of another class is `sluice` unless named.
 */
const SYSTEMS: Readonly<Record<string, string>> = {
  MemoryQueue: 'sluice',
  RedisQueue: 'redis',
  PostgresQueue: 'postgresql',
  AmqpQueue: 'rabbitmq',
  NatsQueue: 'nats',
  SqliteQueue: 'sqlite',
};

export function systemOf(queue: object): string {
  return SYSTEMS[queue.constructor?.name ?? ''] ?? 'sluice';
}

/** The job a message carries, when it is a job envelope (what Jobs sends on its queue). */
export function jobOf(message: unknown): { task: string; id: string } | undefined {
  const job = message as { task?: unknown; id?: unknown; args?: unknown } | null;
  if (typeof job?.task !== 'string' || typeof job.id !== 'string' || !Array.isArray(job.args))
    return undefined;
  return { task: job.task, id: job.id };
}

/** `error.type`: the error's class name (`_OTHER` for what is not an Error). */
export function errorTypeOf(error: unknown): string {
  return error instanceof Error ? error.constructor.name || error.name : '_OTHER';
}
