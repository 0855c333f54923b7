/**
 * An AmqpQueue meeting what production brings beyond the happy path: RabbitMQ down when a worker
 * starts, refusals no retry fixes, and hostile input (names, keys, delays, backoffs).
 */
import { exec as execCallback } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import amqplib from 'amqplib';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import type { Draining } from '../../src/queuing/pump/draining.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import { MAX_KEY_BYTES } from '../../src/queuing/send-options.js';
import type { Backoff } from '../../src/queuing/types.js';
import {
  AmqpAccessError,
  type AmqpDelivery,
  AmqpQueue,
  AmqpTopologyError,
} from '../../src/transports/amqp/index.js';
import { declareQueue, LONGEST_DELAY, MAX_NAME_BYTES, MAX_TTL } from '../../src/transports/amqp/topology.js';
import { sleep, stateOf, within } from '../support/async.js';
import { brokerAvailable, services } from '../support/broker.js';
import { expectNothing, receive, sendRetrying } from '../support/deliveries.js';
import { amqpQueues } from './amqp-fixture.js';
import { AMQP_URL, open, throughProxy, withConnection } from './amqp-harness.js';

const up = await brokerAvailable('rabbitmq');
const exec = promisify(execCallback);

interface Numbered {
  n: number;
}

describe('AmqpQueue names and URLs', () => {
  it.each([
    ['name', 'amq.orders', {}],
    ['deadLetter', 'orders', { deadLetter: 'amq.orders.dead' }],
    ['name', 'q\uD800', {}],
    ['name', 'q\r\nx', {}],
    ['name', 'q'.repeat(MAX_NAME_BYTES + 1), {}],
    ['name', 'q'.repeat(200), {}],
    ['url', 'orders', { url: 'not a url' }],
    ['url', 'orders', { url: 'http://127.0.0.1:5672' }],
  ])('refuses a bad %s with InvalidOptionError: %j', (option, name, options) => {
    expect(() => new AmqpQueue(name, options)).toThrow(InvalidOptionError);
    expect(() => new AmqpQueue(name, options)).toThrow(`invalid ${option}`);
  });
});

