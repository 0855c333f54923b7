import { createHash } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { connect } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  BrokerUnavailableError,
  InvalidOptionError,
  MessageTooLargeError,
  SerializationError,
} from '../../src/errors.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Delivery } from '../../src/queuing/types.js';
import { defineCommand } from '../../src/routing/define.js';
import { type AmqpDelivery, AmqpQueue, AmqpTopologyError } from '../../src/transports/amqp/index.js';
import { toAmqpPriority } from '../../src/transports/amqp/priority.js';
import { sleep, stateOf, within } from '../support/async.js';
import { brokerAvailable } from '../support/broker.js';
import { expectNothing, receive, sendRetrying } from '../support/deliveries.js';
import { amqpQueues } from './amqp-fixture.js';
import {
  AMQP_URL,
  deleteQueues,
  open,
  purge,
  restartRabbit,
  throughProxy,
  withConnection,
} from './amqp-harness.js';

const up = await brokerAvailable('rabbitmq');

interface Numbered {
  n: number;
}

/** Whether a chunk from RabbitMQ holds a publisher confirm (method frame basic.ack: class 60, method 80). */
function isConfirm(chunk: Buffer): boolean {
  return chunk.includes(Buffer.from([0x00, 0x3c, 0x00, 0x50]));
}

/**
 * Follows the publisher confirms (basic.ack or basic.nack) RabbitMQ sends on channel 1, a queue's
 * publishing channel, from a moment when `published` publishes were made and confirmed, up to
 * `last`: the returned function, given each chunk from RabbitMQ, tells whether a publish is
 * confirmed while an earlier one and a later one are not yet.
 */
function confirmsOutOfOrder(published: number, last: number): (chunk: Buffer) => boolean {
  let unread = Buffer.alloc(0);
  let next = BigInt(published + 1); // the first publish not confirmed yet
  const ahead = new Set<bigint>(); // confirmed before `next`
  let highest = 0n;
  return (chunk) => {
    unread = Buffer.concat([unread, chunk]);
    // A frame: type (1 byte), channel (2), payload size (4), payload, end (1). A method payload
    // starts with its class and method ids (2 + 2), then basic.ack's delivery tag (8) and flags (1).
    while (unread.length >= 7 && unread.length >= 8 + unread.readUInt32BE(3)) {
      const method = unread[0] === 1 && unread.readUInt16BE(1) === 1 ? unread.readUInt32BE(7) : 0;
      if (method === 0x003c0050 || method === 0x003c0078) {
        const tag = unread.readBigUInt64BE(11);
        const multiple = (unread[19]! & 1) === 1;
        for (let t = multiple ? next : tag; t <= tag; t++) ahead.add(t);
        if (tag > highest) highest = tag;
        while (ahead.delete(next)) next++;
      }
      unread = unread.subarray(8 + unread.readUInt32BE(3));
    }
    return ahead.size > 0 && highest < last;
  };
}

describe('toAmqpPriority', () => {
  it('maps -5..5 one to one onto 0..10, rounds, and clamps beyond', () => {
    expect([-100, -6, -5, -1, 0, 1.4, 1.6, 5, 6, 1e9].map(toAmqpPriority)).toEqual([
      0, 0, 0, 4, 5, 6, 7, 10, 10, 10,
    ]);
  });
});

describe('AmqpQueue options', () => {
  it.each([
    ['prefetch', { prefetch: 0 }],
    ['maxAttempts', { maxAttempts: 0 }],
    ['backoff', { backoff: { type: 'linear', delay: 1 } }],
    ['deadLetter', { deadLetter: 'orders' }],
    ['closeTimeout', { closeTimeout: -1 }],
    ['connection', { url: AMQP_URL, connection: {} }],
    ['schema', { schema: 42 }],
    ['priorities', { priorities: 'no' }],
    ['keyTimeout', { keyTimeout: 0 }],
    ['keyTimeout', { keyTimeout: 86_400_001 }],
    ['maxMessageSize', { maxMessageSize: 0 }],
  ])('rejects a bad %s with InvalidOptionError', (option, options) => {
    expect(() => new AmqpQueue('orders', options as never)).toThrow(InvalidOptionError);
    expect(() => new AmqpQueue('orders', options as never)).toThrow(option);
  });
});

