/**
 * The RabbitMQ side of the durable conformance suite, the module its child processes load to open a
 * queue (`open`; nothing connects on import), and what the RabbitMQ test files share: the lease that
 * keeps a broker restart in one test file from cutting another file's tests off.
 */
import { exec } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type ChannelModel, connect } from 'amqplib';
import type { Queue } from '../../src/queuing/types.js';
import { AmqpQueue, type AmqpQueueOptions } from '../../src/transports/amqp/index.js';
import { declareQueue } from '../../src/transports/amqp/topology.js';
import type { DurableHarness, DurableQueueOptions } from '../conformance/durable.js';
import { services, waitForPort } from '../support/broker.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const run = promisify(exec);

export const AMQP_URL = `amqp://guest:guest@127.0.0.1:${services.rabbitmq.port}`;

/** `visibilityTimeout` has no RabbitMQ counterpart (the broker redelivers on disconnect): dropped. */
export function open<T>(name: string, options: DurableQueueOptions | AmqpQueueOptions = {}): AmqpQueue<T> {
  const { visibilityTimeout: _, ...rest } = options as DurableQueueOptions;
  return new AmqpQueue<T>(name, { url: AMQP_URL, ...(rest as AmqpQueueOptions<T>) });
}

/** Runs `use` with a connection of its own, then closes it. */
export async function withConnection<R>(use: (connection: ChannelModel) => Promise<R>): Promise<R> {
  const connection = await connect(AMQP_URL);
  connection.on('error', () => {});
  try {
    return await use(connection);
  } finally {
    await connection.close().catch(() => {});
  }
}

/**
 * Deletes the queue, its dead-letter queue, their pause records and their flow-control queues: the
 * group registry `<q>.groups`, the group queues `<q>.g.<group>` and the rate tokens
 * `<q>.rate.<limit>.<interval>` (with `.cool` and `.minted`). Delay queues expire on their own
 * (`x-expires`).
 */
export async function purge(...names: string[]): Promise<void> {
  const queues = names.flatMap((name) => [name, `${name}.dead`]);
  const flow = await flowQueues(queues);
  await deleteQueues(...queues.flatMap((queue) => [queue, `${queue}.paused`]), ...flow);
}

/**
 * The flow-control queues of `names` on the broker. Only a listing finds the rate tokens of every
 * limit and every group queue; the management API is off here, so `rabbitmqctl` lists them.
 */
async function flowQueues(names: readonly string[]): Promise<string[]> {
  const { stdout } = await run('rabbitmqctl list_queues name --formatter json -q', { timeout: 60_000 });
  const listed = (JSON.parse(stdout) as { name: string }[]).map((queue) => queue.name);
  return listed.filter((queue) =>
    names.some(
      (name) =>
        queue === `${name}.groups` || queue.startsWith(`${name}.g.`) || queue.startsWith(`${name}.rate.`),
    ),
  );
}

/** Deletes queues by name, e.g. the delay and key marker queues a test left behind. */
export function deleteQueues(...names: string[]): Promise<void> {
  return withConnection(async (connection) => {
    const channel = await connection.createChannel();
    for (const name of names) await channel.deleteQueue(name);
  });
}

/** Runs `use` with the URL of a proxy to RabbitMQ whose connections it can cut. */
export async function throughProxy<R>(use: (url: string, proxy: TcpProxy) => Promise<R>): Promise<R> {
  const proxy = await startTcpProxy(services.rabbitmq.port);
  try {
    return await use(AMQP_URL.replace(/:\d+$/, `:${proxy.port}`), proxy);
  } finally {
    await proxy.close();
  }
}

export function sendRaw(name: string, body: string): Promise<void> {
  return withConnection(async (connection) => {
    const channel = await connection.createConfirmChannel();
    await declareQueue(channel, name, true);
    channel.sendToQueue(name, Buffer.from(body), { persistent: true });
    await channel.waitForConfirms();
  });
}

/** Stops the RabbitMQ application and starts it again (the node keeps running); leaves it up. */
export function restartRabbit(whileDown?: () => Promise<void>): Promise<void> {
  return exclusively(async () => {
    await run('rabbitmqctl stop_app', { timeout: 60_000 });
    try {
      await whileDown?.();
    } finally {
      await run('rabbitmqctl start_app', { timeout: 60_000 });
    }
    await waitForPort(services.rabbitmq.port, 30_000);
  });
}

export const amqpHarness: DurableHarness = {
  name: 'rabbitmq',
  service: 'rabbitmq',
  open: <T>(name: string, options?: DurableQueueOptions) => open<T>(name, options) as Queue<T>,
  purge: (name) => purge(name),
  sendRaw,
  restart: restartRabbit,
  childModule: fileURLToPath(import.meta.url),
};

/*
 * Test files run in parallel workers. A file that talks to RabbitMQ holds a lease for its whole run;
 * a restart waits until no other file holds one, and new leases wait while a restart runs.
 * Files in the temp directory: mkdir is atomic, and entries of dead processes are ignored.
 */
const lockDir = join(tmpdir(), 'sluice-rabbitmq-test-lock');
const restartLock = join(lockDir, 'restart');
let ownLease: string | undefined;

/** Call in `beforeAll` of every RabbitMQ test file; returns the release for `afterAll`. */
export async function leaseRabbit(): Promise<() => void> {
  mkdirSync(lockDir, { recursive: true });
  await until(() => !alive(restartLock), 'a RabbitMQ restart by another test file');
  const lease = join(lockDir, `lease-${process.pid}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(lease, String(process.pid));
  ownLease = lease;
  return () => {
    ownLease = undefined;
    rmSync(lease, { force: true });
  };
}

async function exclusively(restart: () => Promise<void>): Promise<void> {
  mkdirSync(lockDir, { recursive: true });
  const mine = ownLease;
  if (mine !== undefined) rmSync(mine, { force: true }); // so that two restarting files cannot deadlock
  await until(() => tryLock(), 'another RabbitMQ restart');
  try {
    const others = () => readdirSync(lockDir).filter((entry) => entry.startsWith('lease-'));
    await until(
      () => others().every((entry) => !alive(join(lockDir, entry))),
      'the other RabbitMQ test files',
    );
    await restart();
  } finally {
    rmSync(restartLock, { force: true });
    if (mine !== undefined) writeFileSync(mine, String(process.pid));
  }
}

function tryLock(): boolean {
  try {
    writeFileSync(restartLock, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    alive(restartLock); // removes it when its process is gone
    return false;
  }
}

/** Whether the file exists and names a live process; removes it when that process is gone. */
function alive(path: string): boolean {
  let owner: number;
  try {
    owner = Number(readFileSync(path, 'utf8'));
  } catch {
    return false;
  }
  try {
    process.kill(owner, 0);
    return true;
  } catch {
    rmSync(path, { force: true });
    return false;
  }
}

async function until(condition: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
