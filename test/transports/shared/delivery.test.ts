import { describe, expect, it } from 'vitest';
import { DeliverySettledError, InvalidOptionError } from '../../../src/errors.js';
import type { FlowLimits, NackOptions } from '../../../src/queuing/types.js';
import { type DeliveryOwner, GuardedDelivery } from '../../../src/transports/shared/delivery.js';
import { HandedOut } from '../../../src/transports/shared/handed-out.js';
import { BrokerIterator, Waiters } from '../../../src/transports/shared/iterator.js';
import { MAX_START_MARGIN } from '../../../src/transports/shared/start-margin.js';

class TestDelivery extends GuardedDelivery<string, TestDelivery> {}

function owner(): DeliveryOwner<TestDelivery> & { calls: string[] } {
  const calls: string[] = [];
  return {
    name: 'orders',
    calls,
    ack: async () => {
      calls.push('ack');
    },
    nack: (_, options: NackOptions) => {
      // Refused synchronously, as an adapter refuses a delay its broker cannot hold.
      if (options.delay === 13) throw new InvalidOptionError('delay', 13, 'not 13');
      calls.push(`nack ${JSON.stringify(options)}`);
      return Promise.resolve();
    },
  };
}

describe('GuardedDelivery: the settle guard every broker delivery shares', () => {
  it('settles once: a second ack or nack rejects with DeliverySettledError naming the queue', async () => {
    const o = owner();
    const delivery = new TestDelivery(o, 'm', 1, 'id-1', {}, undefined);
    await delivery.ack();
    await expect(delivery.ack()).rejects.toThrow(DeliverySettledError);
    await expect(delivery.nack()).rejects.toThrow(/orders/);
    expect(o.calls).toEqual(['ack']);
    expect(delivery.settled).toBe(true);
  });

  it('refuses bad nack options before anything is sent, leaving the delivery unsettled', async () => {
    const o = owner();
    const delivery = new TestDelivery(o, 'm', 1, 'id-1', {}, undefined);
    await expect(delivery.nack({ delay: -1 })).rejects.toThrow(InvalidOptionError);
    await expect(delivery.nack({ delay: 13 })).rejects.toThrow(/not 13/);
    expect(delivery.settled).toBe(false);
    await delivery.nack({ delay: 5 });
    expect(o.calls).toEqual(['nack {"delay":5}']);
  });

  it('nacks when disposed unsettled, and does nothing when disposed settled', async () => {
    const o = owner();
    {
      await using _ = new TestDelivery(o, 'm', 1, 'id-1', {}, undefined);
    }
    {
      await using settled = new TestDelivery(o, 'm', 1, 'id-2', {}, undefined);
      await settled.ack();
    }
    expect(o.calls).toEqual(['nack {}', 'ack']);
  });

  it('can be taken back once by a closing consumer, then refuses to settle', async () => {
    const delivery = new TestDelivery(owner(), 'm', 1, 'id-1', { traceparent: 't' }, 'why');
    expect(delivery.takeBack()).toBe(true);
    expect(delivery.takeBack()).toBe(false);
    await expect(delivery.ack()).rejects.toThrow(DeliverySettledError);
    expect(delivery).toMatchObject({ id: 'id-1', headers: { traceparent: 't' }, deadLetterReason: 'why' });
  });
});

describe('BrokerIterator and Waiters: the one iterator of every broker consumer', () => {
  function consumer() {
    const waiters = new Waiters<number>();
    const limits: FlowLimits[] = [];
    const owner = {
      waiters,
      limits,
      next: (iterator: BrokerIterator<number>) => waiters.wait(iterator),
      returned: (iterator: BrokerIterator<number>) => waiters.end(iterator),
      flow: (given: FlowLimits) => limits.push(given),
    };
    return owner;
  }

  it('flow() checks the limits, then gives the consumer the rate window with its start margin', () => {
    const c = consumer();
    const iterator = new BrokerIterator(c);
    expect(() => iterator.flow({ rateLimit: { limit: 0, interval: 1_000 } })).toThrow(InvalidOptionError);
    expect(() => iterator.flow({ groupConcurrency: 0 })).toThrow(InvalidOptionError);
    iterator.flow({ rateLimit: { limit: 10, interval: 1_000 }, groupConcurrency: 2 });
    expect(c.limits).toEqual([
      { rateLimit: { limit: 10, interval: 1_000 + MAX_START_MARGIN }, groupConcurrency: 2 },
    ]);
  });

  it('serves pending next() calls in the order they came, across iterators', async () => {
    const c = consumer();
    const a = new BrokerIterator(c);
    const b = new BrokerIterator(c);
    const first = a.next();
    const second = b.next();
    expect(c.waiters.hand(1)).toBe(true);
    expect(c.waiters.hand(2)).toBe(true);
    expect(c.waiters.hand(3)).toBe(false);
    expect(await first).toEqual({ value: 1, done: false });
    expect(await second).toEqual({ value: 2, done: false });
  });

  it('return() ends only that iterator’s pending calls, and later next() calls are done', async () => {
    const c = consumer();
    const a = new BrokerIterator(c);
    const b = new BrokerIterator(c);
    const pendingA = a.next();
    const pendingB = b.next();
    await a.return();
    expect(await pendingA).toEqual({ value: undefined, done: true });
    expect(await a.next()).toEqual({ value: undefined, done: true });
    expect(a.returned).toBe(true);
    expect(c.waiters.size).toBe(1);
    c.waiters.hand(9);
    expect(await pendingB).toEqual({ value: 9, done: false });
  });

  it('end(undefined, error) rejects every pending call with the iteration error', async () => {
    const c = consumer();
    const pending = [new BrokerIterator(c).next(), new BrokerIterator(c).next()];
    c.waiters.end(undefined, new Error('table dropped'));
    for (const call of pending) await expect(call).rejects.toThrow('table dropped');
    expect(c.waiters.size).toBe(0);
  });
});

describe('HandedOut: what close() lets settle, then takes back', () => {
  it('resolves at once with nothing when every delivery settled', async () => {
    const handedOut = new HandedOut<TestDelivery>();
    const delivery = new TestDelivery(owner(), 'm', 1, 'a', {}, undefined);
    handedOut.add(delivery);
    await delivery.ack();
    handedOut.delete(delivery);
    expect(await handedOut.settleWithin(60_000)).toEqual([]);
  });

  it('waits for the last settlement, not for the time', async () => {
    const handedOut = new HandedOut<TestDelivery>();
    const delivery = new TestDelivery(owner(), 'm', 1, 'a', {}, undefined);
    handedOut.add(delivery);
    const closing = handedOut.settleWithin(60_000);
    setTimeout(() => {
      void delivery.ack();
      handedOut.delete(delivery);
    }, 5);
    expect(await closing).toEqual([]); // long before the minute: the test's own timeout is 20 s
  });

  it('after the time, takes back what is unsettled: a late ack then rejects', async () => {
    const handedOut = new HandedOut<TestDelivery>();
    const late = new TestDelivery(owner(), 'm', 1, 'a', {}, undefined);
    handedOut.add(late);
    expect(await handedOut.settleWithin(5)).toEqual([late]);
    expect(handedOut.size).toBe(0);
    await expect(late.ack()).rejects.toThrow(DeliverySettledError);
  });
});
