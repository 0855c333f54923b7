import Database from 'better-sqlite3';
import { BrokerUnavailableError } from '../../errors.js';

/** Busy waits block the event loop (better-sqlite3 is synchronous); transactions here are short. */
const BUSY_TIMEOUT_MS = 5_000;

/**
 * Opens the file at `path` as every sluice connection to it does (write-ahead log, so readers and
 * one writer do not block each other), and creates `schema`'s tables if missing, then runs
 * `upgrade` (what a file made by an older version lacks), both in one transaction.
 */
export function openDatabase(
  path: string,
  schema: string,
  upgrade?: (db: Database.Database) => void,
): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.transaction(() => {
      db!.exec(schema);
      upgrade?.(db!);
    }).immediate();
    return db;
  } catch (cause) {
    db?.close();
    throw new BrokerUnavailableError('SQLite', `opening ${path}`, { cause });
  }
}
