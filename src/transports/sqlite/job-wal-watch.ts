import { type FSWatcher, realpathSync, watch } from 'node:fs';

/**
 * Calls `changed` soon after any process commits to the database file at `path`: a commit appends
 * to the file's write-ahead log, and the file system tells the watchers of that file (inotify,
 * FSEvents, ReadDirectoryChangesW). A hint only, and a cheap one to be wrong about: where nothing
 * tells (a network file system, an in-memory database), nothing calls, and a poll still hears of
 * the change. Returns what stops watching.
 */
export function watchCommits(path: string, changed: () => void): () => void {
  let watcher: FSWatcher;
  try {
    // SQLite keeps the log next to the file a symbolic link points to. Not persistent: the poll's
    // timer is what keeps the process alive while someone listens.
    watcher = watch(`${realpathSync(path)}-wal`, { persistent: false }, () => changed());
  } catch {
    return () => {};
  }
  watcher.on('error', () => watcher.close());
  return () => watcher.close();
}
