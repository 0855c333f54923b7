/**
 * PostgresQueue consumers through a real outage: a TCP proxy between the consumer and the server
 * drops every connection and refuses new ones for a while. Nothing during the outage may end a
 * consumer, whatever the pump's `failSilently`: it waits and carries on once the server answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pump } from '../../src/queuing/pump/pump.js';
import {
  PostgresQueryError,
  PostgresQueue,
  type PostgresQueueOptions,
} from '../../src/transports/postgres/index.js';
import { sleep, stateOf } from '../support/async.js';
import { brokerAvailable } from '../support/broker.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { postgresQueues } from './postgres-fixture.js';
import { url } from './postgres-harness.js';

const up = await brokerAvailable('postgres');

interface Numbered {
  n: number;
}

describe.runIf(up)('PostgresQueue through an outage', () => {
  const { queueName, open } = postgresQueues('sluice-pg-outage');
  let proxy: TcpProxy;

  /** A consumer whose every connection goes through the proxy; the lease is short so lost settles come back soon. */
  function consumerVia(name: string, options: PostgresQueueOptions<Numbered> = {}): PostgresQueue<Numbered> {
    return open<Numbered>(name, {
      url: url.replace(':5432/', `:${proxy.port}/`),
      visibilityTimeout: 1_000,
      backoff: { type: 'fixed', delay: 10 },
      closeTimeout: 1_000,
      ...options,
    });
  }

  /** A producer straight on the server, which the outage does not touch. */
  async function producer(name: string): Promise<PostgresQueue<Numbered>> {
    const queue = open<Numbered>(name);
    await queue.migrate();
    return queue;
  }

  beforeAll(async () => {
    proxy = await startTcpProxy(5432);
  });

  afterAll(async () => {
    await proxy.close();
  });

  it.each([true, false])(
    'a nack failing as the connection drops is waited out like a failed ack, never what stops a pump (failSilently: %s)',
    async (failSilently) => {
      const name = queueName('nack');
      const sender = await producer(name);
      await sender.send({ n: 1 });
      const handled: string[] = [];
      const draining = new Pump(
        consumerVia(name),
        ({ n }: Numbered, { attempt }) => {
          if (n === 1 && attempt === 1) {
            proxy.cut(500); // the nack that follows meets the outage
            throw new Error('failed as the connection dropped');
          }
          handled.push(`${n}@${attempt}`);
        },
        { failSilently },
      ).draining();
      if (failSilently) {
        // The row comes back when the lease of its first attempt ends, and the next message flows too.
        await waitFor(() => handled.includes('1@2'), 'message 1 to come back after its lease', draining);
        await sender.send({ n: 2 });
        await waitFor(() => handled.includes('2@1'), 'message 2 to be handled', draining);
        expect(await stateOf(draining.done)).toBe('pending');
        await draining.stop();
      } else {
        // Without failSilently the handler's error stops the pump, not the nack's.
        await expect(draining.done).rejects.toThrow('failed as the connection dropped');
      }
    },
  );

  it('a consumer created while the server cannot be reached waits, and handles what was sent meanwhile once it is back', async () => {
    const name = queueName('late');
    const sender = await producer(name);
    proxy.cut(1_000);
    const consumer = consumerVia(name);
    const handled: number[] = [];
    const draining = new Pump(consumer, ({ n }: Numbered) => {
      handled.push(n);
    }).draining();
    await sender.send({ n: 1 });
    await waitFor(() => handled.includes(1), 'message 1 to be handled after the outage', draining);
    await sender.send({ n: 2 });
    await waitFor(() => handled.includes(2), 'message 2 to be handled', draining);
    expect(await stateOf(draining.done)).toBe('pending');
    await draining.stop();
  });

  it('a consumer idle through an outage listens again and is woken by what is sent after it', async () => {
    const name = queueName('idle');
    const sender = await producer(name);
    const handled: number[] = [];
    const draining = new Pump(consumerVia(name), ({ n }: Numbered) => {
      handled.push(n);
    }).draining();
    await sender.send({ n: 1 });
    await waitFor(() => handled.includes(1), 'message 1 to be handled', draining);
    proxy.cut(500);
    await sleep(800);
    await sender.send({ n: 2 });
    await waitFor(() => handled.includes(2), 'message 2 to be handled after the outage', draining);
    expect(await stateOf(draining.done)).toBe('pending');
    await draining.stop();
  });
});

/** Waits for `condition`, failing at once with the pump's error should the pump stop. */
async function waitFor(
  condition: () => boolean,
  what: string,
  draining: { done: Promise<void> },
): Promise<void> {
  let stopped: unknown;
  draining.done.then(
    () => {
      stopped = new Error('the pump stopped');
    },
    (error) => {
      stopped = error;
    },
  );
  const deadline = Date.now() + 15_000;
  while (!condition()) {
    if (stopped !== undefined)
      throw new Error(`the pump stopped while waiting for ${what}`, { cause: stopped });
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe.runIf(up)('PostgresQueue with a role the server refuses', () => {
  it('fails send, next() and a pump at once with PostgresQueryError instead of waiting', async () => {
    const refused = new URL(url);
    refused.username = 'sluice-no-such-role';
    const queue = new PostgresQueue<Numbered>('sluice-pg-refused', {
      url: refused.href,
      closeTimeout: 500,
    });
    try {
      await expect(queue.send({ n: 1 })).rejects.toBeInstanceOf(PostgresQueryError);
      await expect(queue[Symbol.asyncIterator]().next()).rejects.toThrow('sluice-no-such-role');
      const draining = new Pump(queue, () => {}, { failSilently: true }).draining();
      await expect(draining.done).rejects.toBeInstanceOf(PostgresQueryError);
    } finally {
      await queue.close();
    }
  });
});
