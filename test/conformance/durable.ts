/**
 * What every durable (broker-backed) queue must prove, run unchanged against each adapter:
 *
 *   const up = await brokerAvailable(harness.service);
 *   describe.runIf(up)('redis', () => durableQueueSuite(redisHarness));
 *
 * The suite talks to the adapter only through the harness. Conventions every adapter keeps:
 * - `open(name, options)` returns a new handle with its own connection; `${name}.dead` is the default
 *   dead-letter queue and is opened the same way.
 * - A body that is not a valid envelope (see `sendRaw`) is dead-lettered so that the dead-letter queue
 *   yields it as a string message holding the body exactly as it was stored.
 * - A message that fails the consumer's schema is dead-lettered as it was sent.
 * - A delivery that a crashed consumer held comes back after `visibilityTimeout` with `attempt + 1`.
 *
 * Each test uses its own queue name; everything opened is closed and purged after it.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { QueueClosedError } from '../../src/errors.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Backoff, Delivery, Queue } from '../../src/queuing/types.js';
import { defineCommand } from '../../src/routing/define.js';
import { deferred, sleep, within } from '../support/async.js';
import type { Service } from '../support/broker.js';
import { expectNothing, receive, sendRetrying } from '../support/deliveries.js';
import { resilienceCases } from './resilience.js';

export interface DurableHarness {
  /** 'redis' — used in test names. */
  name: string;
  /** For brokerAvailable() from test/support/broker.ts; absent for embedded stores (SQLite). */
  service?: Service;
  /** Opens a new handle (own connection) on the named queue. */
  open<T>(name: string, options?: DurableQueueOptions): Queue<T>;
  /** Deletes every trace of the queue and of `${name}.dead`, so each test starts clean. */
  purge(name: string): Promise<void>;
  /** Stores a body that is not a valid envelope on the queue, as a foreign producer might. */
  sendRaw(name: string, body: string): Promise<void>;
  /**
   * Stops the real server and starts it again, running `whileDown` (if given) in between; resolves
   * once it accepts connections. Optional.
   */
  restart?(whileDown?: () => Promise<void>): Promise<void>;
  /** Absolute path of a module exporting `open(name, options)` like above, for child processes. */
  childModule: string;
}

export interface DurableQueueOptions {
  maxAttempts?: number;
  backoff?: Backoff;
  deadLetter?: string;
  visibilityTimeout?: number;
  schema?: unknown;
  closeTimeout?: number;
}

/** The program spawned as a consumer that gets killed; it prints one JSON line per delivery. */
const childProgram = fileURLToPath(new URL('./child-consumer.ts', import.meta.url));
const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));

interface Numbered {
  n: number;
}

