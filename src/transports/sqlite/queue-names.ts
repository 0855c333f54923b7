import { InvalidOptionError } from '../../errors.js';
import { Connection } from './connection.js';
import { QUEUES } from './tables.js';

/** The options of {@link queueNames}: the file to look in. */
export interface QueueNamesOptions {
  /** The database file, as {@link SqliteQueueOptions.path}. */
  path: string;
}

/**
 * The queues of the file, sorted: every queue that holds or held messages, was declared or paused
 * (it has a row in `sluice_queues`), dead-letter queues included. Opening the file creates the
 * tables if missing, as a SqliteQueue would.
 * @throws {@link sluice!InvalidOptionError | InvalidOptionError} without a `path`
 * @throws {@link sluice!BrokerUnavailableError | BrokerUnavailableError} when the file cannot be opened
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
