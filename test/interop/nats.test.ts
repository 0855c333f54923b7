/**
 * NATS JetStream interop: a client that is not sluice (the raw @nats-io clients,
 * test/interop/nats/client.ts, written from docs/wire-protocol.md (NATS)) declares a queue's topology,
 * sends to sluice queues, consumes from them, acks, naks, moves delayed messages and dead-letters as
 * the document says, and reads the dead-letter queue. Every message is counted: each test ends with
 * every stream it used empty, then deletes them.
 */
import { AckPolicy } from '@nats-io/jetstream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { NatsQueueOptions } from '../../src/transports/nats/index.js';
import { type NatsDelivery, NatsQueue, NatsTopologyError } from '../../src/transports/nats/index.js';
import { sleep } from '../support/async.js';
import { brokerAvailable } from '../support/broker.js';
import { expectNothing, receive } from '../support/deliveries.js';
import { lockNatsServer, NATS_URL } from '../transports/nats-harness.js';
import {
  consumerConfig,
  ForeignClient,
  type Received,
  streamConfig,
  streamOf,
  subjectOf,
} from './nats/client.js';

const up = await brokerAvailable('nats');

interface Numbered {
  n: number;
}

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const envelope = (received: Received) =>
  JSON.parse(received.body) as { id: string; type?: string; headers?: object; payload: unknown };

