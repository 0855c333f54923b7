import { describe, expect, it } from 'vitest';
import * as core from '../src/index.js';
import * as amqp from '../src/transports/amqp/index.js';
import * as nats from '../src/transports/nats/index.js';
import * as postgres from '../src/transports/postgres/index.js';
import * as redis from '../src/transports/redis/index.js';
import * as sqlite from '../src/transports/sqlite/index.js';

/** One sample of every error class an entry point exports, with the code callers branch on. */
const errors: { code: string; error: Error }[] = [
  { code: 'VALIDATION_FAILED', error: new core.ValidationError('invalid payload') },
  { code: 'INVALID_OPTION', error: new core.InvalidOptionError('maxsize', -1, 'an integer ≥ 0') },
  { code: 'NO_HANDLER', error: new core.NoHandlerError('orders.place') },
  { code: 'HANDLER_ALREADY_REGISTERED', error: new core.HandlerAlreadyRegisteredError('orders.place') },
  { code: 'MIDDLEWARE_MISUSE', error: new core.MiddlewareError('yielded twice') },
  { code: 'TIMEOUT', error: new core.TimeoutError('dispatch', 200) },
  { code: 'QUEUE_CLOSED', error: new core.QueueClosedError('orders') },
  { code: 'DELIVERY_SETTLED', error: new core.DeliverySettledError('orders') },
  { code: 'BROKER_UNAVAILABLE', error: new core.BrokerUnavailableError('redis', 'send') },
  { code: 'MESSAGE_TOO_LARGE', error: new core.MessageTooLargeError('orders', 2048, 1024) },
  { code: 'NOT_SERIALIZABLE', error: new core.SerializationError('not JSON') },
  { code: 'INVALID_STATE', error: new core.InvalidStateError('started') },
  { code: 'JOB_FAILED', error: new core.JobFailedError('job-1', 'charge', 'failed', new Error('no')) },
  { code: 'JOB_NOT_COMPLETED', error: new core.JobNotCompletedError('job-1', 'charge', 'running') },
  { code: 'TASK_ALREADY_REGISTERED', error: new core.TaskAlreadyRegisteredError('charge') },
  { code: 'UNKNOWN_TASK', error: new core.UnknownTaskError('charge', 'job-1') },
  { code: 'INVALID_CRON', error: new core.InvalidCronError('61 * * * *', 'bad minute') },
  { code: 'JOB_CANCELLED', error: new core.JobCancelledError('job-1', 'charge', 'cancelled') },
  { code: 'AMQP_TOPOLOGY_MISMATCH', error: new amqp.AmqpTopologyError('orders', true) },
  { code: 'AMQP_ACCESS_REFUSED', error: new amqp.AmqpAccessError('orders', 'connect', { cause: null }) },
  {
    code: 'AMQP_MANAGEMENT_UNAVAILABLE',
    error: new amqp.AmqpManagementUnavailableError('http://127.0.0.1:15672/api'),
  },
  { code: 'REDIS_ACCESS_REFUSED', error: new redis.RedisAccessError('send', { cause: null }) },
  { code: 'NATS_ACCESS_REFUSED', error: new nats.NatsAccessError('send', { cause: null }) },
  { code: 'POSTGRES_QUERY_FAILED', error: new postgres.PostgresQueryError('send') },
  {
    code: 'NATS_TOPOLOGY_MISMATCH',
    error: new nats.NatsTopologyError(
      'orders',
      'consumer p0 of stream sluice-orders',
      'its max_deliver is 5',
    ),
  },
];

describe('error classes', () => {
  it('are all in the table: every error class the entry points export', () => {
    const exported = [core, amqp, nats, postgres, redis, sqlite]
      .flatMap((entryPoint) => Object.values(entryPoint))
      .filter((value) => typeof value === 'function' && value.prototype instanceof core.SluiceError);
    expect(new Set(errors.map(({ error }) => error.constructor))).toEqual(new Set(exported));
  });

  it.each(errors)('$error.name extends SluiceError with the code $code', ({ code, error }) => {
    expect(error).toBeInstanceOf(core.SluiceError);
    expect(error.name).toBe(error.constructor.name);
    expect((error as core.SluiceError).code).toBe(code);
  });

  it('have a code each', () => {
    const codes = errors.map(({ code }) => code);
    expect(new Set(codes).size).toBe(codes.length);
  });
});