describe.runIf(up)('AmqpQueue under outages and hostile input', () => {
  const { queueName, openQueue, stopAfter, purgeAfter, deleteAfter, closeTracked } = amqpQueues();

  function pump<T>(queue: AmqpQueue<T>, handler: (message: T) => void): Draining<T> {
    return stopAfter(new Pump(queue, handler, { failSilently: true }).draining());
  }

  async function messageCount(queue: string): Promise<number> {
    return withConnection(
      async (connection) => (await (await connection.createChannel()).checkQueue(queue)).messageCount,
    );
  }

  async function exists(queue: string): Promise<boolean> {
    return withConnection(async (connection) => {
      const channel = await connection.createChannel();
      channel.on('error', () => {});
      return channel.checkQueue(queue).then(
        () => true,
        () => false, // 404: the channel closes with it
      );
    });
  }

  async function until(condition: () => boolean, what: () => string): Promise<void> {
    for (let waited = 0; !condition(); waited += 50) {
      if (waited > 20_000) throw new Error(`timed out: ${what()}`);
      await sleep(50);
    }
  }

  describe('opened while RabbitMQ cannot be reached', () => {
    it('lets a consumer and a pump wait, and carry on once it accepts connections; sends fail meanwhile', async () => {
      await throughProxy(async (url, proxy) => {
        proxy.cut(1_500); // refuses every connection from now on, for a while
        const [iterated, pumped] = [queueName('first-iterated'), queueName('first-pumped')];
        const consumer = openQueue<Numbered>(iterated, { url });
        const pending = consumer[Symbol.asyncIterator]().next();
        const handled: number[] = [];
        const draining = pump(
          openQueue<Numbered>(pumped, { url }),
          (message) => void handled.push(message.n),
        );
        await expect(consumer.send({ n: 0 })).rejects.toThrow('RabbitMQ is unavailable');

        const producer = openQueue<Numbered>(iterated);
        await producer.send({ n: 1 });
        await openQueue<Numbered>(pumped).send({ n: 2 });
        const next = await within(pending, 20_000, () => 'the first delivery after RabbitMQ came back');
        expect(next.value?.message).toEqual({ n: 1 });
        await next.value!.ack();
        await until(
          () => handled.includes(2),
          () => `pumped: ${handled}`,
        );
        expect(await stateOf(draining.done)).toBe('pending');
        await sendRetrying(consumer, { n: 3 }, 20_000); // it connected: its sends go through
      });
    });

    it('refuses credentials at once with AmqpAccessError, for send, next() and a pump', async () => {
      const url = `amqp://nobody:wrong@127.0.0.1:${services.rabbitmq.port}`;
      const queue = openQueue<Numbered>(queueName('refused'), { url });
      await expect(queue.send({ n: 1 })).rejects.toBeInstanceOf(AmqpAccessError);
      const next = queue[Symbol.asyncIterator]().next();
      await expect(within(next, 10_000)).rejects.toBeInstanceOf(AmqpAccessError);
      const draining = new Pump(queue, () => {}).draining();
      await expect(within(draining.done, 10_000)).rejects.toThrow('ACCESS_REFUSED');
    });
  });

  it('rejects a waiting next() with AmqpTopologyError when its queue comes back with other arguments', async () => {
    const name = queueName('redeclared');
    const queue = openQueue<Numbered>(name);
    const iterator = queue[Symbol.asyncIterator]();
    await queue.send({ n: 1 });
    await (await iterator.next()).value!.ack();
    const pending = iterator.next();
    await withConnection(async (connection) => {
      const channel = await connection.createChannel();
      await channel.deleteQueue(name); // the broker cancels the consumer, which consumes again...
      await channel.assertQueue(name, { durable: true }); // ...from a queue without x-max-priority
    });
    await expect(within(pending, 10_000)).rejects.toBeInstanceOf(AmqpTopologyError);
  });

  it('resolves a nack whose retry the broker refuses, and the pump carries on with the message', async () => {
    const name = queueName('delay-refused');
    deleteAfter(`${name}.delay.50`);
    await withConnection(async (connection) => {
      // Without the TTL sluice declares: its declaration is refused (406), closing its publishing channel.
      await (await connection.createChannel()).assertQueue(`${name}.delay.50`, { durable: true });
    });
    const queue = openQueue<Numbered>(name, { backoff: { type: 'fixed', delay: 50 } });
    await queue.send({ n: 1 });
    const attempts: number[] = [];
    const draining = pump(queue, (message) => {
      attempts.push(message.n);
      if (attempts.length === 1) throw new Error('the first attempt fails');
    });
    await until(
      () => attempts.length === 2,
      () => `attempts: ${attempts}`,
    );
    expect(await stateOf(draining.done)).toBe('pending');
  });

  describe('keys', () => {
    it('refuses a key with CR/LF, a lone surrogate or too many bytes, storing nothing, and closes', async () => {
      const name = queueName('bad-keys');
      const queue = open<Numbered>(name, { closeTimeout: 0 });
      for (const key of ['k\r\nx', 'k\uD800', 'k'.repeat(MAX_KEY_BYTES + 1)]) {
        await expect(queue.send({ n: 1 }, { key })).rejects.toBeInstanceOf(InvalidOptionError);
      }
      await queue.send({ n: 2 }, { key: 'k'.repeat(MAX_KEY_BYTES) }); // the connection held
      await within(queue.close(), 10_000, () => 'close() after refused keyed sends');
      expect(await exists(`${name}.key.kx`)).toBe(false);
      expect(await exists(`${name}.key.k\uFFFD`)).toBe(false);
      expect(await messageCount(name)).toBe(1);
      const [delivery] = await receive(openQueue<Numbered>(name), 1);
      await delivery!.ack(); // releases the long key
    });

    it("takes a key that reads like another key's hash apart from that key", async () => {
      const name = queueName('hash-like');
      const queue = openQueue<Numbered>(name);
      const long = 'k'.repeat(300);
      await queue.send({ n: 1 }, { key: long });
      await queue.send({ n: 2 }, { key: `sha256.${createHash('sha256').update(long).digest('hex')}` });
      const deliveries = await receive(queue, 2);
      expect(deliveries.map((d) => d.message.n).sort()).toEqual([1, 2]);
      await Promise.all(deliveries.map((d) => d.ack()));
    });

    it('fits every queue it derives within RabbitMQ limits for the longest name', async () => {
      const prefix = queueName('longest');
      const name = prefix + 'x'.repeat(MAX_NAME_BYTES - prefix.length);
      purgeAfter(name);
      deleteAfter(`${name}.delay.20`);
      const queue = openQueue<Numbered>(name, { deadLetter: `${prefix}.dead` });
      await queue.send({ n: 1 }, { key: 'k'.repeat(300), delay: 20 });
      const [delivery] = await receive(queue, 1);
      expect(delivery!.message).toEqual({ n: 1 });
      await delivery!.ack();
      await queue.send({ n: 2 }, { key: 'k'.repeat(300) }); // released
      const [again] = await receive(queue, 1);
      await again!.ack();
    });
  });

  describe('delays', () => {
    it("refuses a delay past RabbitMQ's longest TTL at send, and stores one at the limit", async () => {
      const probe = queueName('ttl-probe');
      await withConnection(async (connection) => {
        const refused = await connection.createChannel();
        refused.on('error', () => {});
        const args = (ttl: number) => ({
          durable: true,
          arguments: { 'x-message-ttl': ttl, 'x-expires': ttl },
        });
        await expect(refused.assertQueue(probe, args(MAX_TTL + 1))).rejects.toThrow('value_too_large');
        await (await connection.createChannel()).assertQueue(probe, args(MAX_TTL));
      });

      const name = queueName('longest-delay');
      deleteAfter(`${name}.delay.${LONGEST_DELAY}`);
      const queue = openQueue<Numbered>(name);
      await expect(queue.send({ n: 1 }, { delay: LONGEST_DELAY + 1 })).rejects.toBeInstanceOf(
        InvalidOptionError,
      );
      await expect(queue.send({ n: 1 }, { delay: 1e13, key: 'k' })).rejects.toThrow('invalid delay');
      await queue.send({ n: 2 }, { delay: LONGEST_DELAY });
      expect(await messageCount(`${name}.delay.${LONGEST_DELAY}`)).toBe(1);
    });

    it('resolves every nack whatever the backoff gives: retried at the longest delay, or dead-lettered', async () => {
      const backoffs: [string, Backoff][] = [
        ['huge', () => 1e300],
        ['nan', () => Number.NaN],
        [
          'throws',
          () => {
            throw new Error('no delay\r\ntoday');
          },
        ],
      ];
      const outcomes: Record<string, string | undefined> = {};
      for (const [label, backoff] of backoffs) {
        const name = queueName(`backoff-${label}`);
        deleteAfter(`${name}.delay.${LONGEST_DELAY}`);
        const queue = openQueue<Numbered>(name, { backoff });
        await queue.send({ n: 1 });
        const [delivery] = await receive(queue, 1);
        await expect(delivery!.nack({ error: new Error('failed') })).resolves.toBeUndefined();
        if (label === 'huge') {
          expect(await messageCount(`${name}.delay.${LONGEST_DELAY}`)).toBe(1);
          continue;
        }
        const [dead] = (await receive(openQueue<Numbered>(`${name}.dead`), 1)) as AmqpDelivery<Numbered>[];
        outcomes[label] = dead!.deadLetterReason;
        await dead!.ack();
      }
      expect(outcomes.nan).toMatch(/^backoff failed on attempt 1: /);
      expect(outcomes.throws).toBe('backoff failed on attempt 1: no delay  today');
    });

    it('refuses a nack delay past the longest TTL, leaving the delivery to settle', async () => {
      const name = queueName('nack-delay');
      const queue = openQueue<Numbered>(name);
      await queue.send({ n: 1 });
      const [delivery] = await receive(queue, 1);
      await expect(delivery!.nack({ delay: LONGEST_DELAY + 1 })).rejects.toBeInstanceOf(InvalidOptionError);
      await delivery!.ack();
      expect(await messageCount(name)).toBe(0);
    });
  });

  it('holds a message whose dead-lettering keeps failing before it comes back, rather than looping', async () => {
    const name = queueName('dead-full');
    const policy = `sluice-full-${process.pid}`;
    const escaped = `${name}.dead`.replace(/[.-]/g, '\\$&');
    const fullPolicy = '{"max-length":0,"overflow":"reject-publish"}';
    await exec(`rabbitmqctl set_policy ${policy} '^${escaped}$' '${fullPolicy}' --apply-to queues`);
    let policySet = true;
    const counting = await amqplib.connect(AMQP_URL);
    try {
      let handedBack = 0;
      // The broker refuses every copy into the full dead-letter queue: each try hands the message back.
      const createChannel = counting.createChannel.bind(counting);
      counting.createChannel = async () => {
        const channel = await createChannel();
        const nack = channel.nack.bind(channel);
        channel.nack = (...args) => {
          handedBack++;
          return nack(...args);
        };
        return channel;
      };
      const queue = openQueue<Numbered>(name, { connection: counting, url: undefined, maxAttempts: 1 });
      await queue.send({ n: 1 });
      const draining = pump(queue, () => {
        throw new Error('fails');
      });
      await sleep(2_500);
      expect(handedBack).toBeGreaterThanOrEqual(1); // the refusal was seen: the message went back
      expect(handedBack).toBeLessThanOrEqual(4); // about once a second, not as fast as it can
      expect(await stateOf(draining.done)).toBe('pending');
      await exec(`rabbitmqctl clear_policy ${policy}`);
      policySet = false;
      const [dead] = (await receive(openQueue<Numbered>(`${name}.dead`), 1)) as AmqpDelivery<Numbered>[];
      expect(dead!.message).toEqual({ n: 1 }); // dead-lettered once the queue takes it
      await dead!.ack();
    } finally {
      if (policySet) await exec(`rabbitmqctl clear_policy ${policy}`);
      await closeTracked();
      await counting.close();
    }
  });

  it('handles once a foreign message whose key header is no string, and settles it', async () => {
    const name = queueName('foreign-key');
    await withConnection(async (connection) => {
      const channel = await connection.createConfirmChannel();
      await declareQueue(channel, name, true);
      const body = (n: number) => Buffer.from(JSON.stringify({ payload: { n } }));
      channel.sendToQueue(name, body(1), { persistent: true, headers: { 'x-sluice-key': 42 } });
      channel.sendToQueue(name, body(2), { persistent: true, headers: { 'x-sluice-key': Buffer.from('k') } });
      await channel.waitForConfirms();
    });
    const queue = openQueue<Numbered>(name, { maxAttempts: 2 });
    const deliveries = await receive(queue, 2);
    expect(deliveries.map((d) => d.message.n).sort()).toEqual([1, 2]);
    await Promise.all(deliveries.map((d) => d.ack()));
    await expectNothing(queue, 500);
    expect(await messageCount(name)).toBe(0);
  });

  it('dead-letters a handler error of 200 KB with CR/LF/NUL under a bounded reason, acks of others holding', async () => {
    const name = queueName('long-reason');
    const queue = openQueue<Numbered>(name, { maxAttempts: 1 });
    await Promise.all([1, 2, 3, 4].map((n) => queue.send({ n })));
    const deliveries = await receive(queue, 4);
    await Promise.all(
      deliveries.map((d) =>
        d.message.n === 2 ? d.nack({ error: new Error(`bad\0\r\n${'x'.repeat(200_000)}`) }) : d.ack(),
      ),
    );
    const [dead] = (await receive(openQueue<Numbered>(`${name}.dead`), 1)) as AmqpDelivery<Numbered>[];
    expect(dead!.message).toEqual({ n: 2 });
    expect(dead!.deadLetterReason).toMatch(/^failed 1 of 1 attempts: bad {3}x+…$/);
    expect(dead!.deadLetterReason!.length).toBeLessThan(1_100);
    await dead!.ack();
    await sleep(100); // the acks went out at the end of their turn
    expect(await messageCount(name)).toBe(0);
  });
});