describe.runIf(up)('NATS JetStream interop with the raw @nats-io client', () => {
  let unlock: () => void = () => {};
  let foreign: ForeignClient;
  beforeAll(async () => {
    unlock = await lockNatsServer(); // the NATS adapter's tests restart the server
    foreign = await ForeignClient.connect(NATS_URL);
  }, 300_000);
  afterAll(async () => {
    await foreign?.close();
    unlock();
  });

  const opened: NatsQueue<unknown>[] = [];
  const created: string[] = [];

  /** A queue name for this test; its stream and its dead-letter queue's are deleted after it. */
  function queueName(label: string): string {
    const name = `interop-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    created.push(name, `${name}.dead`);
    return name;
  }

  function open<T>(name: string, options: NatsQueueOptions<T> = {}): NatsQueue<T> {
    const queue = new NatsQueue<T>(name, { url: NATS_URL, ...options });
    opened.push(queue as NatsQueue<unknown>);
    return queue;
  }

  afterEach(async () => {
    await Promise.allSettled(opened.splice(0).map((queue) => queue.close()));
    await foreign.deleteStreams(...created.splice(0));
  });

  /** Polls the stream's message count until it is `expected` (acks are not confirmed by the server). */
  async function expectStored(queue: string, expected: number): Promise<void> {
    const deadline = Date.now() + 5_000;
    while ((await foreign.stored(queue)) !== expected && Date.now() < deadline) await sleep(50);
    expect(await foreign.stored(queue), `messages left in ${streamOf(queue)}`).toBe(expected);
  }

  /**
   * The foreign client's next message of `queue`, waiting for it: a sluice consumer that just
   * stopped may hold one for up to a second (its last pull request), then gives it back.
   */
  async function foreignNext(queue: string): Promise<Received> {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const received = await foreign.next(queue);
      if (received !== undefined) return received;
      if (Date.now() > deadline) throw new Error(`nothing to read on ${streamOf(queue)}`);
      await sleep(50);
    }
  }

  describe('a foreign producer, sluice consuming', () => {
    it('creates the topology from the document before any sluice process; sluice receives every message', async () => {
      const q = queueName('foreign-first');
      await foreign.declare(q, ['p0', 'delayed', 'p5']);
      const dueAt = Date.now() + 2_500;
      await foreign.send(q, JSON.stringify({ payload: { n: 1 } }));
      const full = {
        id: 'full-2',
        type: 'orders.place',
        headers: { traceparent: TRACEPARENT },
        payload: { n: 2 },
      };
      await foreign.send(q, JSON.stringify(full));
      await foreign.send(q, 'not json at all');
      await foreign.send(q, JSON.stringify({ payload: { n: 3 } }), { priority: 5 });
      await foreign.send(q, JSON.stringify({ payload: { n: 4 } }), { dueAt, priority: 5 });
      await foreign.send(q, JSON.stringify({ id: 'reused', payload: { n: 5 } }));
      await foreign.send(q, JSON.stringify({ id: 'reused', payload: { n: 6 } }));

      const queue = open<Numbered>(q);
      const ready = await receive(queue, 5);
      expect(ready.map((d) => d.message.n)).toEqual([3, 1, 2, 5, 6]); // the higher band first
      expect(Date.now()).toBeLessThan(dueAt); // the delayed one is not among them
      const [high, bare, complete, reused, again] = ready;
      expect(bare!.id).toBe(`${streamOf(q)}:1`); // no id: named by its stream sequence
      expect(bare!.headers).toEqual({});
      expect(complete!).toMatchObject({ id: 'full-2', headers: { traceparent: TRACEPARENT }, attempt: 1 });
      expect(complete!.deadLetterReason).toBeUndefined();
      expect([reused!.id, again!.id]).toEqual(['reused', 'reused']); // a reused id: both delivered
      expect(high!.id).toBe(`${streamOf(q)}:4`);
      await Promise.all(ready.map((d) => d.ack()));

      const [delayed] = await receive(queue, 1);
      expect(Date.now()).toBeGreaterThanOrEqual(dueAt);
      expect(delayed!).toMatchObject({ message: { n: 4 }, attempt: 1 }); // waiting was not an attempt
      await delayed!.ack();

      const [undecodable] = await receive(open<unknown>(`${q}.dead`), 1);
      expect(undecodable!.message).toBe('not json at all');
      expect(undecodable!.id).toBe(`${streamOf(q)}:3`);
      expect(undecodable!.deadLetterReason).toMatch(/^undecodable body: /);
      await undecodable!.ack();
      await expectStored(q, 0);
      await expectStored(`${q}.dead`, 0);
    });

    it('a reused id: both messages dead-lettered when nacked out, both read by the raw client with their reason', async () => {
      const q = queueName('reused-dead');
      await foreign.declare(q);
      await foreign.send(q, JSON.stringify({ id: 'order-7', payload: { n: 1 } }));
      const queue = open<Numbered>(q, { maxAttempts: 2, backoff: { type: 'fixed', delay: 10 } });
      for (let nacks = 0; nacks < 2; nacks++) {
        const [delivery] = await receive(queue, 1);
        await delivery!.nack({ error: new Error('card declined') });
      }
      // The second arrives after the first left the queue: its dead-letter copy must still be kept.
      await foreign.send(q, JSON.stringify({ id: 'order-7', payload: { n: 2 } }));
      for (let nacks = 0; nacks < 2; nacks++) {
        const [delivery] = await receive(queue, 1);
        expect(delivery!.id).toBe('order-7');
        await delivery!.nack({ error: new Error('card declined') });
      }
      await expectStored(q, 0);
      const dead: Received[] = [];
      for (
        let received = await foreign.next(`${q}.dead`);
        received;
        received = await foreign.next(`${q}.dead`)
      ) {
        dead.push(received);
        foreign.ack(received);
      }
      expect(dead.map((r) => [envelope(r).id, envelope(r).payload, r.headers['Sluice-Dead-Reason']])).toEqual(
        [
          ['order-7', { n: 1 }, 'failed 2 of 2 attempts: card declined'],
          ['order-7', { n: 2 }, 'failed 2 of 2 attempts: card declined'],
        ],
      );
      await expectStored(`${q}.dead`, 0);
    });

    it('a body without id at the documented bound that fails the schema is dead-lettered whole, id written in, reason cut', async () => {
      const q = queueName('at-the-bound');
      await foreign.declare(q);
      await foreign.declare(`${q}.dead`); // read by the raw client before sluice may have created it
      // "at most max_payload − 1229 − 2 × (bytes of the stream name)"
      const bound = foreign.nc.info!.max_payload - 1229 - 2 * Buffer.byteLength(streamOf(q));
      const body = JSON.stringify({ payload: 'x'.repeat(bound - '{"payload":""}'.length) });
      expect(Buffer.byteLength(body)).toBe(bound);
      await foreign.send(q, body);
      const refusing = {
        parse: (): Numbered => {
          throw new RangeError('é'.repeat(1_000));
        },
      };
      const queue = open<Numbered>(q, { schema: refusing });
      const waiting = queue[Symbol.asyncIterator]().next(); // receiving dead-letters it
      const corpse = await foreignNext(`${q}.dead`);
      foreign.ack(corpse);
      expect(envelope(corpse)).toMatchObject({ payload: 'x'.repeat(bound - 14), id: `${streamOf(q)}:1` });
      const reason = corpse.headers['Sluice-Dead-Reason']!;
      expect(reason).toMatch(/^invalid message: RangeError: é+…$/);
      expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(1024);
      await expectStored(q, 0);
      await expectStored(`${q}.dead`, 0);
      await queue.close();
      expect(await waiting).toEqual({ value: undefined, done: true });
    });

    it('a delayed message whose headers are not numbers is dead-lettered with the reason, not guessed at', async () => {
      const q = queueName('bad-due');
      await foreign.declare(q);
      const body = JSON.stringify({ id: 'late', payload: { n: 1 } });
      await foreign.publish(q, 'delayed', body, { headers: { 'Sluice-Due': 'tomorrow' } });
      await foreign.publish(q, 'delayed', body, {
        headers: { 'Sluice-Due': '0', 'Sluice-Priority': 'high' },
      });
      await foreign.publish(q, 'delayed', JSON.stringify({ payload: { n: 2 } }), {
        headers: { 'Sluice-Due': '0' },
      });
      const queue = open<Numbered>(q);
      const [due] = await receive(queue, 1); // no Sluice-Priority: band 0
      expect(due!.message).toEqual({ n: 2 });
      await due!.ack();
      const dead = await receive(open<Numbered>(`${q}.dead`), 2);
      expect(dead.map((d) => [d.id, d.deadLetterReason]).sort()).toEqual([
        ['late', 'undecodable body: its Sluice-Due header "tomorrow" is not a number'],
        ['late', 'undecodable body: its Sluice-Priority header "high" is not a number'],
      ]);
      await Promise.all(dead.map((d) => d.ack()));
      await expectNothing(queue, 300);
      await expectStored(q, 0);
      await expectStored(`${q}.dead`, 0);
    });
  });

  describe('sluice producing, a foreign consumer', () => {
    it('reads, naks and acks as the document says; priorities and delays are reachable', async () => {
      const q = queueName('foreign-consumer');
      const queue = open<{ type?: string; n: number }>(q);
      await queue.send({ n: 1 });
      await queue.send({ type: 'orders.place', n: 2 }, { priority: 5 });
      await queue.send({ n: 3 }, { priority: -1.5 });
      const dueAt = Date.now() + 2_000;
      await queue.send({ n: 4 }, { priority: 5, delay: 2_000 });
      expect(await foreign.bands(q)).toEqual(['p5', 'p0', 'p-1']);
      expect(await foreign.moveDelayed(q)).toBe(0); // not due: nak'd with the time left

      const first = (await foreign.next(q))!;
      expect(envelope(first)).toEqual({
        id: expect.any(String),
        type: 'orders.place',
        payload: { type: 'orders.place', n: 2 },
      });
      expect(first.attempt).toBe(1);
      foreign.ack(first);
      const second = (await foreign.next(q))!;
      expect(envelope(second).payload).toEqual({ n: 1 });
      foreign.nak(second, 1_000); // retry later: not before a second
      const third = (await foreign.next(q))!;
      expect(envelope(third).payload).toEqual({ n: 3 });
      foreign.ack(third);
      expect(await foreign.next(q)).toBeUndefined();
      const retried = await foreignNext(q);
      expect([envelope(retried).id, retried.attempt]).toEqual([envelope(second).id, 2]);
      foreign.ack(retried);

      let moved = 0;
      while (moved === 0 && Date.now() < dueAt + 5_000) {
        moved = await foreign.moveDelayed(q);
        if (moved === 0) await sleep(50);
      }
      expect(moved).toBe(1);
      expect(Date.now()).toBeGreaterThanOrEqual(dueAt);
      const delayed = (await foreign.next(q))!;
      expect([delayed.token, envelope(delayed).payload, delayed.attempt]).toEqual(['p5', { n: 4 }, 1]);
      foreign.ack(delayed);
      await expectStored(q, 0);
    });

    it("a key is held for the stream's duplicate window, acked or not, then free", async () => {
      const q = queueName('keys');
      await foreign.declare(q, ['p0', 'delayed'], 1_000_000_000); // a 1 s window, chosen by the declarer
      const queue = open<Numbered>(q);
      await queue.send({ n: 1 }, { key: 'order-1' });
      const first = (await foreign.next(q))!;
      expect(first.headers['Nats-Msg-Id']).toBe('order-1');
      foreign.ack(first);
      await expectStored(q, 0);
      await queue.send({ n: 2 }, { key: 'order-1' }); // within the window: resolves, stores nothing
      expect(
        (await foreign.send(q, JSON.stringify({ payload: { n: 3 } }), { key: 'order-1' })).duplicate,
      ).toBe(true);
      await expectStored(q, 0);
      // Keys a header would not carry unchanged, or too long to keep as they are, agree both ways too.
      for (const key of [' order-2 ', '%order-3', 'k'.repeat(300)]) {
        await queue.send({ n: 5 }, { key });
        expect((await foreign.send(q, JSON.stringify({ payload: { n: 6 } }), { key })).duplicate).toBe(true);
        foreign.ack((await foreign.next(q))!);
      }
      await sleep(2_000);
      await queue.send({ n: 4 }, { key: 'order-1' });
      const later = (await foreign.next(q))!;
      expect(envelope(later).payload).toEqual({ n: 4 });
      foreign.ack(later);
      await expectStored(q, 0);
    });

    it('dead letters: sluice reads the raw client’s, the raw client reads sluice’s, each with its reason', async () => {
      const q = queueName('dead-both-ways');
      const queue = open<Numbered>(q, { maxAttempts: 1 });
      await queue.send({ n: 1 });
      const [failing] = await receive(queue, 1);
      await failing!.nack({ error: new TypeError('bad total') });
      const bySluice = await foreignNext(`${q}.dead`);
      expect(envelope(bySluice)).toMatchObject({ id: failing!.id, payload: { n: 1 } });
      expect(bySluice.headers['Sluice-Dead-Reason']).toBe('failed 1 of 1 attempts: TypeError: bad total');
      foreign.ack(bySluice);

      await queue.send({ n: 2 });
      const consumed = await foreignNext(q);
      // A dead-lettering retried after a crash between its two steps stores one copy.
      expect((await foreign.deadLetter(consumed, q, 'rejected: out of stock', false)).duplicate).toBe(false);
      expect((await foreign.deadLetter(consumed, q, 'rejected: out of stock')).duplicate).toBe(true);
      await expectStored(q, 0);
      const [byForeign] = await receive(open<Numbered>(`${q}.dead`), 1);
      expect(byForeign!).toMatchObject({
        message: { n: 2 },
        id: envelope(consumed).id,
        deadLetterReason: 'rejected: out of stock',
      });
      await byForeign!.ack();
      await expectStored(`${q}.dead`, 0);
    });
  });

  describe('a foreign consumer that conflicts with sluice’s own', () => {
    it('a durable consumer of its own on sluice.<q>.p0: sends, next() and a Pump fail with NatsTopologyError', async () => {
      const q = queueName('squatter');
      await foreign.jsm.streams.add(streamConfig(q));
      await foreign.jsm.consumers.add(streamOf(q), {
        durable_name: 'worker',
        filter_subject: subjectOf(q, 'p0'),
        ack_policy: AckPolicy.Explicit,
      });
      const queue = open<Numbered>(q);
      const sent = queue.send({ n: 1 });
      await expect(sent).rejects.toBeInstanceOf(NatsTopologyError);
      await expect(sent).rejects.toThrow(
        /consumer p0 of stream .*: consumer worker \(filter sluice\..*\.p0\) already takes/,
      );
      const next = queue[Symbol.asyncIterator]().next();
      await expect(next).rejects.toBeInstanceOf(NatsTopologyError);
      await expect(next).rejects.toThrow('worker');
      const draining = new Pump(queue, () => {}).draining();
      await expect(draining.done).rejects.toBeInstanceOf(NatsTopologyError);
      await expect(draining.stop()).rejects.toBeInstanceOf(NatsTopologyError);
      await expectStored(q, 0); // nothing was accepted

      // Once the conflict is gone, the same handle sends and consumes: a later next() looks again.
      await foreign.jsm.consumers.delete(streamOf(q), 'worker');
      await queue.send({ n: 2 });
      await sleep(1_500); // the failed run ends once its last pull requests expired
      const [delivery] = await receive(queue, 1);
      expect(delivery!.message).toEqual({ n: 2 });
      await delivery!.ack();
      await expectStored(q, 0);
    });

    it('a consumer named as sluice’s but of another shape: NatsTopologyError naming what differs', async () => {
      const q = queueName('wrong-shape');
      await foreign.declare(q, ['delayed']);
      await foreign.jsm.consumers.add(streamOf(q), { ...consumerConfig(q, 'p0'), max_deliver: 3 });
      const queue = open<Numbered>(q);
      const next = queue[Symbol.asyncIterator]().next() as Promise<IteratorResult<NatsDelivery<Numbered>>>;
      await expect(next).rejects.toThrow(NatsTopologyError);
      await expect(next).rejects.toThrow('its max_deliver is 3, sluice needs -1');
      await expect(queue.send({ n: 1 })).rejects.toThrow('its max_deliver is 3');
      await expectStored(q, 0);
    });
  });
});
