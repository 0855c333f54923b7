/**
 * Flow control on RabbitMQ (SPEC § 7) as built from queues (docs/wire-protocol.md, "Groups and rate
 * limits on RabbitMQ"): the group queues and their registry, the rate tokens, and what the operator
 * face sees of them. The conformance suite (amqp-flow.test.ts) checks the limits themselves.
 */
import { describe, expect, it } from 'vitest';
import type { Delivery, FlowIterator } from '../../src/queuing/types.js';
import { groupQueueName, registryName } from '../../src/transports/amqp/group-queues.js';
import { tokenQueueName } from '../../src/transports/amqp/rate-gate.js';
import { withStartMargin } from '../../src/transports/shared/start-margin.js';
import { sleep, within } from '../support/async.js';
import { brokerAvailable } from '../support/broker.js';
import { receive } from '../support/deliveries.js';
import { amqpQueues } from './amqp-fixture.js';
import { withConnection } from './amqp-harness.js';

const up = await brokerAvailable('rabbitmq');

interface Numbered {
  n: number;
}

/** How many messages each of `queues` holds ready, read by a plain client. */
function counts(...queues: string[]): Promise<number[]> {
  return withConnection(async (connection) => {
    const channel = await connection.createChannel();
    const found = [];
    for (const queue of queues) found.push((await channel.checkQueue(queue)).messageCount);
    return found;
  });
}

/** Whether `queue` exists, looked up by a plain client. */
function exists(queue: string): Promise<boolean> {
  return withConnection(async (connection) => {
    const channel = await connection.createChannel();
    channel.on('error', () => {});
    return channel.checkQueue(queue).then(
      () => true,
      () => false,
    );
  });
}