export function durableQueueSuite(harness: DurableHarness): void {
  describe(`durable queue conformance: ${harness.name}`, () => {
    const opened: Queue<unknown>[] = [];
    const names: string[] = [];

    /** A fresh queue name for this test; purged afterwards. Letters, digits and dashes only. */
    function queueName(label: string): string {
      const name = `sluice-${label}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
      names.push(name);
      return name;
    }

    /** Handles default to a short closeTimeout so a test that leaves deliveries unsettled ends fast. */
    function open<T>(name: string, options: DurableQueueOptions = {}): Queue<T> {
      const queue = harness.open<T>(name, { closeTimeout: 1_000, ...options });
      opened.push(queue as Queue<unknown>);
      return queue;
    }

    afterEach(async () => {
      await Promise.allSettled(opened.splice(0).map((queue) => queue.close()));
      await Promise.all(names.splice(0).map((name) => harness.purge(name)));
    }, 60_000);

    resilienceCases(harness, { queueName, open });

    it('delivers each message at least once and forgets it once acked', async () => {
      const name = queueName('ack');
      const producer = open<Numbered>(name);
      await producer.send({ n: 1 });
      await producer.send({ n: 2 });

      const first = open<Numbered>(name, { visibilityTimeout: 1_000, closeTimeout: 200 });
      const deliveries = byNumber(await receive(first, 2));
      expect(deliveries.map((d) => [d.message, d.attempt])).toEqual([
        [{ n: 1 }, 1],
        [{ n: 2 }, 1],
      ]);
      await deliveries[0]!.ack();
      await first.close(); // the second delivery is neither acked nor nacked: it must come back

      const second = open<Numbered>(name, { visibilityTimeout: 1_000 });
      const [again] = await receive(second, 1, 15_000);
      expect([again!.message, again!.attempt]).toEqual([{ n: 2 }, 2]);
      await again!.ack();
      await expectNothing(second, 1_500); // past the visibility timeout: acked messages stay gone
    });

    it('redelivers a nacked message after the backoff, with attempt + 1', async () => {
      const name = queueName('nack');
      const queue = open<Numbered>(name, { maxAttempts: 4, backoff: { type: 'fixed', delay: 300 } });
      await queue.send({ n: 1 });

      const [d1] = await receive(queue, 1);
      expect(d1!.attempt).toBe(1);
      let nackedAt = Date.now();
      await d1!.nack({ error: new Error('boom') });
      const [d2] = await receive(queue, 1);
      expect([d2!.message, d2!.attempt]).toEqual([{ n: 1 }, 2]);
      expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(250);

      await d2!.nack({ requeue: true }); // back now, whatever the backoff says
      const [d3] = await receive(queue, 1);
      expect([d3!.message, d3!.attempt]).toEqual([{ n: 1 }, 3]);

      nackedAt = Date.now();
      await d3!.nack({ delay: 600 }); // an explicit delay replaces the backoff
      const [d4] = await receive(queue, 1);
      expect([d4!.message, d4!.attempt]).toEqual([{ n: 1 }, 4]);
      expect(Date.now() - nackedAt).toBeGreaterThanOrEqual(500);
      await d4!.ack();
      await expect(d4!.ack()).rejects.toMatchObject({ code: 'DELIVERY_SETTLED' });
    });

    it('dead-letters a message after maxAttempts failed deliveries, and at once on requeue: false', async () => {
      const name = queueName('dead');
      const queue = open<Numbered>(name, { maxAttempts: 2, backoff: { type: 'fixed', delay: 50 } });
      await queue.send({ n: 1 });
      const [d1] = await receive(queue, 1);
      await d1!.nack({ error: new Error('broken') });
      const [d2] = await receive(queue, 1);
      expect(d2!.attempt).toBe(2);
      await d2!.nack({ error: new Error('still broken') });

      await queue.send({ n: 2 });
      const [d3] = await receive(queue, 1);
      expect([d3!.message, d3!.attempt]).toEqual([{ n: 2 }, 1]);
      await d3!.nack({ requeue: false, error: new Error('hopeless') });

      const dead = open<Numbered>(`${name}.dead`);
      const corpses = byNumber(await receive(dead, 2));
      expect(corpses.map((d) => d.message)).toEqual([{ n: 1 }, { n: 2 }]);
      await Promise.all(corpses.map((d) => d.ack()));
      await expectNothing(queue, 500);
    });

    it('dead-letters an undecodable body and never hands it out', async () => {
      const name = queueName('raw');
      const garbage = 'this is not an envelope {';
      await harness.sendRaw(name, garbage);
      const queue = open<Numbered>(name);
      await queue.send({ n: 1 });

      const [delivery] = await receive(queue, 1);
      expect(delivery!.message).toEqual({ n: 1 });
      await delivery!.ack();
      await expectNothing(queue, 300);

      const dead = open<unknown>(`${name}.dead`);
      const [corpse] = await receive(dead, 1);
      expect(corpse!.message).toBe(garbage);
      await corpse!.ack();
    });

    it('dead-letters a message that fails the schema and never hands it out', async () => {
      const name = queueName('schema');
      const PlaceOrder = defineCommand('orders.place', z.object({ quantity: z.number().int().positive() }));
      const producer = open<unknown>(name);
      const invalid = { type: 'orders.place', payload: { quantity: -1 } };
      const otherType = { type: 'orders.cancel', payload: { quantity: 1 } };
      await producer.send(invalid);
      await producer.send(otherType);
      await producer.send(PlaceOrder({ quantity: 2 }));

      const consumer = open<unknown>(name, { schema: PlaceOrder });
      const [delivery] = await receive(consumer, 1);
      expect(delivery!.message).toEqual({ type: 'orders.place', payload: { quantity: 2 } });
      await delivery!.ack();
      await expectNothing(consumer, 300);

      const dead = open<{ type: string }>(`${name}.dead`);
      const corpses = await receive(dead, 2);
      const messages = corpses.map((d) => d.message).sort((a, b) => a.type.localeCompare(b.type));
      expect(messages).toEqual([otherType, invalid]);
      await Promise.all(corpses.map((d) => d.ack()));
    });

    it('redelivers the message of a consumer process killed mid-message to another consumer', async () => {
      const name = queueName('kill');
      const options = { visibilityTimeout: 1_500 };
      const producer = open<Numbered>(name);
      await producer.send({ n: 1 });

      const child = spawnConsumer(harness.childModule, name, options);
      try {
        const received = JSON.parse(await child.nextLine(30_000));
        expect(received).toEqual({ message: { n: 1 }, attempt: 1 });
      } finally {
        await child.kill();
      }

      const survivor = open<Numbered>(name, options);
      const [delivery] = await receive(survivor, 1, 20_000);
      expect([delivery!.message, delivery!.attempt]).toEqual([{ n: 1 }, 2]);
      await delivery!.ack();
    }, 60_000);

    it.runIf(harness.restart !== undefined)(
      'loses no message when the broker restarts under load',
      async () => {
        const name = queueName('restart');
        const total = 1_000;
        const producer = open<Numbered>(name);
        const consumer = open<Numbered>(name, { visibilityTimeout: 5_000 });
        const seen = new Set<number>();
        const allSeen = deferred();
        const draining = new Pump(
          consumer,
          async (message: Numbered) => {
            await sleep(2); // slower than the producer: a backlog is stored when the broker goes down
            seen.add(message.n);
            if (seen.size === total) allSeen.resolve();
          },
          { failSilently: true },
        ).draining({ concurrency: 2 });
        draining.done.catch(allSeen.reject);

        let restarted: Promise<void> | undefined;
        for (let n = 0; n < total; n++) {
          if (n === total / 2) restarted = harness.restart!();
          await sendRetrying(producer, { n }, 60_000);
          if (n % 10 === 0) await sleep(2); // keep sending while the broker goes down and comes back
        }
        await restarted;
        await within(allSeen.promise, 60_000, () => `delivered ${seen.size} of ${total}`);
        await draining.stop();
        expect(seen.size).toBe(total);
      },
      120_000,
    );

    it('delivers higher priority first among ready messages', async () => {
      const name = queueName('priority');
      const producer = open<{ label: string }>(name);
      await producer.send({ label: 'default' });
      await producer.send({ label: 'low' }, { priority: -1 });
      await producer.send({ label: 'high' }, { priority: 10 });
      await producer.send({ label: 'mid' }, { priority: 5 });

      const consumer = open<{ label: string }>(name);
      const deliveries = await receive(consumer, 4);
      expect(deliveries.map((d) => d.message.label)).toEqual(['high', 'mid', 'default', 'low']);
      await Promise.all(deliveries.map((d) => d.ack()));
    });

    it('delivers a shorter delay sent later before a longer one, and waiting is not an attempt', async () => {
      const name = queueName('delay');
      const consumer = open<{ label: string }>(name);
      const producer = open<{ label: string }>(name);
      const sentAt = Date.now();
      await producer.send({ label: 'later' }, { delay: 1_000 });
      await producer.send({ label: 'sooner' }, { delay: 300 });
      await producer.send({ label: 'now' });

      const deliveries = await receive(consumer, 3);
      expect(deliveries.map((d) => [d.message.label, d.attempt])).toEqual([
        ['now', 1],
        ['sooner', 1],
        ['later', 1],
      ]);
      expect(Date.now() - sentAt).toBeGreaterThanOrEqual(900);
      await Promise.all(deliveries.map((d) => d.ack()));
    });

    it('close: send rejects, a pending next() ends, handed-out deliveries can still be acked', async () => {
      const name = queueName('close');
      const queue = open<Numbered>(name, { closeTimeout: 10_000 });
      await queue.send({ n: 1 });
      const iterator = queue[Symbol.asyncIterator]();
      const first = await iterator.next();
      expect(first.done).toBe(false);
      const pending = iterator.next();

      const closing = queue.close();
      expect((await within(pending, 5_000, () => 'pending next() after close')).done).toBe(true);
      await expect(queue.send({ n: 2 })).rejects.toBeInstanceOf(QueueClosedError);
      await (first.value as Delivery<Numbered>).ack();
      await within(closing, 5_000, () => 'close() after every delivery settled');

      const reopened = open<Numbered>(name, { visibilityTimeout: 1_000 });
      await expectNothing(reopened, 1_500);
    });

    it('close releases prefetched messages that were not handed out', async () => {
      const name = queueName('release');
      const producer = open<Numbered>(name);
      for (let n = 1; n <= 6; n++) await producer.send({ n });
      const first = open<Numbered>(name, { closeTimeout: 200 });
      const [taken] = await receive(first, 1);
      await taken!.ack();
      await first.close();

      const second = open<Numbered>(name);
      const rest = byNumber(await receive(second, 5, 15_000));
      expect(rest.map((d) => d.message.n)).toEqual([1, 2, 3, 4, 5, 6].filter((n) => n !== taken!.message.n));
      await Promise.all(rest.map((d) => d.ack()));
    });

    it('close releases a handed-out delivery still unsettled at closeTimeout, and refuses to settle it later', async () => {
      const name = queueName('abandon');
      const producer = open<Numbered>(name);
      for (let n = 1; n <= 4; n++) await producer.send({ n });
      // Leases far longer than the test: only the release by close() can bring the delivery back.
      const lease = { visibilityTimeout: 30_000 };
      const first = open<Numbered>(name, { ...lease, closeTimeout: 300 });
      const [abandoned, acked] = await receive(first, 2);
      await acked!.ack();
      await first.close();
      await expect(abandoned!.ack()).rejects.toMatchObject({ code: 'DELIVERY_SETTLED' });

      const second = open<Numbered>(name, lease);
      const rest = byNumber(await receive(second, 3, 15_000));
      expect(rest.map((d) => d.message.n)).toEqual([1, 2, 3, 4].filter((n) => n !== acked!.message.n));
      const again = rest.find((d) => d.message.n === abandoned!.message.n);
      expect(again!.attempt).toBe(abandoned!.attempt + 1); // it was handed out: the attempt counts
      await Promise.all(rest.map((d) => d.ack()));
    });

    it('spreads 10,000 messages over 4 consumers with no loss and no duplicate', async () => {
      const name = queueName('fanout');
      const total = 10_000;
      const counts = new Uint8Array(total);
      let received = 0;
      const allReceived = deferred();
      const consumers = Array.from({ length: 4 }, () => open<Numbered>(name));
      const drainings = consumers.map((consumer) =>
        new Pump(consumer, (message: Numbered) => {
          counts[message.n]!++;
          if (++received === total) allReceived.resolve();
        }).draining({ concurrency: 4 }),
      );
      for (const draining of drainings) draining.done.catch(allReceived.reject);

      const producer = open<Numbered>(name);
      for (let start = 0; start < total; start += 1_000) {
        await Promise.all(Array.from({ length: 1_000 }, (_, i) => producer.send({ n: start + i })));
      }
      await within(allReceived.promise, 60_000, () => `received ${received} of ${total}`);
      await Promise.all(drainings.map((draining) => draining.stop()));
      expect(received).toBe(total);
      expect(counts.every((count) => count === 1)).toBe(true);
    }, 90_000);
  });
}

function byNumber<T extends Numbered>(deliveries: Delivery<T>[]): Delivery<T>[] {
  return [...deliveries].sort((a, b) => a.message.n - b.message.n);
}

interface ChildConsumer {
  nextLine(timeoutMs: number): Promise<string>;
  kill(): Promise<void>;
}

/** A real consumer process on `name` that never acks: see child-consumer.ts. */
function spawnConsumer(module: string, name: string, options: DurableQueueOptions): ChildConsumer {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', childProgram, module, name, JSON.stringify(options)],
    { cwd: repositoryRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    async nextLine(timeoutMs) {
      const ended = exited.then(() => {
        throw new Error(`consumer process exited early: ${stderr}`);
      });
      const line = await within(Promise.race([lines.next(), ended]), timeoutMs, () => {
        return `a line from the consumer process (stderr: ${stderr})`;
      });
      if (line.done) throw new Error(`consumer process closed its output: ${stderr}`);
      return line.value;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
