import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { SqliteQueue, type SqliteQueueOptions } from '../../src/transports/sqlite/index.js';

/**
 * What a SQLite test file sets up: database files of its own in the temporary directory, and after
 * each test its child processes killed, its queues closed and its files (with their WAL) removed.
 */
export function sqliteFiles(label: string) {
  const files: string[] = [];
  const queues: SqliteQueue<unknown>[] = [];
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
    await Promise.all(queues.splice(0).map((queue) => queue.close()));
    for (const path of files.splice(0)) {
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
    }
  });

  return {
    /** Child processes to kill after the test. */
    children,
    tempDb(): string {
      const path = join(tmpdir(), `sluice-${label}-${process.pid}-${randomUUID()}.db`);
      files.push(path);
      return path;
    },
    /** A queue polling every 20 ms, closed after the test. */
    open<T>(name: string, options: SqliteQueueOptions<T>): SqliteQueue<T> {
      const queue = new SqliteQueue<T>(name, { pollInterval: 20, ...options });
      queues.push(queue as SqliteQueue<unknown>);
      return queue;
    },
  };
}