describe.runIf(up)('AmqpQueue flow control on RabbitMQ', () => {
  const { queueName, openQueue, deleteAfter } = amqpQueues(); // purged with their flow queues

  it('a grouped message waits in its group queue; a consumer opened later finds every group in the registry', async () => {
    const name = queueName('registry');
    const producer = openQueue<Numbered>(name);
    await producer.send({ n: 1 }, { group: 'a' });
    await producer.send({ n: 2 }, { group: 'b' });
    await producer.send({ n: 3 });
    expect(await counts(name, groupQueueName(name, 'a'), groupQueueName(name, 'b'))).toEqual([1, 1, 1]);
    expect(await producer.stats()).toMatchObject({ ready: 3 });

    const deliveries = await receive(openQueue<Numbered>(name), 3);
    const seen = deliveries.map((delivery) => [delivery.message.n, delivery.group]);
    expect(seen.sort()).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, undefined],
    ]);
    for (const delivery of deliveries) await delivery.ack();
  }, 30_000);

  it('a queue without groups has no registry; a consumer started before the first group still serves it', async () => {
    const name = queueName('late');
    const iterator = openQueue<Numbered>(name)[Symbol.asyncIterator]();
    const producer = openQueue<Numbered>(name);
    await producer.send({ n: 1 });
    const first = await within(iterator.next(), 10_000, () => 'the message with no group');
    expect(await exists(registryName(name))).toBe(false);
    await producer.send({ n: 2 }, { group: 'late' });
    const second = await within(iterator.next(), 10_000, () => 'the first grouped message, sent later');
    expect([first.value.message.n, second.value.message.n, second.value.group]).toEqual([1, 2, 'late']);
    await Promise.all([first.value.ack(), second.value.ack()]);
    await iterator.return?.();
  }, 30_000);

  it('hands out one message of each group in turn, whatever the backlog of one', async () => {
    const name = queueName('turns');
    const producer = openQueue<Numbered>(name);
    for (let n = 0; n < 30; n++) await producer.send({ n }, { group: 'big' });
    await producer.send({ n: 100 }, { group: 'small' });
    await producer.send({ n: 200 });
    const iterator = openQueue<Numbered>(name)[Symbol.asyncIterator]();
    const first = (await within(iterator.next(), 10_000, () => 'a first delivery'))
      .value as Delivery<Numbered>;
    await sleep(500); // every group queue's messages prefetched
    const next: Delivery<Numbered>[] = [first];
    for (let i = 0; i < 3; i++) next.push((await iterator.next()).value as Delivery<Numbered>);
    const numbers = next.map((delivery) => delivery.message.n);
    expect(numbers).toContain(100);
    expect(numbers).toContain(200);
    for (const delivery of next) await delivery.ack();
    await iterator.return?.();
  }, 30_000);

  it('a delayed or retried grouped message joins its group when due, and a redriven one goes back to it', async () => {
    const name = queueName('due');
    const queue = openQueue<Numbered>(name, { maxAttempts: 2, backoff: () => 200 });
    deleteAfter(`${name}.delay.200`);
    deleteAfter(`${name}.delay.300`);
    await queue.send({ n: 1 }, { group: 'g', delay: 300 });
    const [delayed] = await receive(queue, 1);
    expect([delayed!.message.n, delayed!.group, delayed!.attempt]).toEqual([1, 'g', 1]);
    await delayed!.nack(); // retried through the delay queue of the backoff
    const [retried] = await receive(queue, 1);
    expect([retried!.group, retried!.attempt]).toEqual(['g', 2]);
    await retried!.nack(); // attempts spent: dead-lettered
    const [letter] = await queue.deadLetters();
    expect(letter?.message).toEqual({ n: 1 });

    expect(await queue.redrive()).toBe(1);
    expect(await counts(name, groupQueueName(name, 'g'))).toEqual([0, 1]);
    const [redriven] = await receive(queue, 1);
    expect([redriven!.group, redriven!.attempt]).toEqual(['g', 1]);
    await redriven!.ack();
  }, 30_000);

  it('stats count grouped messages, pause holds them and purge removes them', async () => {
    const name = queueName('operate');
    const queue = openQueue<Numbered>(name);
    await queue.send({ n: 1 }, { group: 'x' });
    await queue.send({ n: 2 }, { group: 'y' });
    await queue.send({ n: 3 }, { group: 'y', delay: 60_000 });
    deleteAfter(`${name}.delay.60000`);
    // Another handle, which never sent a grouped message, sees them through the registry.
    const operator = openQueue<Numbered>(name);
    expect(await operator.stats()).toMatchObject({ ready: 2, delayed: 1 });

    await operator.pause();
    const iterator = openQueue<Numbered>(name)[Symbol.asyncIterator]();
    const waiting = iterator.next();
    await sleep(1_000);
    expect(await Promise.race([waiting.then(() => 'delivered'), sleep(0).then(() => 'held')])).toBe('held');
    expect(await operator.purge()).toBe(3);
    await operator.resume();
    await queue.send({ n: 4 }, { group: 'x' });
    const delivery = (await within(waiting, 10_000, () => 'the message sent after the purge')).value;
    expect((delivery as Delivery<Numbered>).message.n).toBe(4);
    await (delivery as Delivery<Numbered>).ack();
    await iterator.return?.();
  }, 30_000);

  it('a group is served by one consumer at a time: its cap holds across handles', async () => {
    const name = queueName('cap');
    const producer = openQueue<Numbered>(name);
    await producer.send({ n: 0 }, { group: 'g' }); // creates the group queue before the consumers start
    for (let n = 1; n < 4; n++) await producer.send({ n }, { group: 'g' });
    const iterators = [openQueue<Numbered>(name), openQueue<Numbered>(name)].map(
      (queue) => queue[Symbol.asyncIterator]() as FlowIterator<Numbered>,
    );
    const handed: Delivery<Numbered>[] = [];
    for (const iterator of iterators) {
      iterator.flow({ groupConcurrency: 1 });
      for (let i = 0; i < 2; i++) {
        void iterator.next().then((result) => {
          if (!result.done) handed.push(result.value);
        });
      }
    }
    await sleep(1_500);
    expect(handed.length).toBe(1);
    await handed[0]!.ack();
    await sleep(1_000);
    expect(handed.length).toBe(2);
    await handed[1]!.ack();
    for (const iterator of iterators) await iterator.return?.();
  }, 30_000);

  it('rate tokens: minted once per limit, taken only when needed, all back after the consumers close', async () => {
    const rate = { limit: 3, interval: 500 };
    const name = queueName('tokens');
    const producer = openQueue<Numbered>(name);
    for (let n = 0; n < 6; n++) await producer.send({ n });
    const consumers = [openQueue<Numbered>(name), openQueue<Numbered>(name)];
    const iterators = consumers.map((queue) => queue[Symbol.asyncIterator]() as FlowIterator<Numbered>);
    for (const iterator of iterators) iterator.flow({ rateLimit: rate });
    const times: number[] = [];
    await Promise.all(
      iterators.map(async (iterator) => {
        while (times.length < 6) {
          const result = await Promise.race([iterator.next(), sleep(3_000).then(() => undefined)]);
          if (result === undefined || result.done) return;
          times.push(Date.now());
          await result.value.ack();
        }
      }),
    );
    expect(times.length).toBe(6);
    times.sort((a, b) => a - b);
    expect(times[3]! - times[0]!).toBeGreaterThanOrEqual(rate.interval - 20);
    for (const queue of consumers) await queue.close();
    await sleep(rate.interval + 300); // the last spent tokens cool down
    // The consumers' window is the limit's interval with the start margin (start-margin.ts).
    const tokens = tokenQueueName(name, withStartMargin({ rateLimit: rate }).rateLimit!);
    expect(await counts(tokens, `${tokens}.cool`, `${tokens}.minted`)).toEqual([3, 0, 1]);
  }, 30_000);

  it('a limit beyond what RabbitMQ holds as tokens is refused', () => {
    const iterator = openQueue<Numbered>(queueName('too-many'))[
      Symbol.asyncIterator
    ]() as FlowIterator<Numbered>;
    expect(() => iterator.flow({ rateLimit: { limit: 100_001, interval: 1_000 } })).toThrow(
      /rateLimit\.limit/,
    );
  });
});
