/** `sluice job`: a job's record as its store keeps it, read from any machine that reaches the broker. */
import { InvalidOptionError } from '../errors.js';
import type { JobRecord } from '../jobs/store.js';
import { openBroker } from './brokers.js';
import { JobNotFoundError } from './errors.js';
import { type Output, print } from './output.js';
import { jobTable } from './render.js';

export interface JobCommandOptions {
  /** The store's name; undefined: the stores' default. */
  readonly store?: string;
}

export async function job(
  url: string,
  id: string,
  options: JobCommandOptions,
  output: Output,
): Promise<void> {
  const store = (await openBroker(url)).jobStore(options.store);
  if (store === undefined) {
    throw new InvalidOptionError(
      'url',
      url,
      'the URL of a broker that keeps job records: Redis, PostgreSQL, NATS or SQLite',
    );
  }
  let record: JobRecord | undefined;
  try {
    record = await store.get(id);
  } finally {
    await store.close();
  }
  if (record === undefined) {
    throw new JobNotFoundError(
      id,
      options.store === undefined ? 'the default job store' : `job store ${options.store}`,
    );
  }
  print(output, record, jobTable);
}
