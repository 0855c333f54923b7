/**
 * NatsQueue against hostile input: names, keys, delays, priorities and bodies that once broke a
 * queue, a consumer or the shared connection, refused at the door or handled once.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, MessageTooLargeError } from '../../src/errors.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import { NatsAccessError, NatsQueue, NatsTopologyError } from '../../src/transports/nats/index.js';
import {
  bandPriority,
  bandToken,
  DUE_HEADER,
  MSG_ID_HEADER,
  streamName,
  subjectPrefix,
} from '../../src/transports/nats/names.js';
import { serverOptions } from '../../src/transports/nats/servers.js';
import { MAX_REASON_LENGTH } from '../../src/transports/shared/reasons.js';
import { sleep, within } from '../support/async.js';
import { brokerAvailable } from '../support/broker.js';
import { expectNothing, receive } from '../support/deliveries.js';
import { natsQueues } from './nats-fixture.js';
import { NATS_URL, natsHarness, open, withConnection } from './nats-harness.js';

const up = await brokerAvailable('nats');

describe('NatsQueue names and keys', () => {
  it('refuses a name or dead-letter name whose stream name JetStream would refuse, naming it', () => {
    const fits = 'é'.repeat(40); // each é is 6 characters in the stream name: 7 + 240, its .dead 254
    const accepted = new NatsQueue(fits, { url: 'nats://127.0.0.1:1' });
    const long = () => new NatsQueue('é'.repeat(42));
    expect(long).toThrow(InvalidOptionError);
    expect(long).toThrow('invalid name');
    expect(long).toThrow('at most 255 bytes');
    const longDead = () => new NatsQueue('é'.repeat(41)); // fits, but its default orders.dead does not
    expect(longDead).toThrow('invalid deadLetter');
    expect(() => new NatsQueue('short', { deadLetter: '*'.repeat(100) })).toThrow('invalid deadLetter');
    return accepted.close();
  });

  it('refuses lone surrogates in names and keys: q\\uD800 is not q\\uFFFD', async () => {
    expect(() => new NatsQueue('q\uD800')).toThrow(InvalidOptionError);
    expect(() => new NatsQueue('q', { deadLetter: 'q\uDC00.dead' })).toThrow(InvalidOptionError);
    const queue = new NatsQueue('q', { url: 'nats://127.0.0.1:1' });
    await expect(queue.send({}, { key: 'k\uD800' })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(queue.send({}, { key: 'k\r\nNats-Msg-Id: x' })).rejects.toBeInstanceOf(InvalidOptionError);
    await queue.close();
  });

  it(`refuses a delay JetStream cannot hold, maps any priority onto at most 25 bands, highest first`, async () => {
    const queue = new NatsQueue('q', { url: 'nats://127.0.0.1:1' });
    const refused = queue.send({}, { delay: 1e13 });
    await expect(refused).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(refused).rejects.toThrow('invalid delay');
    await queue.close();
    const priorities = [-1e300, -5_000, -1_000, -999, -100, -99, -10, -9.5, -9, -1, 0, 0.4, 0.5, 1.5, 9, 9.5];
    priorities.push(10, 99, 100, 999, 1_000, 1e300, ...Array.from({ length: 2_000 }, (_, i) => i / 7 - 150));
    const bands = priorities.map(bandToken);
    expect(new Set(bands).size).toBeLessThanOrEqual(25);
    const rank = (token: string) => Number(token.slice(1));
    const sorted = [...priorities].sort((a, b) => a - b).map((p) => rank(bandToken(p)));
    expect(sorted).toEqual([...sorted].sort((a, b) => a - b)); // a higher priority is never in a lower band
    expect(['p0', 'p5', 'p-2'].map((token) => bandToken(Number(token.slice(1))))).toEqual([
      'p0',
      'p5',
      'p-2',
    ]);
    // Discovery reads only these 25: a consumer named otherwise (`p42`, an old `p1_5`) is no band.
    expect(['p0', 'p-9', 'p10', 'p-100', 'p1000'].map(bandPriority)).toEqual([0, -9, 10, -100, 1000]);
    expect(['p42', 'p1_5', 'p1e21', 'p', 'p0x10', 'delayed'].map(bandPriority)).toEqual(
      Array(6).fill(undefined),
    );
  });
});

describe.runIf(up)('NatsQueue against hostile input', () => {
  const { queueName, track, closeTracked } = natsQueues();

  const storedCount = (name: string) =>
    withConnection(async (c) => (await c.jsm.streams.info(streamName(name))).state.messages);

  it('refuses a name too long before sending anything: another queue on the connection carries on', async () => {
    const connection = await connect({ servers: NATS_URL });
    const drops: string[] = [];
    void (async () => {
      for await (const status of connection.status())
        if (status.type === 'disconnect') drops.push(status.type);
    })();
    try {
      const name = queueName('neighbour');
      const neighbour = track(new NatsQueue<{ n: number }>(name, { connection }));
      await neighbour.send({ n: 1 });
      expect(() => new NatsQueue('x'.repeat(10_000), { connection })).toThrow(InvalidOptionError);
      expect(() => new NatsQueue('*'.repeat(90), { connection })).toThrow(InvalidOptionError);
      await neighbour.send({ n: 2 });
      const deliveries = await receive(neighbour, 2);
      expect(deliveries.map((d) => d.message.n)).toEqual([1, 2]);
      await Promise.all(deliveries.map((d) => d.ack()));
      expect(drops).toEqual([]);
    } finally {
      await closeTracked();
      await connection.close();
    }
  });

  it('keeps distinct keys distinct: whitespace at the ends, a leading %, long keys', async () => {
    const name = queueName('keys');
    const queue = track(open<{ key: string }>(name));
    const long = 'k'.repeat(1_000);
    const keys = ['k', ' k ', 'k ', ' k', '\u00a0k', '%k', '%25k', long, `${long}x`, 'order-1'];
    for (const key of keys) await queue.send({ key }, { key });
    for (const key of keys) await queue.send({ key: `again ${key}` }, { key }); // deduplicated
    await queue.send({ key: 'delayed' }, { key: ` ${long}`, delay: 10 });
    await queue.send({ key: 'delayed again' }, { key: ` ${long}`, delay: 10 });
    const deliveries = await receive(queue, keys.length + 1);
    expect(deliveries.map((d) => d.message.key).sort()).toEqual([...keys, 'delayed'].sort());
    await Promise.all(deliveries.map((d) => d.ack()));
    await expectNothing(queue, 300);
    // A key a header carries unchanged keeps its wire form: its Nats-Msg-Id is the key itself.
    await queue.send({ key: 'plain' }, { key: 'order-2' });
    const stored = await withConnection(async (c) => {
      const seq = (await c.jsm.streams.info(streamName(name))).state.last_seq;
      return (await c.jsm.streams.getMessage(streamName(name), { seq }))?.header.get(MSG_ID_HEADER);
    });
    expect(stored).toBe('order-2');
  });

  it("refuses at send a message just over the server's max_payload, before sending, even with a long key", async () => {
    const name = queueName('max-payload');
    const queue = track(open<string>(name, { maxMessageSize: 64 * 1024 * 1024 }));
    await queue.send('warm-up: connected, so the limit is known');
    await (await receive(queue, 1))[0]!.ack();
    const maxPayload = await withConnection(async (c) => c.nc.info!.max_payload);
    for (const options of [{}, { key: 'k'.repeat(1_024) }, { key: 'k', delay: 10, priority: 3 }]) {
      const sent = queue.send('x'.repeat(maxPayload + 1), options);
      await expect(sent).rejects.toBeInstanceOf(MessageTooLargeError);
    }
    expect(await storedCount(name)).toBe(0);
  });

  it('dead-letters a 100,000-deep body once, and later messages flow', async () => {
    const name = queueName('deep');
    const depth = 100_000;
    await natsHarness.sendRaw(name, `{"payload":${'['.repeat(depth)}${']'.repeat(depth)}}`);
    const queue = track(open<{ n: number }>(name, { maxAttempts: 2 }));
    await queue.send({ n: 1 });
    const [later] = await receive(queue, 1);
    expect(later!.message).toEqual({ n: 1 });
    await later!.ack();
    const dead = track(open<string>(`${name}.dead`));
    const [corpse] = await receive(dead, 1);
    expect(corpse!.deadLetterReason).toBe('undecodable body: nested deeper than 256 levels');
    expect(typeof corpse!.message).toBe('string'); // the body as text, never parsed into depth again
    expect((corpse!.message as string).length).toBe(2 * depth + 12);
    await expectNothing(dead, 500);
    await corpse!.ack();
    expect(await storedCount(name)).toBe(0);
  });

  it('handles a foreign envelope whose id holds CR/LF and is long, and dead-letters it under that id', async () => {
    const name = queueName('foreign-id');
    const id = `a\r\nNats-Msg-Id: b\r\n${'c'.repeat(70_000)}`;
    await natsHarness.sendRaw(name, JSON.stringify({ id, payload: { n: 1 } }));
    const queue = track(open<{ n: number }>(name, { maxAttempts: 1 }));
    const [delivery] = await receive(queue, 1);
    expect(delivery!.id).toBe(id);
    await delivery!.nack({ error: new Error(`${'r'.repeat(70_000)}\r\nSluice-Dead-Reason: forged`) });
    const [corpse] = await receive(track(open<{ n: number }>(`${name}.dead`)), 1);
    expect(corpse!.id).toBe(id);
    expect(corpse!.deadLetterReason).toMatch(/^failed 1 of 1 attempts: r+…$/);
    const prefix = 'failed 1 of 1 attempts: ';
    expect(corpse!.deadLetterReason!.length).toBeLessThanOrEqual(prefix.length + MAX_REASON_LENGTH);
    await corpse!.ack();
    await queue.send({ n: 2 });
    const [next] = await receive(queue, 1);
    expect(next!.message).toEqual({ n: 2 });
    await next!.ack();
  });

  it('waits out a delayed message due in 300 years without redelivering it in a loop', async () => {
    const name = queueName('far-due');
    await withConnection(async (c, topology) => {
      await topology.ensureConsumer(name, 'delayed');
      const due = headers();
      due.set(DUE_HEADER, String(Date.now() + 1e13));
      await c.js.publish(`${subjectPrefix(name)}delayed`, JSON.stringify({ payload: { n: 1 } }), {
        headers: due,
      });
    });
    const queue = track(open<{ n: number }>(name));
    await expectNothing(queue, 1_500);
    const delivered = await withConnection(
      async (c) => (await c.jsm.consumers.info(streamName(name), 'delayed')).delivered.consumer_seq,
    );
    expect(delivered).toBe(1);
  });

  it('bounds what a backoff function returns, and dead-letters on one that throws or gives NaN', async () => {
    const name = queueName('backoff');
    const huge = track(open<{ n: number }>(name, { backoff: () => 1e300 }));
    await huge.send({ n: 1 });
    const [first] = await receive(huge, 1);
    await expect(first!.nack()).resolves.toBeUndefined();
    await expectNothing(huge, 1_000); // retried a century later, not at once
    await huge.close();
    for (const backoff of [
      () => Number.NaN,
      () => {
        throw new Error('no delay');
      },
    ]) {
      const failing = track(open<{ n: number }>(name, { backoff }));
      await failing.send({ n: 2 });
      const [delivery] = await receive(failing, 1);
      await expect(delivery!.nack()).resolves.toBeUndefined();
      await failing.close();
    }
    const corpses = await receive(track(open<{ n: number }>(`${name}.dead`)), 2);
    expect(corpses.map((d) => d.deadLetterReason)).toEqual([
      expect.stringMatching(/^backoff failed on attempt 1: /),
      'backoff failed on attempt 1: no delay',
    ]);
    await Promise.all(corpses.map((d) => d.ack()));
  });

  it('makes at most 25 bands of many distinct priorities, and hands out the highest band first', async () => {
    const name = queueName('bands');
    const queue = track(open<{ p: number; n: number }>(name));
    const priorities = [
      ...Array.from({ length: 30 }, (_, n) => ((n * 37) % 23) - 11 + n / 10), // -11 … 13.9, shuffled
      1e300,
      -1e300,
      150,
      5_000,
      -150,
      0.25,
    ];
    for (const [n, p] of priorities.entries()) await queue.send({ p, n }, { priority: p });
    const consumers = await withConnection(async (_c, topology) => topology.consumers(name));
    expect(consumers.length).toBeLessThanOrEqual(26); // the bands and `delayed`
    const deliveries = await receive(queue, priorities.length); // fewer than the starvation limit
    const order = deliveries.map((d) => [Number(bandToken(d.message.p).slice(1)), d.message.n]);
    const expected = priorities
      .map((p, n) => [Number(bandToken(p).slice(1)), n])
      .sort(([a, m], [b, n]) => b! - a! || m! - n!); // highest band first, FIFO within a band
    expect(order).toEqual(expected);
    await Promise.all(deliveries.map((d) => d.ack()));
  });

  it('keeps the band of a foreign delayed message whose priority is huge', async () => {
    const name = queueName('foreign-priority');
    await withConnection(async (c, topology) => {
      await topology.ensureConsumer(name, 'delayed');
      const due = headers();
      due.set(DUE_HEADER, String(Date.now()));
      due.set('Sluice-Priority', '1e300');
      await c.js.publish(`${subjectPrefix(name)}delayed`, JSON.stringify({ payload: { n: 1 } }), {
        headers: due,
      });
    });
    const queue = track(open<{ n: number }>(name));
    const [delivery] = await receive(queue, 1);
    expect(delivery!.message).toEqual({ n: 1 });
    await delivery!.ack();
    expect(await withConnection(async (_c, topology) => (await topology.consumers(name)).sort())).toEqual([
      'delayed',
      'p0',
      'p1000',
    ]);
  });
});

const NATS_SERVER = '/usr/sbin/nats-server';

describe('NatsQueue URLs', () => {
  it('reads credentials out of server URLs, which the NATS client ignores, and names no password', () => {
    expect(serverOptions('nats://alice:s%40cret@10.0.0.1:4222, nats://10.0.0.2:4222')).toEqual({
      servers: ['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222'],
      user: 'alice',
      pass: 's@cret',
    });
    expect(serverOptions('nats://t0ken@10.0.0.1:4222')).toEqual({
      servers: ['nats://10.0.0.1:4222'],
      token: 't0ken',
    });
    expect(serverOptions('10.0.0.1:4222')).toEqual({ servers: ['10.0.0.1:4222'] });
  });
});

/**
 * A nats-server of its own on a free port, started with `args`: one that takes a password, or one
 * without JetStream. Resolves once it accepts connections.
 */
