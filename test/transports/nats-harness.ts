/**
 * The NATS JetStream side of the durable conformance suite, and the module child processes load to
 * open a queue (`open`). Also used by the adapter's own tests.
 */
import { execFileSync, execSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Connection } from '../../src/transports/nats/connection.js';
import { FLOW_BUCKET } from '../../src/transports/nats/flow-store.js';
import { NatsQueue, type NatsQueueOptions } from '../../src/transports/nats/index.js';
import { encodeName, streamName, subjectPrefix } from '../../src/transports/nats/names.js';
import { Topology } from '../../src/transports/nats/topology.js';
import type { DurableHarness } from '../conformance/durable.js';
import { services, waitForPort } from '../support/broker.js';
import { isAlive } from '../support/process.js';

export const NATS_URL = 'nats://127.0.0.1:4222';

export function open<T>(name: string, options: NatsQueueOptions<T> = {}): NatsQueue<T> {
  return new NatsQueue<T>(name, { url: NATS_URL, ...options });
}

/** Runs `use` with a connection of its own and its topology helper, then closes it. */
export async function withConnection<R>(
  use: (connection: Connection, topology: Topology) => Promise<R>,
): Promise<R> {
  const connection = await Connection.open('the test harness', NATS_URL, undefined);
  try {
    return await use(connection, new Topology(connection, 30_000));
  } finally {
    await connection.close();
  }
}

export function purge(...names: string[]): Promise<void> {
  return withConnection(async (connection) => {
    for (const name of names.flatMap((n) => [n, `${n}.dead`])) {
      await connection.jsm.streams.delete(streamName(name)).catch((error: { code?: number }) => {
        if (error?.code !== 10059) throw error; // already gone
      });
      // The queue's flow-control keys (rate log, group slots), when a test limited its flow.
      const filter = `$KV.${FLOW_BUCKET}.${encodeName(name)}.>`;
      await connection.jsm.streams
        .purge(`KV_${FLOW_BUCKET}`, { filter })
        .catch((error: { code?: number }) => {
          if (error?.code !== 10059) throw error; // no queue limited its flow yet: no bucket
        });
    }
  });
}

/** Stops the real nats-server (SIGTERM) and waits until it exited; returns the pids it stopped. */
export async function stopNats(timeoutMs = 20_000): Promise<number[]> {
  let pids: number[] = [];
  try {
    pids = execFileSync('pgrep', ['-x', 'nats-server'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return pids; // pgrep exits 1 when nothing runs
  }
  for (const pid of pids) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive)) {
    if (Date.now() > deadline) throw new Error(`nats-server did not stop within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return pids;
}

/** Starts nats-server with JetStream on its usual store (`services.nats.start`); waits for its port. */
export async function startNats(timeoutMs = 30_000): Promise<void> {
  execSync(services.nats.start, { stdio: 'ignore' });
  await waitForPort(services.nats.port, timeoutMs);
}

export async function restartNats(whileDown?: () => Promise<void>): Promise<void> {
  await stopNats();
  try {
    await whileDown?.();
  } finally {
    await startNats();
  }
}

const LOCK = '/tmp/sluice-nats-tests.lock';

/**
 * Both NATS test files restart the one nats-server, so they must not run at the same time (vitest
 * runs files in parallel): each holds this lock, a directory naming its owner's pid, for its whole
 * run. A lock whose owner died is taken over. Returns the release function.
 */
export async function lockNatsServer(timeoutMs = 240_000): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(`${LOCK}/pid`, String(process.pid));
      return () => rmSync(LOCK, { recursive: true, force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number(readFileSafely(`${LOCK}/pid`));
    if (owner > 0 && !isAlive(owner)) rmSync(LOCK, { recursive: true, force: true });
    if (Date.now() > deadline) throw new Error(`another NATS test run held ${LOCK} for ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function readFileSafely(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return ''; // being written or removed
  }
}

export const natsHarness: DurableHarness = {
  name: 'nats',
  service: 'nats',
  open: <T>(name: string, options?: object) => open<T>(name, options as NatsQueueOptions<T>),
  purge: (name) => purge(name),
  sendRaw: (name, body) =>
    withConnection(async (connection, topology) => {
      await topology.ensureConsumer(name, 'p0');
      await connection.js.publish(`${subjectPrefix(name)}p0`, body);
    }),
  restart: (whileDown) => restartNats(whileDown),
  childModule: fileURLToPath(import.meta.url),
};
