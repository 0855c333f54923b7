import { describe, expectTypeOf, it } from 'vitest';
import type { BrokerDelivery as AmqpBrokerDelivery, AmqpQueue } from '../../src/transports/amqp/index.js';
import type { NatsQueue } from '../../src/transports/nats/index.js';
import type { PostgresQueue } from '../../src/transports/postgres/index.js';
import type { RedisQueue } from '../../src/transports/redis/index.js';
import type { BrokerDelivery, SqliteQueue } from '../../src/transports/sqlite/index.js';

type DeliveryOf<Q> = Q extends AsyncIterable<infer D> ? D : never;

describe('every broker queue yields deliveries of the shared shape', () => {
  it('id, headers and deadLetterReason are typed on every adapter, with the message type', () => {
    expectTypeOf<DeliveryOf<RedisQueue<{ n: number }>>>().toExtend<BrokerDelivery<{ n: number }>>();
    expectTypeOf<DeliveryOf<PostgresQueue<{ n: number }>>>().toExtend<BrokerDelivery<{ n: number }>>();
    expectTypeOf<DeliveryOf<AmqpQueue<{ n: number }>>>().toExtend<BrokerDelivery<{ n: number }>>();
    expectTypeOf<DeliveryOf<NatsQueue<{ n: number }>>>().toExtend<BrokerDelivery<{ n: number }>>();
    expectTypeOf<DeliveryOf<SqliteQueue<{ n: number }>>>().toExtend<BrokerDelivery<{ n: number }>>();
    expectTypeOf<AmqpBrokerDelivery<string>['deadLetterReason']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<BrokerDelivery<string>['headers']>().toEqualTypeOf<Readonly<Record<string, unknown>>>();
  });
});
