import { describe, expectTypeOf, it } from 'vitest';
import { MemoryQueue } from '../../src/queuing/memory/memory-queue.js';
import type { Draining, PumpStats } from '../../src/queuing/pump/draining.js';
import type { DrainingQueue } from '../../src/queuing/pump/draining-queue.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Consumer, Delivery, Producer, Queue } from '../../src/queuing/types.js';
import { defineCommand } from '../../src/routing/define.js';
import { CommandBus } from '../../src/routing/handler-bus.js';

const Ship = defineCommand<{ orderId: string }, void>('orders.ship');
type ShipMessage = ReturnType<typeof Ship>;

describe('queue generics', () => {
  it('give deliveries the message type of the queue', async () => {
    const queue = new MemoryQueue<{ n: number }>();
    expectTypeOf(queue).toExtend<Queue<{ n: number }>>();
    for await (const delivery of queue) {
      expectTypeOf(delivery).toEqualTypeOf<Delivery<{ n: number }>>();
      expectTypeOf(delivery.message).toEqualTypeOf<{ n: number }>();
      expectTypeOf(delivery.attempt).toEqualTypeOf<number>();
    }
  });

  it('type send by the message type', () => {
    const queue = new MemoryQueue<string>();
    expectTypeOf(queue.send('a')).toEqualTypeOf<Promise<void>>();
    // @ts-expect-error a MemoryQueue<string> takes strings
    queue.send(1);
    const producer: Producer<string> = queue;
    // @ts-expect-error a producer of numbers is not a producer of strings
    const wrong: Producer<number> = queue;
    void producer;
    void wrong;
  });
});

describe('pump generics', () => {
  it('type inline pump middlewares of both styles by the message type, yield included', () => {
    const pump = new Pump(new MemoryQueue<{ n: number }>(), () => {});
    pump.use(async function* audit(message) {
      expectTypeOf(message).toEqualTypeOf<{ n: number }>();
      const result = yield;
      expectTypeOf(result).toBeAny();
    });
    pump.use(async (message, next, context) => {
      expectTypeOf(message).toEqualTypeOf<{ n: number }>();
      expectTypeOf(context.attempt).toEqualTypeOf<number>();
      return next(message);
    });
  });

  it('type a function dispatcher parameter by the consumer message type', () => {
    const queue = new MemoryQueue<{ n: number }>();
    const pump = new Pump(queue, (message) => {
      expectTypeOf(message).toEqualTypeOf<{ n: number }>();
    });
    expectTypeOf(pump).toEqualTypeOf<Pump<{ n: number }>>();
    expectTypeOf(pump.draining()).toEqualTypeOf<Draining<{ n: number }>>();
    expectTypeOf(pump.draining().stats).toEqualTypeOf<PumpStats>();
  });

  it('let a queue of commands feed a CommandBus', () => {
    const queue = new MemoryQueue<ShipMessage>();
    const pump = new Pump(queue, new CommandBus());
    expectTypeOf(pump).toEqualTypeOf<Pump<ShipMessage>>();
    expectTypeOf(queue.draining(new CommandBus())).toEqualTypeOf<DrainingQueue<ShipMessage>>();
  });

  it('refuse a MemoryQueue<number> feeding a CommandBus', () => {
    const numbers = new MemoryQueue<number>();
    // @ts-expect-error numbers are not commands
    new Pump(numbers, new CommandBus());
    // @ts-expect-error numbers are not commands
    numbers.draining(new CommandBus());
  });

  it('refuse a dispatcher function that expects another message type', () => {
    const consumer: Consumer<string> = new MemoryQueue<string>();
    // @ts-expect-error the dispatcher takes numbers, the consumer yields strings
    new Pump<string>(consumer, (message: number) => message);
  });
});
