/**
 * Chaos under load, against the real brokers: a producer handle and a consumer handle (drained by a
 * Pump) talk to the broker through TCP proxies (one each) whose connections are cut at random
 * moments for short outages: the producer's, the consumer's, or both. Whatever send resolved must
 * be handled at least once (duplicates are allowed, and counted), nothing that was never sent may be
 * handled, nothing may be dead-lettered, and close() must return. The schedule comes from a seeded PRNG: the seed is printed, `CHAOS_SEED=<n>` replays it
 * and `CHAOS_SEED=random` explores (the broker's timing still varies from run to run).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QueueClosedError, SluiceError } from '../../src/errors.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Queue, SendOptions } from '../../src/queuing/types.js';
import { AmqpQueue } from '../../src/transports/amqp/index.js';
import { keyQueueName } from '../../src/transports/amqp/topology.js';
import { NatsQueue } from '../../src/transports/nats/index.js';
import { PostgresQueue } from '../../src/transports/postgres/index.js';
import { RedisQueue } from '../../src/transports/redis/index.js';
import { sleep, within } from '../support/async.js';
import { brokerAvailable, type Service, services } from '../support/broker.js';
import { expectNothing } from '../support/deliveries.js';
import { Random } from '../support/random.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import * as amqp from './amqp-harness.js';
import * as nats from './nats-harness.js';
import * as postgres from './postgres-harness.js';
import * as redis from './redis-harness.js';

interface Numbered {
  n: number;
}

const MESSAGES = 2_000;
/** Few distinct delays: RabbitMQ keeps a queue per delay. */
const DELAYS = [100, 400, 900];
const SENDS_IN_FLIGHT = 8;
const CUTS = 6;
const OPTIONS: ChaosOptions = { maxAttempts: 100, visibilityTimeout: 1_000, closeTimeout: 1_000 };

/**
 * What message `n` is sent with: most plainly, some with a priority, a delay or a dedup key, so every
 * path of each adapter (streams and sorted sets, bands, delay queues, key markers) sees the cuts.
 */
function sendOptions(n: number, random: Random): SendOptions | undefined {
  const key = keyOf(n);
  if (key !== undefined) return { key };
  if (n % 10 === 1) return { priority: random.pick([-1, 1, 2]) };
  if (n % 10 === 2) return { delay: random.pick(DELAYS) };
  return undefined;
}

function keyOf(n: number): string | undefined {
  return n % 10 === 3 ? `key-${n}` : undefined;
}

/** What the chaos suite needs of an adapter: handles that reach the broker through a given port. */
interface ChaosTarget {
  name: string;
  service: Service;
  /** Takes the lock that keeps the adapter's other test files from restarting the broker meanwhile. */
  lock(): Promise<() => unknown>;
  /** A handle whose every connection goes to 127.0.0.1:`port` (the proxy) instead of the broker. */
  openVia<T>(port: number, name: string, options: ChaosOptions): Queue<T>;
  /** A handle straight on the broker. */
  open<T>(name: string, options?: ChaosOptions): Queue<T>;
  purge(name: string): Promise<void>;
}

interface ChaosOptions {
  maxAttempts: number;
  visibilityTimeout: number;
  closeTimeout: number;
}