async function startServer(args: string[]): Promise<{ port: number; stop(): void; reload(): void }> {
  const port = await freePort();
  const server = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), ...args]);
  for (let tries = 0; ; tries++) {
    const accepting = await new Promise<boolean>((resolve) => {
      const socket = netConnect(port, '127.0.0.1', () => resolve(true)).on('error', () => resolve(false));
      socket.unref();
      setTimeout(() => socket.destroy(), 100).unref();
    });
    if (accepting) return { port, stop: () => server.kill(), reload: () => server.kill('SIGHUP') };
    if (tries > 100) throw new Error(`nats-server ${args.join(' ')} did not start`);
    await sleep(50);
  }
}

describe.runIf(existsSync(NATS_SERVER))('NatsQueue on a server it cannot use', () => {
  it('takes the credentials of its URL, and fails send, next() and a pump at once with NatsAccessError on wrong ones', async () => {
    const server = await startServer(['--user', 'sluice', '--pass', 'right']);
    try {
      // Right credentials: connected, and told that this server has no JetStream.
      const right = new NatsQueue('orders', { url: `nats://sluice:right@127.0.0.1:${server.port}` });
      await expect(right.send({})).rejects.toBeInstanceOf(NatsTopologyError);
      await right.close();

      const queue = new NatsQueue('orders', { url: `nats://sluice:wrong@127.0.0.1:${server.port}` });
      const refused = queue.send({});
      await expect(refused).rejects.toBeInstanceOf(NatsAccessError);
      await expect(refused).rejects.not.toThrow('wrong'); // the password is not in the message
      await expect(within(queue[Symbol.asyncIterator]().next(), 5_000)).rejects.toBeInstanceOf(
        NatsAccessError,
      );
      const draining = new Pump(queue, () => {}, { failSilently: true }).draining();
      await expect(within(draining.done, 5_000)).rejects.toThrow('NATS refused connecting');
      await queue.close();
    } finally {
      server.stop();
    }
  });

  it('ends a consumer and fails sends with NatsAccessError once its credentials are revoked while it runs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-nats-'));
    const config = join(dir, 'server.conf');
    const write = (password: string) =>
      writeFile(
        config,
        `jetstream { store_dir: "${dir}" }\nauthorization { user: sluice, password: ${password} }\n`,
      );
    await write('right');
    const server = await startServer(['-c', config]);
    try {
      const queue = new NatsQueue<{ n: number }>('orders', {
        url: `nats://sluice:right@127.0.0.1:${server.port}`,
      });
      await queue.send({ n: 1 });
      const iterator = queue[Symbol.asyncIterator]();
      const first = await within(iterator.next(), 10_000);
      await first.value!.ack();
      const waiting = iterator.next();
      await write('changed');
      server.reload(); // the server drops the connection, and refuses it on every reconnect
      await expect(within(waiting, 15_000)).rejects.toBeInstanceOf(NatsAccessError);
      await expect(queue.send({ n: 2 })).rejects.toBeInstanceOf(NatsAccessError);
      await queue.close();
    } finally {
      server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('ends a consumer on a server without JetStream with NatsTopologyError instead of waiting for ever', async () => {
    const server = await startServer([]);
    try {
      const queue = new NatsQueue('orders', { url: `nats://127.0.0.1:${server.port}` });
      await expect(queue.send({})).rejects.toThrow('JetStream is not enabled');
      await expect(within(queue[Symbol.asyncIterator]().next(), 5_000)).rejects.toBeInstanceOf(
        NatsTopologyError,
      );
      await queue.close();
    } finally {
      server.stop();
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}
