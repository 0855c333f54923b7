import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmqpManagementUnavailableError, queueNames } from '../../src/transports/amqp/index.js';
import { operationsSuite } from '../conformance/operations.js';
import { statsBecome } from '../conformance/operations-support.js';
import { sleep, within } from '../support/async.js';
import { brokerAvailable, portOpen } from '../support/broker.js';
import { expectNothing, receive } from '../support/deliveries.js';
import { amqpQueues } from './amqp-fixture.js';
import { AMQP_URL, amqpHarness, leaseRabbit, withConnection } from './amqp-harness.js';

const up = await brokerAvailable('rabbitmq');
/** The management plugin is off on the test machines; a stand-in plays it where its port is free. */
const MANAGEMENT_PORT = 15672;
const managementUp = await portOpen(MANAGEMENT_PORT);

interface Numbered {
  n: number;
}

describe.runIf(up)('AmqpQueue operations', () => {
  let release: () => void = () => {};
  beforeAll(async () => {
    release = await leaseRabbit();
  }, 130_000);
  afterAll(() => release());

  operationsSuite(amqpHarness);
});

describe.runIf(up)('AmqpQueue operations on RabbitMQ', () => {
  const { queueName, openQueue, deleteAfter } = amqpQueues();

  it('a pause holds back what a consumer on another handle prefetched, and it comes back with its attempt', async () => {
    const name = queueName('pause-prefetched');
    const consumer = openQueue<Numbered>(name, { prefetch: 10 });
    const operator = openQueue<Numbered>(name);
    for (let n = 1; n <= 5; n++) await operator.send({ n });
    const iterator = consumer[Symbol.asyncIterator]();
    const first = await within(iterator.next(), 10_000, () => 'the first delivery');
    await statsBecome(operator, { ready: 0 }); // the other four are prefetched

    await operator.pause();
    await sleep(1_500); // the contract gives a pause about one second to reach every consumer
    const pending = iterator.next();
    const early = await Promise.race([pending.then(() => 'handed out'), sleep(2_000).then(() => 'held')]);
    expect(early).toBe('held');
    // What was prefetched went back to the queue; the one handed out is still in flight.
    await statsBecome(operator, { ready: 4, inFlight: 1, paused: true });
    expect((await openQueue<Numbered>(name).stats()).paused).toBe(true); // a third handle sees it

    await first.value.ack();
    await operator.resume();
    const rest = [(await within(pending, 10_000, () => 'a delivery after resume')).value];
    for (let i = 0; i < 3; i++) rest.push((await within(iterator.next(), 10_000, () => 'the rest')).value);
    expect(rest.map((d) => d.message.n).sort()).toEqual([2, 3, 4, 5]);
    expect(rest.map((d) => d.attempt)).toEqual([1, 1, 1, 1]);
    await Promise.all(rest.map((d) => d.ack()));
    await iterator.return?.();
  }, 60_000);

  it('a consumer started on a new handle while paused waits, and the pause outlives every handle', async () => {
    const name = queueName('pause-later');
    const operator = openQueue<Numbered>(name);
    await operator.pause();
    await operator.close();
    await openQueue<Numbered>(name).send({ n: 1 });

    const later = openQueue<Numbered>(name);
    expect((await later.stats()).paused).toBe(true);
    await expectNothing(later, 2_000);
    await openQueue<Numbered>(name).resume();
    const [delivery] = await receive(later, 1);
    expect([delivery!.message, delivery!.attempt]).toEqual([{ n: 1 }, 1]);
    await delivery!.ack();
  }, 60_000);

  it('browsing dead letters, page after page and again, leaves them all in their order', async () => {
    const name = queueName('browse');
    const queue = openQueue<Numbered>(name, { maxAttempts: 1 });
    const count = 12;
    for (let n = 1; n <= count; n++) await queue.send({ n });
    const deliveries = await receive(queue, count);
    for (const delivery of deliveries.sort((a, b) => a.message.n - b.message.n)) {
      await delivery.nack({ requeue: false });
    }
    await statsBecome(queue, { dead: count, inFlight: 0 });

    const listed = (await queue.deadLetters()).map((letter) => letter.message.n);
    expect(listed).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    for (let round = 0; round < 3; round++) {
      let after: string | undefined;
      const seen: number[] = [];
      for (;;) {
        const page = await queue.deadLetters(after === undefined ? { limit: 5 } : { limit: 5, after });
        seen.push(...page.map((letter) => letter.message.n));
        if (page.length < 5) break;
        after = page.at(-1)!.id;
      }
      expect(seen).toEqual(listed);
    }

    // What the broker holds, read by a plain client: every letter, in its order.
    const stored = await withConnection(async (connection) => {
      const channel = await connection.createChannel();
      const numbers: number[] = [];
      for (
        let raw = await channel.get(`${name}.dead`);
        raw !== false;
        raw = await channel.get(`${name}.dead`)
      ) {
        numbers.push((JSON.parse(raw.content.toString()) as { payload: Numbered }).payload.n);
      }
      channel.nackAll(true);
      return numbers;
    });
    expect(stored).toEqual(listed);
  }, 60_000);

  it('declare creates the queue, its dead-letter queue and its pause record, empty', async () => {
    const name = queueName('declare');
    await openQueue(name).declare();
    const counts = await withConnection(async (connection) => {
      const channel = await connection.createChannel();
      const found = [];
      for (const queue of [name, `${name}.dead`, `${name}.paused`]) {
        found.push((await channel.checkQueue(queue)).messageCount);
      }
      await channel.checkExchange('sluice.control');
      return found;
    });
    expect(counts).toEqual([0, 0, 0]);
  });

  it("stats and purge find a delay queue of the queue's backoff that another process declared", async () => {
    const name = queueName('backoff-delay');
    const delayQueue = `${name}.delay.250`;
    deleteAfter(delayQueue);
    await withConnection(async (connection) => {
      const channel = await connection.createConfirmChannel();
      await channel.assertQueue(delayQueue, {
        durable: true,
        arguments: {
          'x-message-ttl': 60_000, // longer than the test: the message stays delayed
          'x-expires': 120_000,
          'x-dead-letter-exchange': '',
          'x-dead-letter-routing-key': name,
        },
      });
      channel.sendToQueue(delayQueue, Buffer.from('{"payload":{"n":1}}'), { persistent: true });
      await channel.waitForConfirms();
    });
    const queue = openQueue<Numbered>(name, { backoff: { type: 'fixed', delay: 250 } });
    await statsBecome(queue, { delayed: 1 });
    expect(await queue.purge()).toBe(1);
    await statsBecome(queue, { delayed: 0 });
  });
});

