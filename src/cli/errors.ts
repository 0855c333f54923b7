import { SluiceError } from '../errors.js';

/** The broker of a URL needs a client package the user has not installed (broker clients are optional peers). */
export class BrokerClientMissingError extends SluiceError {
  constructor(scheme: string, pkg: string) {
    super(
      'BROKER_CLIENT_MISSING',
      `${scheme} URLs need the npm package ${pkg}, which is not installed: npm install ${pkg}`,
    );
  }
}

/** `sluice job` found no record of the job: never pushed with this store, or its record expired. */
export class JobNotFoundError extends SluiceError {
  /** `store`: how the store is named to the operator. */
  constructor(id: string, store: string) {
    super('JOB_NOT_FOUND', `no job ${id} in ${store} (never stored there, or its record expired)`);
  }
}

/** A `sqlite:` URL naming a file that does not exist: opening it would create an empty database. */
export class DatabaseFileMissingError extends SluiceError {
  constructor(path: string) {
    super('DATABASE_NOT_FOUND', `no SQLite database at ${path}`);
  }
}
