import { InvalidOptionError } from '../../errors.js';
import { Connection } from './connection.js';
import { QUEUES } from './tables.js';

export interface QueueNamesOptions {
  /** The database file, as SqliteQueue's `path`. */
  path: string;
}

/**
 * The queues of the file, sorted: every queue that holds or held messages, was declared or paused
 * (it has a row in `sluice_queues`), dead-letter queues included. Opening the file creates the
 * tables if missing, as a SqliteQueue would.
 */
export async function queueNames(options: QueueNamesOptions): Promise<string[]> {
  const path = options?.path;
  if (typeof path !== 'string' || path.length === 0) {
    throw new InvalidOptionError('path', path, 'the path of a database file');
  }
  const connection = Connection.acquire(path);
  try {
    return await connection.read(
      () => connection.prepare(`SELECT queue FROM ${QUEUES} ORDER BY queue`).pluck().all() as string[],
    );
  } finally {
    connection.release();
  }
}