describe.runIf(up && !managementUp)('RabbitMQ management API', () => {
  const { queueName, openQueue } = amqpQueues();

  it('queueNames refuses without the management API, naming --queue', async () => {
    const refused = queueNames({ url: AMQP_URL });
    await expect(refused).rejects.toBeInstanceOf(AmqpManagementUnavailableError);
    await expect(refused).rejects.toThrow(/--queue/);
  });

  describe('a stand-in for the API', () => {
    let server: Server;
    const requests: string[] = [];
    let unacknowledged = 0;
    const listed = [
      'orders',
      'orders.dead',
      'orders.delay.1000',
      'orders.key.k',
      'orders.paused',
      'orders.groups',
      'orders.g.tenant',
      'orders.rate.3.525',
      'orders.rate.3.525.cool',
      'b.dead',
      'amq.gen-x',
    ];
    beforeAll(async () => {
      server = createServer((request, response) => {
        requests.push(`${request.headers.authorization} ${request.url}`);
        const url = new URL(request.url!, 'http://localhost');
        response.setHeader('content-type', 'application/json');
        if (url.pathname === '/api/queues/%2F') {
          const pattern = url.searchParams.get('name');
          const items = listed.filter((name) => pattern === null || new RegExp(pattern).test(name));
          response.end(JSON.stringify({ items: items.map((name) => ({ name })), page_count: 1 }));
        } else {
          const name = decodeURIComponent(url.pathname.split('/').at(-1)!);
          response.end(JSON.stringify({ name, messages_unacknowledged: unacknowledged }));
        }
      });
      await new Promise<void>((resolve) => server.listen(MANAGEMENT_PORT, '127.0.0.1', resolve));
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('lists the sluice queues, not what sluice derives from them', async () => {
      expect(await queueNames({ url: AMQP_URL })).toEqual(['b.dead', 'orders']);
      expect(requests.at(-1)).toMatch(/^Basic Z3Vlc3Q6Z3Vlc3Q= \/api\/queues\/%2F\?/);
    });

    it("stats takes in-flight from the API's count", async () => {
      const queue = openQueue<Numbered>(queueName('managed'));
      unacknowledged = 7;
      expect((await queue.stats()).inFlight).toBe(7);
    });
  });
});