describe.runIf(up)('AmqpQueue on RabbitMQ', () => {
  const { queueName, openQueue } = amqpQueues();

  it('declares a durable priority queue and stores persistent messages with the mapped priority', async () => {
    const name = queueName('topology');
    const queue = openQueue<Numbered>(name);
    await queue.send({ n: 1 }, { priority: 2 });
    await queue.send({ n: 2 });
    const stored = await withConnection(async (connection) => {
      const channel = await connection.createChannel();
      const messages = [await channel.get(name, { noAck: true }), await channel.get(name, { noAck: true })];
      return messages.map((message) => (message ? message.properties : undefined));
    });
    expect(stored.map((properties) => [properties?.deliveryMode, properties?.priority])).toEqual([
      [2, 7],
      [2, 5],
    ]);
  });

  describe('priorities: false', () => {
    it('declares a plain queue, stores messages without a priority, and refuses a priority', async () => {
      const name = queueName('plain');
      const queue = openQueue<Numbered>(name, { priorities: false });
      await queue.send({ n: 1 });
      await queue.send({ n: 2 }, { priority: 0, delay: 50 });
      await expect(queue.send({ n: 3 }, { priority: 1 })).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(queue.send({ n: 3 }, { priority: -2 })).rejects.toThrow('priorities: false');
      const [first, second] = await receive(queue, 2);
      expect([first!.message.n, second!.message.n]).toEqual([1, 2]);
      await Promise.all([first!.ack(), second!.ack()]);
      await expectNothing(queue, 200);
      const stored = await withConnection(async (connection) => {
        const channel = await connection.createChannel();
        await channel.assertQueue(name, { durable: true }); // refused (406) if it had x-max-priority
        await queue.send({ n: 4 });
        return channel.get(name, { noAck: true });
      });
      if (stored === false) throw new Error('the message sent to the plain queue was not stored');
      expect(stored.properties.priority).toBeUndefined();
    });

    it('dead-letters into a plain dead-letter queue that a plain AmqpQueue reads', async () => {
      const name = queueName('plain-dead');
      const queue = openQueue<Numbered>(name, { priorities: false });
      await queue.send({ n: 1 });
      const [delivery] = await receive(queue, 1);
      await delivery!.nack({ requeue: false, error: new Error('refused') });
      const dead = openQueue<Numbered>(`${name}.dead`, { priorities: false });
      const [corpse] = await receive(dead, 1);
      expect(corpse!.message).toEqual({ n: 1 });
      expect((corpse as AmqpDelivery<Numbered>).deadLetterReason).toBe('rejected: refused');
      await corpse!.ack();
    });

    it('refuses to open a priority queue as a plain one, and the other way round', async () => {
      const priority = queueName('was-priority');
      await openQueue<Numbered>(priority).send({ n: 1 });
      const plainView = openQueue<Numbered>(priority, { priorities: false });
      await expect(plainView.send({ n: 2 })).rejects.toBeInstanceOf(AmqpTopologyError);
      await expect(plainView.send({ n: 2 })).rejects.toThrow('no x-max-priority');
      const plain = queueName('was-plain');
      await openQueue<Numbered>(plain, { priorities: false }).send({ n: 1 });
      await expect(openQueue<Numbered>(plain).send({ n: 2 })).rejects.toThrow('x-max-priority 10');
    });
  });

  it('delivers a shorter delay sent later first, through one delay queue per distinct delay', async () => {
    const name = queueName('delays');
    const queue = openQueue<Numbered>(name);
    await queue.send({ n: 1 }, { delay: 600 });
    await queue.send({ n: 2 }, { delay: 200 });
    await queue.send({ n: 3 }, { delay: 200 });
    const delayQueues = await withConnection(async (connection) => {
      const channel = await connection.createChannel();
      return [
        (await channel.checkQueue(`${name}.delay.600`)).messageCount,
        (await channel.checkQueue(`${name}.delay.200`)).messageCount,
      ];
    });
    expect(delayQueues).toEqual([1, 2]);
    const deliveries = await receive(queue, 3);
    expect(deliveries.map((d) => d.message.n)).toEqual([2, 3, 1]);
    await Promise.all(deliveries.map((d) => d.ack()));
  });

  describe('dedup keys', () => {
    it('stores one message per key while it is queued, across handles, and frees the key on ack', async () => {
      const name = queueName('dedup');
      const producers = [openQueue<Numbered>(name), openQueue<Numbered>(name), openQueue<Numbered>(name)];
      await Promise.all(producers.map((producer, n) => producer.send({ n }, { key: 'order-1' })));
      await producers[0]!.send({ n: 9 }, { key: 'order-2' });

      const consumer = openQueue<Numbered>(name);
      const [first, second] = await receive(consumer, 2);
      expect(second!.message).toEqual({ n: 9 });
      await expectNothing(consumer, 300);

      await producers[1]!.send({ n: 10 }, { key: 'order-1' }); // still held: the first is not acked
      await first!.ack();
      await second!.ack();
      await producers[1]!.send({ n: 11 }, { key: 'order-1' }); // free again
      const [again] = await receive(consumer, 1);
      expect(again!.message).toEqual({ n: 11 });
      await again!.ack();
    });

    it('holds the key through retries and frees it when the message is dead-lettered', async () => {
      const name = queueName('dedup-retry');
      const queue = openQueue<Numbered>(name, { maxAttempts: 2, backoff: { type: 'fixed', delay: 50 } });
      await queue.send({ n: 1 }, { key: 'k' });
      const [d1] = await receive(queue, 1);
      await d1!.nack({ error: new Error('boom') });
      await queue.send({ n: 2 }, { key: 'k' }); // deduplicated: the retry still holds the key
      const [d2] = await receive(queue, 1);
      expect([d2!.message, d2!.attempt]).toEqual([{ n: 1 }, 2]);
      await d2!.nack({ error: new Error('boom again') });

      await queue.send({ n: 3 }, { key: 'k' });
      const [d3] = await receive(queue, 1);
      expect([d3!.message, d3!.attempt]).toEqual([{ n: 3 }, 1]);
      await d3!.ack();
    });

    it('leaves alone the key another send took once its own marker expired, on ack and on dead-letter', async () => {
      const name = queueName('dedup-expired');
      const brief = openQueue<Numbered>(name, { keyTimeout: 200 });
      const lasting = openQueue<Numbered>(name);
      await brief.send({ n: 1 }, { key: 'acked' });
      await brief.send({ n: 2 }, { key: 'dead' });
      const [acked, dead] = await receive(brief, 2);
      await sleep(400); // their markers expired: both keys are free
      await lasting.send({ n: 3 }, { key: 'acked' }); // taken again, with markers of their own
      await lasting.send({ n: 4 }, { key: 'dead' });
      await acked!.ack();
      await dead!.nack({ requeue: false });
      await lasting.send({ n: 5 }, { key: 'acked' }); // both still held by n 3 and n 4: not stored
      await lasting.send({ n: 6 }, { key: 'dead' });
      const held = await receive(lasting, 2);
      expect(held.map((d) => d.message.n).sort()).toEqual([3, 4]);
      await expectNothing(lasting, 300);
      await Promise.all(held.map((d) => d.ack()));
      await Promise.all((await receive(openQueue<Numbered>(`${name}.dead`), 1)).map((d) => d.ack()));
    });

    it('lets a keyed send under way when close() is called store its message, so the key is not stranded', async () => {
      const name = queueName('dedup-close');
      const pauses = [0, 1, 2, 5, 10]; // close() overtakes the send at its key, at its publish, or not at all
      for (const pause of pauses) {
        const queue = open<Numbered>(name, { closeTimeout: 0 });
        await queue.send({ n: -1 }); // connected: the keyed send starts on the live connection
        const sending = queue.send({ n: pause }, { key: `k${pause}` });
        await sleep(pause);
        await queue.close();
        await expect(sending).resolves.toBeUndefined();
      }
      const deliveries = await receive(openQueue<Numbered>(name), pauses.length * 2);
      await Promise.all(deliveries.map((d) => d.ack())); // frees the keys
      const keyed = deliveries.map((d) => d.message.n).filter((n) => n >= 0);
      expect(keyed.sort((a, b) => a - b)).toEqual(pauses);
    });

    it('resolves the ack of a keyed delivery whose connection drops mid-ack: the broker has it back', async () => {
      await throughProxy(async (url, proxy) => {
        const queue = openQueue<Numbered>(queueName('dedup-ack-cut'), { url });
        await queue.send({ n: 1 }, { key: 'k' });
        const [held] = await receive(queue, 1);
        const acked = held!.ack(); // releases the key on the broker, then acks
        proxy.cut(300); // before the release is answered: the channel dies and the message is requeued
        await expect(acked).resolves.toBeUndefined();
        const [again] = await receive(queue, 1, 10_000);
        expect([again!.message, again!.attempt]).toEqual([{ n: 1 }, 2]);
        await again!.ack();
      });
    });

    it('stores a keyed message when the send is retried after its key was stored unconfirmed', async () => {
      await throughProxy(async (url, proxy) => {
        const queue = openQueue<Numbered>(queueName('dedup-marker-cut'), { url });
        await queue.send({ n: 0 }); // connected, and that confirm is behind us
        proxy.inspect((chunk) => {
          if (!isConfirm(chunk)) return;
          proxy.inspect(undefined);
          proxy.cut(300); // the broker stored the key's marker; its confirm never arrives
        });
        await expect(queue.send({ n: 1 }, { key: 'k' })).rejects.toBeInstanceOf(BrokerUnavailableError);
        for (;;) {
          try {
            await queue.send({ n: 1 }, { key: 'k' }); // the retry a caller makes: not deduplicated away
            break;
          } catch (error) {
            expect(error).toBeInstanceOf(BrokerUnavailableError); // until it reconnected
            await sleep(50);
          }
        }
        const deliveries = await receive(queue, 2, 10_000);
        expect(deliveries.map((d) => d.message.n).sort()).toEqual([0, 1]);
        await Promise.all(deliveries.map((d) => d.ack()));
      });
    });
  });

  it('rejects every send under way when the connection drops after RabbitMQ confirmed one out of order', async () => {
    const name = queueName('confirms-cut');
    await throughProxy(async (url, proxy) => {
      const queue = openQueue<Numbered>(name, { url });
      await queue.send({ n: -1 }, { delay: 60_000 }); // connected, that delay queue declared: 1 publish
      let published = 1;
      let dropped = false;
      // Each queue confirms on its own: publishes alternating between two queues are confirmed out of
      // order now and then. Rounds of them until that happened and the connection was dropped then.
      for (let round = 0; round < 20 && !dropped; round++, published += 200) {
        const outOfOrder = confirmsOutOfOrder(published, published + 200);
        proxy.inspect((chunk) => {
          if (!outOfOrder(chunk)) return;
          proxy.inspect(undefined);
          dropped = true;
          proxy.stall(); // the client gets this chunk, not the confirms that would close the gap
          setTimeout(() => proxy.cut(60_000), 100);
        });
        const sends = Array.from({ length: 200 }, (_, n) =>
          queue.send({ n }, n % 2 === 0 ? undefined : { delay: 60_000 }),
        );
        const results = await within(Promise.allSettled(sends), 5_000, () => 'sends waiting for a confirm');
        for (const result of results) {
          if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(BrokerUnavailableError);
        }
      }
      expect(dropped).toBe(true);
    });
    await deleteQueues(`${name}.delay.60000`); // thousands of messages, gone with it
  });

  it('settles a delivery of an ended consumer whose connection dropped as a no-op: the broker has it back', async () => {
    await throughProxy(async (url, proxy) => {
      const queue = openQueue<Numbered>(queueName('ended-cut'), { url });
      await queue.send({ n: 1 });
      const [held] = await receive(queue, 1); // its iterator ended, as a stopping pump's does
      proxy.cut(300);
      await sleep(100); // the client saw the connection drop
      await expect(held!.ack()).resolves.toBeUndefined();
      const [again] = await receive(queue, 1, 10_000);
      expect([again!.message, again!.attempt]).toEqual([{ n: 1 }, 2]);
      await again!.ack();
    });
  });

  describe('when the connection drops before the broker answered a close', () => {
    it('closes: the connection close is not answered', async () => {
      await throughProxy(async (url, proxy) => {
        const queue = openQueue<Numbered>(queueName('close-cut'), { url });
        await queue.send({ n: 1 });
        proxy.stall(); // the broker's CloseOk never comes through
        const closing = queue.close();
        await sleep(200);
        proxy.cut(60_000);
        await within(closing, 5_000, () => 'close() after the connection dropped mid-close');
      });
    });

    it('closes: the channel close of a consumer that ended is not answered', async () => {
      await throughProxy(async (url, proxy) => {
        const queue = openQueue<Numbered>(queueName('close-channel-cut'), { url });
        await queue.send({ n: 1 });
        const [held] = await receive(queue, 1); // its iterator ended: its channel closes once it is settled
        await sleep(200); // the broker confirmed the consumer's cancel
        proxy.stall();
        await held!.ack();
        await sleep(200);
        proxy.cut(60_000);
        await within(queue.close(), 5_000, () => 'close() after the connection dropped mid-close');
      });
    });
  });

  it('counts every unsettled delivery as an attempt and dead-letters after maxAttempts, with the reason', async () => {
    const name = queueName('crashes');
    const producer = openQueue<Numbered>(name);
    await producer.send({ n: 1 });
    for (const attempt of [1, 2]) {
      const consumer = open<Numbered>(name, { maxAttempts: 2, closeTimeout: 0 });
      const [delivery] = await receive(consumer, 1);
      expect(delivery!.attempt).toBe(attempt);
      await consumer.close(); // never settled: the broker takes it back when the channel closes
    }
    // The next consumer to receive it sees a redelivery with no attempt left: it dead-letters it.
    await expectNothing(openQueue<Numbered>(name, { maxAttempts: 2 }), 300);
    const dead = openQueue<Numbered>(`${name}.dead`);
    const [corpse] = await receive(dead, 1);
    expect(corpse!.message).toEqual({ n: 1 });
    expect((corpse as AmqpDelivery<Numbered>).deadLetterReason).toBe(
      'failed 2 of 2 attempts: not settled: its consumer stopped or its lease ran out',
    );
    await corpse!.ack();
  });

  it('consumes the envelope as a foreign producer publishes it, with only an id or with every field', async () => {
    const name = queueName('foreign');
    const queue = openQueue<Numbered>(name);
    await queue.send({ n: 0 }); // declares the queue
    await withConnection(async (connection) => {
      const channel = await connection.createConfirmChannel();
      const publish = (envelope: object) =>
        channel.sendToQueue(name, Buffer.from(JSON.stringify(envelope)), {
          persistent: true,
          contentType: 'application/json',
          priority: 5, // normal priority, as the README says
        });
      publish({ id: 'f1', payload: { n: 1 } });
      publish({ id: 'f2', type: 'numbered', attempt: 2, headers: { traceparent: 'tp' }, payload: { n: 2 } });
      await channel.waitForConfirms();
    });
    const deliveries = (await receive(queue, 3)) as AmqpDelivery<Numbered>[];
    await Promise.all(deliveries.map((d) => d.ack()));
    expect(deliveries.slice(1).map((d) => [d.id, d.message, d.attempt, d.headers])).toEqual([
      ['f1', { n: 1 }, 1, {}],
      ['f2', { n: 2 }, 2, { traceparent: 'tp' }],
    ]);
  });

  it('gives a body without id its message_id, else an id derived from it, kept by every copy', async () => {
    const name = queueName('stored-ids');
    const queue = openQueue<Numbered>(name, { maxAttempts: 3, backoff: { type: 'fixed', delay: 20 } });
    await queue.send({ n: 0 }); // declares the queue
    const derivedBody = JSON.stringify({ payload: { n: 2 } });
    await withConnection(async (connection) => {
      const channel = await connection.createConfirmChannel();
      const options = { persistent: true, contentType: 'application/json', priority: 5 };
      channel.sendToQueue(name, Buffer.from(JSON.stringify({ payload: { n: 1 } })), {
        ...options,
        messageId: 'm-1',
      });
      channel.sendToQueue(name, Buffer.from(derivedBody), options);
      await channel.waitForConfirms();
    });
    const derived = `sha256:${createHash('sha256').update(derivedBody).digest('hex').slice(0, 32)}`;

    // Released: n 2 is prefetched but never handed out when its iterator returns; n 1 is retried.
    const iterator = queue[Symbol.asyncIterator]();
    const zero = (await iterator.next()).value as AmqpDelivery<Numbered>;
    await zero.ack();
    const first = (await iterator.next()).value as AmqpDelivery<Numbered>;
    expect([first.message, first.id, first.attempt]).toEqual([{ n: 1 }, 'm-1', 1]);
    await sleep(100); // n 2 is prefetched
    await iterator.return!();
    await first.nack({ error: new Error('again') });

    const consumer = openQueue<Numbered>(name, { maxAttempts: 3 });
    const copies = (await receive(consumer, 2)) as AmqpDelivery<Numbered>[];
    const seen = copies.map((d) => [d.message.n, d.id, d.attempt]).sort();
    expect(seen).toEqual([
      [1, 'm-1', 2],
      [2, derived, 1],
    ]);
    await Promise.all(copies.map((d) => d.nack({ requeue: false, error: new Error('stop') })));
    const dead = (await receive(openQueue<Numbered>(`${name}.dead`), 2)) as AmqpDelivery<Numbered>[];
    await Promise.all(dead.map((d) => d.ack()));
    expect(dead.map((d) => [d.message.n, d.id, d.deadLetterReason]).sort()).toEqual([
      [1, 'm-1', 'rejected: stop'],
      [2, derived, 'rejected: stop'],
    ]);
    await deleteQueues(`${name}.delay.20`);
  });

  describe('strict messages', () => {
    async function stored(name: string): Promise<number> {
      return withConnection(async (connection) => {
        const channel = await connection.createChannel();
        return (await channel.checkQueue(name)).messageCount;
      });
    }

    it('refuses a message over maxMessageSize with MessageTooLargeError, storing nothing', async () => {
      const name = queueName('too-large');
      const queue = openQueue<{ text: string }>(name, { maxMessageSize: 1_024 });
      await queue.send({ text: 'fits' });
      const big = { text: 'x'.repeat(1_024) };
      const error = await queue.send(big).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(MessageTooLargeError);
      expect((error as Error).message).toContain(name);
      await expect(queue.send(big, { key: 'k', delay: 50 })).rejects.toBeInstanceOf(MessageTooLargeError);
      await queue.send({ text: 'keyed' }, { key: 'k' }); // the refused send took no key
      expect(await stored(name)).toBe(2);
      await deleteQueues(`${name}.key.k`);
    });

    it('refuses NaN and a Date with SerializationError naming the path, storing nothing', async () => {
      const name = queueName('strict');
      const queue = openQueue<unknown>(name);
      await queue.send({ fine: true });
      await expect(queue.send({ x: Number.NaN })).rejects.toBeInstanceOf(SerializationError);
      await expect(queue.send({ x: Number.NaN })).rejects.toThrow('message.x is NaN');
      await expect(queue.send({ at: { when: new Date() } }, { priority: 1 })).rejects.toThrow(
        'message.at.when is an instance of Date',
      );
      expect(await stored(name)).toBe(1);
    });
  });

  it('dead-letters with the reason in the shared wording, and a message of an unknown type', async () => {
    const name = queueName('reasons');
    const Ping = defineCommand('ping', z.object({ at: z.number() }));
    const producer = openQueue<unknown>(name);
    await producer.send({ type: 'pong', payload: {} });
    await producer.send(Ping({ at: 1 }));
    const consumer = openQueue<unknown>(name, { schema: [Ping], maxAttempts: 1 });
    const [ping] = await receive(consumer, 1);
    await ping!.nack({ error: new Error('handler exploded') });

    const dead = openQueue<{ type: string }>(`${name}.dead`);
    const reasons = (await receive(dead, 2)).map((d) => {
      void d.ack();
      return [d.message.type, (d as AmqpDelivery<unknown>).deadLetterReason];
    });
    expect(reasons.sort()).toEqual([
      ['ping', 'failed 1 of 1 attempts: handler exploded'],
      ['pong', 'invalid message: ValidationError: no schema for message type "pong"'],
    ]);
  });

  it('refuses a queue that exists with other arguments, naming it', async () => {
    const name = queueName('mismatch');
    await withConnection(async (connection) => {
      const channel = await connection.createChannel();
      await channel.assertQueue(name, { durable: true });
    });
    const queue = openQueue<Numbered>(name);
    await expect(queue.send({ n: 1 })).rejects.toBeInstanceOf(AmqpTopologyError);
    await expect(queue.send({ n: 1 })).rejects.toThrow(name);
  });

  it('rejects send with BrokerUnavailableError while the broker cannot be reached, next() waiting until close', async () => {
    const queue = new AmqpQueue<Numbered>('unreachable', { url: 'amqp://guest:guest@127.0.0.1:1' });
    await expect(queue.send({ n: 1 })).rejects.toBeInstanceOf(BrokerUnavailableError);
    const next = queue[Symbol.asyncIterator]().next();
    await sleep(300); // connections refused meanwhile, retried
    expect(await stateOf(next)).toBe('pending');
    await queue.close();
    await expect(next).resolves.toEqual({ value: undefined, done: true });
  });

  it('works on a connection it was given, and leaves it open on close', async () => {
    const name = queueName('given');
    const connection = await connect(AMQP_URL);
    try {
      const queue = new AmqpQueue<Numbered>(name, { connection });
      await queue.send({ n: 1 });
      const [delivery] = await receive(queue, 1);
      await delivery!.ack();
      await queue.close();
      const channel = await connection.createChannel(); // still usable
      expect((await channel.checkQueue(name)).messageCount).toBe(0);
    } finally {
      await connection.close();
    }
  });

  it('leaves no listener on a connection it was given once closed', async () => {
    const name = queueName('given-listeners');
    const connection = await connect(AMQP_URL);
    const listeners = () => connection.eventNames().map((event) => [event, connection.listenerCount(event)]);
    try {
      const before = listeners();
      for (let n = 0; n < 3; n++) {
        const queue = new AmqpQueue<Numbered>(name, { connection });
        await queue.send({ n });
        await queue.close();
      }
      expect(listeners()).toEqual(before);
    } finally {
      await connection.close();
    }
  });

  it('closes the connection it opened on close, leaving no socket open', async () => {
    const sockets: Socket[] = [];
    const opened = (message: unknown) => sockets.push((message as { socket: Socket }).socket);
    subscribe('net.client.socket', opened);
    try {
      const queue = open<Numbered>(queueName('owned'), { closeTimeout: 500 });
      await queue.send({ n: 1 });
      const [delivery] = await receive(queue, 1);
      await delivery!.ack();
      await queue.close();
    } finally {
      unsubscribe('net.client.socket', opened);
    }
    expect(sockets).toHaveLength(1);
    // RabbitMQ may reset the socket after the AMQP close handshake: wait for 'close', not a clean end.
    const closed = sockets.map(
      (socket) => socket.closed || new Promise((resolve) => socket.once('close', resolve)),
    );
    await within(Promise.all(closed), 10_000, () => 'the socket of the connection the queue opened to close');
  });

  it('consumes again by itself when the broker cancels its consumer (queue deleted)', async () => {
    const name = queueName('cancelled');
    const queue = openQueue<Numbered>(name);
    const iterator = queue[Symbol.asyncIterator]();
    await queue.send({ n: 1 });
    const first = await iterator.next();
    await (first.value as Delivery<Numbered>).ack();
    const pending = iterator.next();
    await purge(name);
    await queue.send({ n: 2 });
    const second = await pending;
    expect(second.value?.message).toEqual({ n: 2 });
    await (second.value as Delivery<Numbered>).ack();
  });

  it('lets close() wait for a send republished because its queue was deleted, which then stores it', async () => {
    const name = queueName('republish-close');
    const queue = open<Numbered>(name, { closeTimeout: 0 });
    await queue.send({ n: 0 }); // connected: the next send is a single publish
    await purge(name);
    const sending = queue.send({ n: 1 }); // returned as unroutable, then declared and sent again
    await queue.close();
    await expect(sending).resolves.toBeUndefined();
    const [delivery] = await receive(openQueue<Numbered>(name), 1);
    expect(delivery!.message).toEqual({ n: 1 });
    await delivery!.ack();
  });

  it('sends an ack at once even while an earlier delivery is still held (acks are coalesced)', async () => {
    const name = queueName('acks');
    const queue = openQueue<Numbered>(name, { prefetch: 2 });
    await Promise.all([1, 2, 3].map((n) => queue.send({ n })));
    const iterator = queue[Symbol.asyncIterator]();
    const first = (await iterator.next()).value as Delivery<Numbered>;
    const second = (await iterator.next()).value as Delivery<Numbered>;
    await second.ack();
    // The third message only comes once the broker got the second's ack: `first` fills the other slot.
    const third = (await iterator.next()).value as Delivery<Numbered>;
    expect([first.message.n, second.message.n, third.message.n]).toEqual([1, 2, 3]);
    await Promise.all([third.ack(), first.ack()]);
    await queue.close(); // flushes the acks made in this turn before closing the channel
    await withConnection(async (connection) => {
      const channel = await connection.createChannel();
      expect((await channel.checkQueue(name)).messageCount).toBe(0);
    });
  });

  it('drains through a pump whose concurrency exceeds nothing prefetched', async () => {
    const name = queueName('pump');
    const queue = openQueue<Numbered>(name, { prefetch: 8 });
    await Promise.all(Array.from({ length: 200 }, (_, n) => queue.send({ n })));
    const seen = new Set<number>();
    let done!: () => void;
    const all = new Promise<void>((resolve) => {
      done = resolve;
    });
    const draining = new Pump(queue, (message: Numbered) => {
      seen.add(message.n);
      if (seen.size === 200) done();
    }).draining({ concurrency: 8 });
    await all;
    await draining.stop();
    expect(seen.size).toBe(200);
  });

  it('keeps confirmed messages across a broker restart and resumes consuming by itself', async () => {
    const name = queueName('restart');
    const producer = openQueue<Numbered>(name);
    const consumer = openQueue<Numbered>(name);
    await Promise.all(Array.from({ length: 50 }, (_, n) => producer.send({ n })));
    const iterator = consumer[Symbol.asyncIterator]();
    const first = await iterator.next(); // a consumer is running (and holds prefetched messages)
    expect(first.done).toBe(false);

    let outage: Promise<void> | undefined;
    const restarted = restartRabbit().finally(() => {
      outage = undefined;
    });
    outage = restarted;
    await restarted;
    // The handed-out delivery's channel died with the connection: settling it is a no-op and it
    // comes back as a redelivery (attempt 2).
    await (first.value as Delivery<Numbered>).ack();
    expect(outage).toBeUndefined();

    await sendRetrying(producer, { n: 50 });
    const seen = new Map<number, number>();
    while (seen.size < 51) {
      const next = await iterator.next();
      const delivery = next.value as Delivery<Numbered>;
      seen.set(delivery.message.n, delivery.attempt);
      await delivery.ack();
    }
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 51 }, (_, n) => n));
    expect(seen.get(first.value!.message.n)).toBe(2);
  }, 90_000);

  it('rejects send with BrokerUnavailableError during an outage, never resolving without storing', async () => {
    const name = queueName('outage');
    const queue = openQueue<Numbered>(name);
    await queue.send({ n: 0 });
    const results: ('stored' | 'unavailable')[] = [];
    let stop = false;
    const sending = (async () => {
      for (let n = 1; !stop; n++) {
        try {
          await queue.send({ n });
          results.push('stored');
        } catch (error) {
          expect(error).toBeInstanceOf(BrokerUnavailableError);
          results.push('unavailable');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    })();
    await restartRabbit();
    await sendRetrying(queue, { n: -1 });
    stop = true;
    await sending;
    expect(results).toContain('unavailable');
    const stored = results.filter((result) => result === 'stored').length;
    const count = await withConnection(async (connection) => {
      const channel = await connection.createChannel();
      return (await channel.checkQueue(name)).messageCount;
    });
    // every resolved send is stored (+ the first and the last); a rejected one may be stored too
    expect(count).toBeGreaterThanOrEqual(stored + 2);
  }, 90_000);
});
