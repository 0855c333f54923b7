import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  BrokerUnavailableError,
  InvalidOptionError,
  MessageTooLargeError,
  SerializationError,
} from '../../src/errors.js';
import { takeNow } from '../../src/queuing/hand-off.js';
import type { Delivery } from '../../src/queuing/types.js';
import { defineCommand } from '../../src/routing/define.js';
import { STARVATION_LIMIT } from '../../src/transports/nats/bands.js';
import {
  DEAD_REASON_MAX_BYTES,
  deadLetterRoom,
  reasonHeader,
} from '../../src/transports/nats/dead-letter-room.js';
import { DUPLICATE_WINDOW_MS, NatsQueue, NatsTopologyError } from '../../src/transports/nats/index.js';
import { streamName, subjectPrefix } from '../../src/transports/nats/names.js';
import { sleep, within } from '../support/async.js';
import { brokerAvailable, services } from '../support/broker.js';
import { expectNothing, receive, sendRetrying } from '../support/deliveries.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { natsQueues } from './nats-fixture.js';
import { NATS_URL, natsHarness, open, startNats, stopNats, withConnection } from './nats-harness.js';

const up = await brokerAvailable('nats');

describe('NatsQueue options', () => {
  it.each([
    ['visibilityTimeout', { visibilityTimeout: 10 }],
    ['prefetch', { prefetch: 0 }],
    ['maxAttempts', { maxAttempts: 0 }],
    ['deadLetter', { deadLetter: 'same' }],
    ['backoff', { backoff: { type: 'linear' } }],
    ['url', { url: '' }],
    ['closeTimeout', { closeTimeout: -1 }],
  ])('rejects a bad %s with InvalidOptionError', (option, options) => {
    expect(() => new NatsQueue('same', options as object)).toThrow(InvalidOptionError);
    expect(() => new NatsQueue('same', options as object)).toThrow(option);
  });

  it('refuses a visibilityTimeout as long as the duplicate window, naming both', () => {
    const tooLong = () => new NatsQueue('same', { visibilityTimeout: DUPLICATE_WINDOW_MS });
    expect(tooLong).toThrow(InvalidOptionError);
    expect(tooLong).toThrow(`invalid visibilityTimeout: ${DUPLICATE_WINDOW_MS}`);
    expect(tooLong).toThrow(`duplicate_window of ${DUPLICATE_WINDOW_MS} ms`);
    const queue = new NatsQueue('same', {
      url: 'nats://127.0.0.1:1',
      visibilityTimeout: DUPLICATE_WINDOW_MS - 1,
    });
    return queue.close();
  });

  it(`bounds the dead-letter reason header to ${DEAD_REASON_MAX_BYTES} bytes, on one line, cut whole with …`, () => {
    expect(reasonHeader('failed 1 of 1 attempts: a\r\nb')).toBe('failed 1 of 1 attempts: a b');
    const fits = 'é'.repeat(DEAD_REASON_MAX_BYTES / 2);
    expect(reasonHeader(fits)).toBe(fits);
    for (const long of [`${fits}x`, `x${fits}`, 'x'.repeat(5_000), '€'.repeat(1_000)]) {
      const header = reasonHeader(long);
      expect(Buffer.byteLength(header)).toBeLessThanOrEqual(DEAD_REASON_MAX_BYTES);
      expect(Buffer.byteLength(header)).toBeGreaterThan(DEAD_REASON_MAX_BYTES - 4);
      expect(header.endsWith('…')).toBe(true);
      expect(long.startsWith(header.slice(0, -1))).toBe(true); // no character cut in two
    }
  });

  it('maps any queue name to a valid stream name', () => {
    expect(streamName('orders.dead')).toBe('sluice-orders_2edead');
    expect(streamName('a b*>é_')).toBe('sluice-a_20b_2a_3e_c3_a9_5f');
  });
});