const targets: ChaosTarget[] = [
  {
    name: 'redis',
    service: 'redis',
    lock: () => redis.lockRedis(),
    openVia: (port, name, options) => new RedisQueue(name, { url: `redis://127.0.0.1:${port}`, ...options }),
    open: (name, options) => redis.open(name, options),
    purge: redis.purge,
  },
  {
    name: 'postgres',
    service: 'postgres',
    lock: () => postgres.lockPostgres(),
    openVia: (port, name, options) =>
      new PostgresQueue(name, { url: postgres.url.replace(/:5432\//, `:${port}/`), ...options }),
    open: (name, options) => postgres.open(name, options),
    purge: (name) => postgres.purge(name),
  },
  {
    name: 'rabbitmq',
    service: 'rabbitmq',
    lock: () => amqp.leaseRabbit(),
    // RabbitMQ has no visibility timeout: it requeues a consumer's unacked messages when its channel drops.
    openVia: (port, name, { visibilityTimeout: _, ...options }) =>
      new AmqpQueue(name, { url: `amqp://guest:guest@127.0.0.1:${port}`, ...options }),
    open: (name, options) => amqp.open(name, options),
    // Key markers and delay queues are queues of their own: left behind, they would pile up.
    purge: async (name) => {
      await amqp.purge(name);
      const keys = Array.from({ length: MESSAGES }, (_, n) => keyOf(n)).filter((key) => key !== undefined);
      await amqp.deleteQueues(
        ...keys.map((key) => keyQueueName(name, key)),
        ...DELAYS.map((delay) => `${name}.delay.${delay}`),
      );
    },
  },
  {
    name: 'nats',
    service: 'nats',
    lock: () => nats.lockNatsServer(),
    openVia: (port, name, options) => new NatsQueue(name, { url: `nats://127.0.0.1:${port}`, ...options }),
    open: (name, options) => nats.open(name, options),
    purge: (name) => nats.purge(name),
  },
];

// A fixed schedule unless asked otherwise, so that a run that fails can be told from one that was unlucky.
const seed =
  process.env.CHAOS_SEED === 'random'
    ? Math.floor(Math.random() * 2 ** 31)
    : Number(process.env.CHAOS_SEED ?? 20_261_123);
console.log(`chaos seed: ${seed} (replay with CHAOS_SEED=${seed})`);

/** The load and what became of it: which sends resolved, why the others failed, what was handled. */
class Load {
  readonly resolved = new Set<number>();
  readonly rejections = new Map<string, number>();
  readonly handled = new Map<number, number>();
  sent = 0;
  /** Sends not settled yet: what a hanging send was sent with, and since when. */
  readonly #pending = new Map<number, { options: SendOptions | undefined; since: number }>();
  #pumpError: { reason: unknown } | undefined;
  /** The producer was closed: sending ends. */
  #closed = false;

  constructor(
    readonly producer: Queue<Numbered>,
    readonly random: Random,
  ) {}

  /** Drains `consumer` like an application would: concurrency 4, some handlers take a few ms. */
  drain(consumer: Queue<Numbered>) {
    const draining = new Pump(consumer, async ({ n }: Numbered) => {
      this.handled.set(n, (this.handled.get(n) ?? 0) + 1);
      if (n % 8 === 0) await sleep(1 + (n % 5));
    }).draining({ concurrency: 4 });
    draining.done.catch((reason) => {
      this.#pumpError = { reason };
    });
    return draining;
  }

  /**
   * Sends messages 0 … count - 1, several in flight. A rejected send is fine (it may or may not have
   * been stored) and is not retried, except a keyed one: retrying with the same key is what keys are
   * for, so it is retried until it resolves (the key keeps it from being stored twice).
   */
  send(count: number, inFlight: number): Promise<void> {
    const loop = async () => {
      while (this.sent < count && !this.#closed) {
        const n = this.sent++;
        const options = sendOptions(n, this.random);
        for (;;) {
          this.#pending.set(n, { options, since: performance.now() });
          try {
            await this.producer.send({ n }, options);
            this.resolved.add(n);
            break;
          } catch (error) {
            const why = error instanceof SluiceError ? error.code : `not a SluiceError: ${error}`;
            this.rejections.set(why, (this.rejections.get(why) ?? 0) + 1);
            if (error instanceof QueueClosedError) {
              this.#closed = true;
              return;
            }
            await sleep(20); // an outage: do not burn through the messages
            if (options?.key === undefined) break;
          } finally {
            this.#pending.delete(n);
          }
        }
        await sleep(this.random.int(20));
      }
    };
    return Promise.all(Array.from({ length: inFlight }, loop)).then(() => {});
  }

  /**
   * Resolves once a message was handled: both handles are connected, so the cuts drop established
   * connections (some adapters report a first connection that fails rather than retry it).
   */
  async started(timeoutMs: number): Promise<void> {
    await within(
      (async () => {
        while (this.handled.size === 0) await sleep(10);
      })(),
      timeoutMs,
      () => this.report('the first message to be handled'),
    );
  }

  missing(): number[] {
    return [...this.resolved].filter((n) => !this.handled.has(n));
  }

  /** Resolves once every resolved send was handled; rejects when the pump stopped on an error. */
  async allHandled(timeoutMs: number): Promise<void> {
    await within(
      (async () => {
        while (this.missing().length > 0 && this.#pumpError === undefined) await sleep(50);
        if (this.#pumpError !== undefined) throw this.#pumpError.reason;
      })(),
      timeoutMs,
      () => `${this.missing().length} resolved sends never handled, e.g. ${this.missing().slice(0, 10)}`,
    );
  }

  report(what: string): string {
    const duplicates = [...this.handled.values()].reduce((sum, count) => sum + count - 1, 0);
    const rejections = [...this.rejections].map(([why, count]) => `${count} × ${why}`).join(', ');
    const now = performance.now();
    const pending = [...this.#pending].map(
      ([n, { options, since }]) => `${n} ${JSON.stringify(options ?? {})} for ${Math.round(now - since)} ms`,
    );
    return (
      `${what}: ${this.resolved.size} of ${this.sent} sends resolved, rejections: ${rejections || 'none'}; ` +
      `${this.handled.size} handled, ${duplicates} duplicate deliveries` +
      (pending.length > 0 ? `; sends under way: ${pending.join(', ')}` : '')
    );
  }

  expectNoLoss(): void {
    expect(this.missing()).toEqual([]);
    expect([...this.handled.keys()].filter((n) => !(Number.isInteger(n) && n < this.sent))).toEqual([]);
    expect([...this.rejections.keys()].filter((why) => why.startsWith('not a SluiceError'))).toEqual([]);
  }
}

for (const [index, target] of targets.entries()) {
  const up = await brokerAvailable(target.service);

  describe.runIf(up)(`chaos: ${target.name}`, () => {
    let release: () => unknown = () => {};
    beforeAll(async () => {
      release = await target.lock();
    }, 300_000);
    afterAll(() => release());

    const names: string[] = [];
    const opened: Queue<unknown>[] = [];
    const proxies: TcpProxy[] = [];

    afterEach(async () => {
      await Promise.allSettled(opened.splice(0).map((queue) => within(queue.close(), 15_000)));
      await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
      await Promise.all(names.splice(0).map((name) => target.purge(name)));
    }, 60_000);

    function queueName(label: string): string {
      const name = `sluice-chaos-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
      names.push(name);
      return name;
    }

    /** A handle on `name` whose connections all go through a proxy of its own. */
    async function openBehindProxy<T>(name: string): Promise<{ queue: Queue<T>; proxy: TcpProxy }> {
      const proxy = await startTcpProxy(services[target.service].port);
      proxies.push(proxy);
      const queue = target.openVia<T>(proxy.port, name, OPTIONS);
      opened.push(queue as Queue<unknown>);
      return { queue, proxy };
    }

    async function expectNoDeadLetters(name: string): Promise<void> {
      const dead = target.open<unknown>(`${name}.dead`);
      opened.push(dead);
      await expectNothing(dead, 500);
    }

    it('loses no resolved send and hangs nowhere while connections are cut under load', async () => {
      const random = new Random(seed + 2 * index);
      const name = queueName(target.name);
      const producer = await openBehindProxy<Numbered>(name);
      const consumer = await openBehindProxy<Numbered>(name);
      const load = new Load(producer.queue, random);
      const draining = load.drain(consumer.queue);

      const cuts: string[] = [];
      const chaos = async () => {
        await load.started(10_000);
        for (let cut = 0; cut < CUTS; cut++) {
          await sleep(random.int(800));
          const outage = 50 + random.int(450);
          const which = random.int(3); // the producer's connections, the consumer's, or both
          const cutOff = [producer.proxy, consumer.proxy].filter((_, side) => which === 2 || which === side);
          cuts.push(
            `${['producer', 'consumer', 'both'][which]} ${outage} ms after ${load.sent} sends, ${load.handled.size} handled`,
          );
          for (const proxy of cutOff) proxy.cut(outage);
          await sleep(outage);
        }
      };
      await within(Promise.all([load.send(MESSAGES, SENDS_IN_FLIGHT), chaos()]), 40_000, () =>
        load.report('sending'),
      );
      await load.allHandled(20_000);
      await within(draining.stop(), 15_000, () => 'the pump to stop');
      await within(
        Promise.all([producer.queue.close(), consumer.queue.close()]),
        15_000,
        () => 'close() of both handles',
      );

      console.log(`${load.report(`chaos ${target.name} (seed ${seed})`)}; cuts: ${cuts.join('; ')}`);
      load.expectNoLoss();
      await expectNoDeadLetters(name);
    }, 60_000);

    it('closes while the broker is out of reach, and what it held comes back to the next consumer', async () => {
      const random = new Random(seed + 2 * index + 1);
      const name = queueName(`${target.name}-close`);
      const producer = await openBehindProxy<Numbered>(name);
      const consumer = await openBehindProxy<Numbered>(name);
      const load = new Load(producer.queue, random);
      const draining = load.drain(consumer.queue);

      const sending = load.send(MESSAGES, SENDS_IN_FLIGHT);
      await load.started(10_000);
      await sleep(random.int(700));
      // Longer than every close step's bound.
      producer.proxy.cut(5_000);
      consumer.proxy.cut(5_000);
      const sentBeforeCut = load.sent;
      await within(draining.stop(), 15_000, () => 'the pump to stop while the broker was away');
      await within(
        Promise.all([producer.queue.close(), consumer.queue.close()]),
        15_000,
        () => 'close() while the broker was away',
      );
      await within(sending, 5_000, () => load.report('the sends to end once the producer closed'));

      const recovery = target.open<Numbered>(name, OPTIONS);
      opened.push(recovery);
      const drainingAgain = load.drain(recovery);
      await load.allHandled(20_000);
      await within(drainingAgain.stop(), 15_000, () => 'the recovery pump to stop');

      console.log(
        `${load.report(`close in an outage, ${target.name} (seed ${seed})`)}; cut after ${sentBeforeCut} sends`,
      );
      load.expectNoLoss();
      await expectNoDeadLetters(name);
    }, 60_000);
  });
}
