import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { DeliverySettledError, InvalidOptionError } from '../../src/errors.js';
import { Pump } from '../../src/queuing/pump/pump.js';
import { MAX_DELAY } from '../../src/transports/shared/broker-options.js';
import type { SqliteDelivery } from '../../src/transports/sqlite/index.js';
import { deferred, sleep, stateOf, within } from '../support/async.js';
import { receive } from '../support/deliveries.js';
import { sqliteFiles } from './sqlite-fixture.js';

const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
const { children, tempDb, open } = sqliteFiles('sqlite-hostile');

function delayedRows(path: string, queue: string): { run_at: number }[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT run_at FROM sluice_messages WHERE queue = ? AND ready = 0').all(queue) as {
      run_at: number;
    }[];
  } finally {
    db.close();
  }
}

describe('SqliteQueue (hostile input, a busy file)', () => {
  it('stores a delay of MAX_DELAY and refuses a longer one, storing nothing', async () => {
    const path = tempDb();
    const queue = open<number>('delay', { path });
    await expect(queue.send(1, { delay: MAX_DELAY + 1 })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(queue.send(1, { delay: MAX_DELAY + 1 })).rejects.toThrow(/invalid delay/);
    expect(delayedRows(path, 'delay')).toEqual([]);
    await queue.send(2, { delay: MAX_DELAY });
    const [row] = delayedRows(path, 'delay');
    expect(row!.run_at - Date.now()).toBeGreaterThan(MAX_DELAY - 60_000);
  });

  it('rejects a nack delay it cannot store, leaving the delivery unsettled and handed out', async () => {
    const path = tempDb();
    const queue = open<number>('nack-delay', { path, closeTimeout: 100 });
    await queue.send(1);
    const [delivery] = await receive(queue, 1);
    await expect(delivery!.nack({ delay: MAX_DELAY + 1 })).rejects.toBeInstanceOf(InvalidOptionError);
    expect(delivery!.settled).toBe(false);
    await queue.close(); // still handed out: close takes it back
    await expect(delivery!.ack()).rejects.toBeInstanceOf(DeliverySettledError);
  });

  it('retries at the longest delay it can store, or dead-letters saying so when the backoff fails', async () => {
    const path = tempDb();
    const huge = open<number>('huge', { path, backoff: () => 1e300 });
    await huge.send(1);
    const [first] = await receive(huge, 1);
    await first!.nack();
    const [row] = delayedRows(path, 'huge');
    expect(row!.run_at - Date.now()).toBeGreaterThan(MAX_DELAY - 60_000);

    const failing = open<number>('throws', {
      path,
      backoff: () => {
        throw new Error('no backoff today');
      },
    });
    await failing.send(2);
    const [second] = await receive(failing, 1);
    await second!.nack({ error: new Error('failed') });
    const [corpse] = (await receive(open<number>('throws.dead', { path }), 1)) as SqliteDelivery<number>[];
    expect(corpse!.deadLetterReason).toBe('backoff failed on attempt 1: no backoff today');
    await corpse!.ack();
  });

  it('keeps a failSilently pump going while another process holds the write lock past the busy timeout', async () => {
    const path = tempDb();
    const queue = open<number>('busy', {
      path,
      visibilityTimeout: 500,
      backoff: { type: 'fixed', delay: 10 },
    });
    await queue.send(1);
    const locked = deferred();
    const attempts: number[] = [];
    const draining = new Pump(
      queue,
      async (_n: number, { attempt }) => {
        attempts.push(attempt);
        if (attempt > 1) return;
        const child = spawn(
          process.execPath,
          [
            '-e',
            `const db = new (require('better-sqlite3'))(${JSON.stringify(path)});
             db.exec('BEGIN IMMEDIATE');
             console.log('locked');
             setTimeout(() => { db.exec('COMMIT'); db.close(); }, 7000);`,
          ],
          { cwd: repositoryRoot, stdio: ['ignore', 'pipe', 'inherit'] },
        );
        children.push(child);
        const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
        await within(lines.next(), 10_000, () => 'the lock holder to start');
        locked.resolve();
        throw new Error('failing while the file is locked'); // the nack meets the lock
      },
      { failSilently: true },
    ).draining();
    await within(locked.promise, 15_000);
    const deadline = Date.now() + 30_000;
    while (attempts.length < 2 && Date.now() < deadline && (await stateOf(draining.done)) === 'pending') {
      await sleep(50);
    }
    expect(await stateOf(draining.done)).toBe('pending'); // the failed nack did not stop it
    expect(attempts).toEqual([1, 2]); // claimed again once its lease ran out
    await draining.stop();
  }, 60_000);
});