describe.runIf(up)('NatsQueue on JetStream', () => {
  const { queueName, track, closeTracked } = natsQueues();

  it('works with any queue name', async () => {
    const name = queueName('odd name.with*chars>');
    const queue = track(open<{ n: number }>(name));
    await queue.send({ n: 1 });
    const [delivery] = await receive(queue, 1);
    expect(delivery!.message).toEqual({ n: 1 });
    await delivery!.ack();
  });

  it('stores a message sent twice with the same key once, delayed or not', async () => {
    const name = queueName('dedup');
    const queue = track(open<{ n: number }>(name));
    await queue.send({ n: 1 }, { key: 'order-1' });
    await queue.send({ n: 2 }, { key: 'order-1' });
    await queue.send({ n: 3 }, { key: 'later', delay: 50 });
    await queue.send({ n: 4 }, { key: 'later', delay: 50 });
    await queue.send({ n: 5 });
    const deliveries = await receive(queue, 3);
    expect(deliveries.map((d) => d.message.n)).toEqual([1, 5, 3]);
    await Promise.all(deliveries.map((d) => d.ack()));
    await expectNothing(queue, 300);
  });

  it(`serves a lower band after ${STARVATION_LIMIT} deliveries from higher bands: no band starves`, async () => {
    const name = queueName('starve');
    const queue = track(open<{ n: number }>(name));
    await queue.send({ n: -1 }, { priority: 0 });
    for (let n = 0; n < STARVATION_LIMIT + 10; n++) await queue.send({ n }, { priority: 1 });
    const deliveries = await receive(queue, STARVATION_LIMIT + 11);
    const order = deliveries.map((d) => d.message.n);
    expect(order.indexOf(-1)).toBe(STARVATION_LIMIT);
    expect(order.filter((n) => n >= 0)).toEqual([...Array(STARVATION_LIMIT + 10).keys()]);
    await Promise.all(deliveries.map((d) => d.ack()));
  });

  it('keeps the priority of a delayed message once it is due', async () => {
    const name = queueName('delayed-priority');
    const queue = track(open<{ label: string }>(name));
    await queue.send({ label: 'urgent-later' }, { delay: 200, priority: 9 });
    const producer = track(open<{ label: string }>(name));
    const iterator = queue[Symbol.asyncIterator]();
    const first = await iterator.next();
    await producer.send({ label: 'plain' });
    expect((first.value as Delivery<{ label: string }>).message.label).toBe('urgent-later');
    await (first.value as Delivery<{ label: string }>).ack();
    await iterator.return?.();
  });

  it('dead-letters with the reason as deadLetterReason, the envelope id and headers kept', async () => {
    const name = queueName('reason');
    const queue = track(open<{ n: number }>(name, { maxAttempts: 1 }));
    await queue.send({ n: 1 });
    const [delivery] = await receive(queue, 1);
    expect(delivery!.deadLetterReason).toBeUndefined();
    await delivery!.nack({ error: new TypeError('card declined\nby the bank') });
    const dead = track(open<{ n: number }>(`${name}.dead`));
    const [corpse] = await receive(dead, 1);
    expect(corpse!.message).toEqual({ n: 1 });
    expect(corpse!.id).toBe(delivery!.id);
    expect(corpse!.headers).toEqual({});
    expect(corpse!.deadLetterReason).toBe('failed 1 of 1 attempts: TypeError: card declined by the bank');
    await corpse!.ack();
  });

  it('honours the delay of nack({ requeue: true, delay }), whatever the attempts left', async () => {
    const name = queueName('requeue-delay');
    const queue = track(open<{ n: number }>(name, { maxAttempts: 1 }));
    await queue.send({ n: 1 });
    const [delivery] = await receive(queue, 1);
    const nackedAt = Date.now();
    await delivery!.nack({ requeue: true, delay: 1_500 });
    await expectNothing(queue, 1_000);
    const [again] = await receive(queue, 1);
    expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(1_400);
    expect(again!.attempt).toBe(2);
    await again!.ack();
  });

  it('dead-letters the largest message it accepts, its body whole, with a long reason cut short', async () => {
    const name = queueName('largest');
    const queue = track(open<string>(name, { maxAttempts: 1 }));
    await queue.send('warm-up: connected, so the limit is known');
    await (await receive(queue, 1))[0]!.ack();
    const maxPayload = await withConnection(async (c) => c.nc.info!.max_payload);
    const limit = maxPayload - deadLetterRoom(streamName(name));
    const refused = await queue.send('x'.repeat(limit)).catch((error: MessageTooLargeError) => error);
    expect(refused).toBeInstanceOf(MessageTooLargeError);
    expect((refused as MessageTooLargeError).limit).toBe(limit);
    const largest = 'x'.repeat(limit - ((refused as MessageTooLargeError).size - limit));
    await queue.send(largest);
    const [delivery] = await receive(queue, 1);
    await delivery!.nack({ error: new Error('é'.repeat(5_000)) });
    const [corpse] = await receive(track(open<string>(`${name}.dead`)), 1);
    expect(corpse!.message).toBe(largest);
    expect(corpse!.id).toBe(delivery!.id);
    expect(corpse!.deadLetterReason).toMatch(/^failed 1 of 1 attempts: é+…$/);
    expect(Buffer.byteLength(corpse!.deadLetterReason!)).toBeLessThanOrEqual(DEAD_REASON_MAX_BYTES);
    await corpse!.ack();
  });

  it('dead-letters two messages that carry the same envelope id: both are kept', async () => {
    const name = queueName('same-id');
    const body = (n: number) => JSON.stringify({ id: 'reused', payload: { n } });
    await natsHarness.sendRaw(name, body(1));
    const queue = track(open<{ n: number }>(name, { maxAttempts: 1 }));
    const [first] = await receive(queue, 1);
    await first!.nack({ requeue: false });
    await natsHarness.sendRaw(name, body(2));
    const [second] = await receive(queue, 1);
    expect(second!.id).toBe('reused');
    await second!.nack();
    const dead = track(open<{ n: number }>(`${name}.dead`));
    const corpses = await receive(dead, 2);
    expect(corpses.map((d) => [d.message.n, d.id, d.deadLetterReason])).toEqual([
      [1, 'reused', 'rejected'],
      [2, 'reused', 'failed 1 of 1 attempts'],
    ]);
    await Promise.all(corpses.map((d) => d.ack()));
  });

  it('validates with a Standard Schema or an array of definitions', async () => {
    const name = queueName('schemas');
    const Ping = defineCommand('ping', z.object({ id: z.number() }));
    const Pong = defineCommand('pong', z.object({ id: z.number() }));
    const producer = track(open<unknown>(name));
    await producer.send(Ping({ id: 1 }));
    await producer.send({ type: 'other', payload: {} });
    await producer.send(Pong({ id: 2 }));
    const byDefinitions = track(open<unknown>(name, { schema: [Ping, Pong] }));
    const received = await receive(byDefinitions, 2);
    expect(received.map((d) => d.message)).toEqual([Ping({ id: 1 }), Pong({ id: 2 })]);
    await Promise.all(received.map((d) => d.ack()));

    await producer.send({ id: 'not a number' });
    await producer.send({ id: 3 });
    const byStandard = track(open<{ id: number }>(name, { schema: z.object({ id: z.number() }) }));
    const [valid] = await receive(byStandard, 1);
    expect(valid!.message).toEqual({ id: 3 });
    await valid!.ack();
    const dead = track(open<unknown>(`${name}.dead`));
    const corpses = await receive(dead, 2);
    expect(corpses.map((d) => d.message)).toEqual([{ type: 'other', payload: {} }, { id: 'not a number' }]);
    expect(corpses.map((d) => d.deadLetterReason)).toEqual([
      'invalid message: ValidationError: no schema for message type "other"',
      expect.stringMatching(/^invalid message: ValidationError: id: /),
    ]);
    await Promise.all(corpses.map((d) => d.ack()));
  });

  it('keeps a long-running delivery with heartbeats past the visibility timeout', async () => {
    const name = queueName('heartbeat');
    const worker = track(open<{ n: number }>(name, { visibilityTimeout: 1_000 }));
    await worker.send({ n: 1 });
    const [delivery] = await receive(worker, 1);
    const other = track(open<{ n: number }>(name, { visibilityTimeout: 1_000 }));
    await expectNothing(other, 2_500); // 2.5 × the visibility timeout, unsettled all along
    await delivery!.ack();
    await expectNothing(other, 1_500);
  });

  it('accepts several comma-separated URLs and a borrowed connection it does not close', async () => {
    const name = queueName('urls');
    const many = track(new NatsQueue<{ n: number }>(name, { url: `nats://127.0.0.1:1,${NATS_URL}` }));
    await many.send({ n: 1 });
    const connection = await connect({ servers: NATS_URL });
    const borrowed = new NatsQueue<{ n: number }>(name, { connection });
    const [delivery] = await receive(borrowed, 1);
    expect(delivery!.message).toEqual({ n: 1 });
    await delivery!.ack();
    await borrowed.close();
    expect(connection.isClosed()).toBe(false);
    await connection.close();
  });

  it('rejects a send with BrokerUnavailableError when the first connection fails; a consumer waits', async () => {
    const queue = new NatsQueue('nowhere', { url: 'nats://127.0.0.1:1' });
    await expect(queue.send({})).rejects.toBeInstanceOf(BrokerUnavailableError);
    const waiting = queue[Symbol.asyncIterator]().next();
    expect(await Promise.race([waiting, sleep(1_500).then(() => 'still waiting')])).toBe('still waiting');
    await queue.close();
    expect(await waiting).toEqual({ value: undefined, done: true });
  });

  it('closes the connection it opened', async () => {
    const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const socketsOnceSettled = async (expected: number) => {
      // A closed connection's socket goes away shortly after close() resolved.
      for (const deadline = Date.now() + 5_000; sockets() !== expected && Date.now() < deadline; ) {
        await sleep(50);
      }
      return sockets();
    };
    const before = await socketsOnceSettled(0); // the previous test's connections are closed by now
    const queue = open<{ n: number }>(queueName('own-connection'));
    await queue.send({ n: 1 });
    expect(sockets()).toBe(before + 1);
    await queue.close();
    expect(await socketsOnceSettled(before)).toBe(before);
  });

  it('hands out nothing more once closing: what it prefetched goes back to the stream', async () => {
    const name = queueName('close-buffered');
    const queue = open<{ n: number }>(name);
    for (let n = 0; n < 10; n++) await queue.send({ n });
    const iterator = queue[Symbol.asyncIterator]();
    const first = await iterator.next(); // handed out once the band answered: the other 9 are buffered
    await (first.value as Delivery<{ n: number }>).ack();
    const closing = queue.close();
    expect(queue[takeNow]()).toBeUndefined();
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
    await closing;
    const rest = await receive(track(open<{ n: number }>(name)), 9);
    expect(rest.map((d) => d.message.n).sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await Promise.all(rest.map((d) => d.ack()));
  });

  it('consumes envelopes from foreign producers: only payload is required', async () => {
    const name = queueName('foreign');
    await natsHarness.sendRaw(name, JSON.stringify({ payload: { n: 1 } }));
    const full = {
      id: 'foreign-2',
      type: 'two',
      attempt: 3,
      headers: { traceparent: '00-ab-01' },
      payload: { n: 2 },
    };
    await natsHarness.sendRaw(name, JSON.stringify(full));
    const queue = track(open<{ n: number }>(name));
    const [bare, complete] = await receive(queue, 2);
    expect(complete!.message).toEqual({ n: 2 });
    expect(complete!.id).toBe('foreign-2');
    expect(complete!.headers).toEqual({ traceparent: '00-ab-01' });
    expect(complete!.attempt).toBe(1); // JetStream's delivery count, not the envelope's
    await complete!.ack();

    expect(bare!.message).toEqual({ n: 1 });
    expect(bare!.id).toBe(`${streamName(name)}:1`);
    await bare!.nack({ requeue: true });
    const [again] = await receive(queue, 1);
    expect(again!.attempt).toBe(2);
    expect(again!.id).toBe(bare!.id); // the same id on every delivery
    await again!.nack({ requeue: false });
    const dead = track(open<{ n: number }>(`${name}.dead`));
    const [corpse] = await receive(dead, 1);
    expect(corpse!.message).toEqual({ n: 1 });
    expect(corpse!.id).toBe(bare!.id); // and on its dead-letter copy
    await corpse!.ack();
  });

  it('names a body that is no envelope by its stream sequence, on the dead-letter queue too', async () => {
    const name = queueName('garbage-id');
    await natsHarness.sendRaw(name, 'not json');
    const queue = track(open<unknown>(name));
    const waiting = queue[Symbol.asyncIterator]().next(); // receiving dead-letters it
    const dead = track(open<unknown>(`${name}.dead`));
    const [corpse] = await receive(dead, 1);
    expect(corpse!.message).toBe('not json');
    expect(corpse!.id).toBe(`${streamName(name)}:1`);
    expect(corpse!.deadLetterReason).toMatch(/^undecodable body: /);
    await corpse!.ack();
    await queue.close();
    expect(await waiting).toEqual({ value: undefined, done: true });
  });

  it('rejects sends and next() with NatsTopologyError when another stream holds the subjects', async () => {
    const name = queueName('taken-subjects');
    const squatter = `squatter-${name}`; // another stream already holds the queue's subjects
    await withConnection((c) => c.jsm.streams.add({ name: squatter, subjects: [`${subjectPrefix(name)}*`] }));
    try {
      const queue = track(open<{ n: number }>(name));
      for (const sent of [queue.send({ n: 1 }, { delay: 100 }), queue.send({ n: 2 })]) {
        await expect(sent).rejects.toBeInstanceOf(NatsTopologyError);
        await expect(sent).rejects.toThrow(`queue ${name} cannot use stream ${streamName(name)}`);
        await expect(sent).rejects.toThrow(`held by stream ${squatter}`);
      }
      await expect(queue[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(NatsTopologyError);
    } finally {
      await withConnection((c) => c.jsm.streams.delete(squatter));
    }
  });

  it('refuses a message that would not arrive equal, naming the path, and stores nothing', async () => {
    const name = queueName('strict');
    const queue = track(open<unknown>(name));
    await expect(queue.send({ x: Number.NaN })).rejects.toThrow(SerializationError);
    await expect(queue.send({ x: Number.NaN })).rejects.toThrow('message.x');
    await expect(queue.send({ at: new Date() }, { delay: 10 })).rejects.toThrow(SerializationError);
    await expect(queue.send({ at: new Date() })).rejects.toThrow(/message\.at .*Date/);
    await queue.send({ ok: true });
    const [delivery] = await receive(queue, 1);
    expect(delivery!.message).toEqual({ ok: true });
    await delivery!.ack();
    await expectNothing(queue, 300);
  });

  it("refuses at send a message over the server's max_payload less a dead-letter copy's room, storing nothing", async () => {
    const name = queueName('too-large');
    const queue = track(open<string>(name));
    await queue.send('warm-up: connected, so the limit is known');
    const maxPayload = await withConnection(async (c) => c.nc.info!.max_payload);
    const limit = maxPayload - deadLetterRoom(streamName(name));
    const sent = queue.send('x'.repeat(limit));
    await expect(sent).rejects.toBeInstanceOf(MessageTooLargeError);
    await expect(sent).rejects.toThrow(`maxMessageSize of ${limit} bytes`);
    const small = track(open<string>(name, { maxMessageSize: 64 }));
    await expect(small.send('y'.repeat(64))).rejects.toThrow('maxMessageSize of 64 bytes');
    // A limit above the server's: the same room is kept, as the same named error.
    const large = track(open<string>(name, { maxMessageSize: 2 * maxPayload }));
    const refused = large.send('z'.repeat(maxPayload + 1), { key: 'k' });
    await expect(refused).rejects.toBeInstanceOf(MessageTooLargeError);
    await expect(refused).rejects.toThrow(`maxMessageSize of ${limit} bytes`);
    const stored = await withConnection(
      async (c) => (await c.jsm.streams.info(streamName(name))).state.messages,
    );
    expect(stored).toBe(1);
  });

  describe('across a dropped connection', () => {
    let proxy: TcpProxy;
    let connection: NatsConnection;

    beforeEach(async () => {
      proxy = await startTcpProxy(services.nats.port);
      connection = await connect({ servers: `nats://127.0.0.1:${proxy.port}`, reconnectTimeWait: 100 });
    });

    afterEach(async () => {
      await closeTracked();
      await connection.close();
      await proxy.close();
    });

    /** Drops the connection for `ms`; resolves once the client reconnected. */
    async function blip(ms: number): Promise<void> {
      const statuses = connection.status();
      proxy.cut(ms);
      for await (const status of statuses) if (status.type === 'reconnect') return;
    }

    it('keeps delivering when a band held more than half its prefetch at the reconnect', async () => {
      const name = queueName('blip');
      const producer = track(open<{ n: number }>(name));
      for (let n = 0; n < 30; n++) await producer.send({ n });
      const queue = track(new NatsQueue<{ n: number }>(name, { connection, prefetch: 10 }));
      const iterator = queue[Symbol.asyncIterator]();
      const first = (await iterator.next()).value as Delivery<{ n: number }>; // 9 more are buffered
      await first.ack();
      await blip(300);
      const seen = [first.message.n];
      while (seen.length < 30) {
        const next = await within(iterator.next(), 10_000, () => `message ${seen.length + 1} of 30`);
        const delivery = next.value as Delivery<{ n: number }>;
        seen.push(delivery.message.n);
        await delivery.ack();
      }
      expect(seen.sort((a, b) => a - b)).toEqual([...Array(30).keys()]);
      await iterator.return?.();
    }, 30_000);

    it('starts a consumer while NATS cannot be reached: it waits, then consumes', async () => {
      const name = queueName('start-down');
      proxy.cut(1_500); // refuses connections: the queue's first connection fails
      const queue = track(new NatsQueue<{ n: number }>(name, { url: `nats://127.0.0.1:${proxy.port}` }));
      const iterator = queue[Symbol.asyncIterator]();
      const first = iterator.next();
      await track(open<{ n: number }>(name)).send({ n: 1 });
      const next = await within(first, 10_000, () => 'the consumer gave up or never connected');
      expect((next.value as Delivery<{ n: number }>).message).toEqual({ n: 1 });
      await (next.value as Delivery<{ n: number }>).ack();
      await iterator.return?.();
    }, 30_000);

    it('a nack that cannot dead-letter while NATS is away resolves; the message comes back', async () => {
      const name = queueName('nack-down');
      const url = `nats://127.0.0.1:${proxy.port}`; // a connection of its own, reconnecting for ever
      const queue = track(
        new NatsQueue<{ n: number }>(name, { url, maxAttempts: 1, visibilityTimeout: 1_000 }),
      );
      await queue.send({ n: 1 });
      const iterator = queue[Symbol.asyncIterator]();
      const delivery = (await iterator.next()).value as Delivery<{ n: number }>;
      proxy.cut(2_000);
      await expect(delivery.nack({ error: new Error('during the outage') })).resolves.toBeUndefined();
      const again = (await within(iterator.next(), 15_000, () => 'no redelivery')).value as Delivery<{
        n: number;
      }>;
      expect([again.message.n, again.attempt]).toEqual([1, 2]);
      await again.nack({ error: new Error('after it') });
      await iterator.return?.();
      const [corpse] = await receive(track(open<{ n: number }>(`${name}.dead`)), 1);
      expect(corpse!.deadLetterReason).toBe('failed 2 of 1 attempts: after it');
      await corpse!.ack();
    }, 30_000);

    it('closes when the connection drops and comes back while the pulls in flight end', async () => {
      const name = queueName('close-blip');
      const queue = track(new NatsQueue<{ n: number }>(name, { connection }));
      await queue.send({ n: 1 });
      const iterator = queue[Symbol.asyncIterator]();
      await ((await iterator.next()).value as Delivery<{ n: number }>).ack();
      const pending = iterator.next(); // every band has a pull in flight
      const closing = queue.close();
      // Longer than a pull lives (1 s): the pulls in flight expire while nobody listens, unanswered.
      await blip(1_200);
      await within(closing, 15_000, () => 'close() still waiting');
      expect(await pending).toEqual({ value: undefined, done: true });
    }, 30_000);
  });

  describe('across a nats-server restart', () => {
    afterAll(async () => {
      await startNats(); // whatever happened, leave the server running (a no-op when it runs)
    }, 60_000);

    it('rejects sends while down, keeps what was stored, and resumes consuming by itself', async () => {
      const name = queueName('restart');
      const queue = track(open<{ n: number }>(name));
      const iterator = queue[Symbol.asyncIterator]();
      await queue.send({ n: 1 });
      const first = await iterator.next();
      await (first.value as Delivery<{ n: number }>).ack();
      await queue.send({ n: 2 }); // stored, not yet taken: must survive the restart

      expect(await stopNats()).not.toHaveLength(0);
      await sleep(100); // the client notices the closed socket
      await expect(queue.send({ n: 99 })).rejects.toBeInstanceOf(BrokerUnavailableError);
      await startNats();
      await sendRetrying(queue, { n: 3 });

      const seen: number[] = [];
      while (seen.length < 2) {
        const next = await iterator.next();
        const delivery = next.value as Delivery<{ n: number }>;
        seen.push(delivery.message.n);
        await delivery.ack();
      }
      expect(seen.sort()).toEqual([2, 3]);
      await iterator.return?.();
      expect(
        await withConnection(async (c) => (await c.jsm.streams.info(streamName(name))).state.messages),
      ).toBe(0);
    }, 60_000);
  });
});
