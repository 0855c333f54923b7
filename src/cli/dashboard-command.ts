/** `sluice dashboard`: serves the dashboard on a broker's queues until the process is told to stop. */
import { InvalidOptionError } from '../errors.js';
import type { JobStore } from '../jobs/store.js';
import { type CliQueue, openBroker } from './brokers.js';
import { type Output, print } from './output.js';

export interface DashboardCommandOptions {
  readonly port: number;
  readonly host: string;
  readonly readOnly: boolean;
  readonly token?: string;
  /** The queues shown; undefined: every queue the broker holds. */
  readonly queue?: readonly string[];
  /** The job store's name; undefined: the stores' default. */
  readonly store?: string;
}

export async function dashboard(
  url: string,
  options: DashboardCommandOptions,
  output: Output,
): Promise<void> {
  const broker = await openBroker(url);
  const names = [...new Set(options.queue ?? (await broker.queueNames()))];
  const queues: CliQueue[] = [];
  let jobs: JobStore | undefined;
  try {
    for (const name of names) {
      try {
        queues.push(broker.queue(name));
      } catch (error) {
        // A name the broker lists but this adapter refuses (written by another program, or by an
        // older sluice): shown as skipped rather than keeping the whole page from serving.
        if (options.queue !== undefined || !(error instanceof InvalidOptionError)) throw error;
        process.stderr.write(`skipped queue ${JSON.stringify(name)}: ${error.message}\n`);
      }
    }
    jobs = broker.jobStore(options.store);
    // Imported here: the commands that do not serve a page need not load the server.
    const { serveDashboard } = await import('../dashboard/index.js');
    const { port, host, readOnly, token } = options;
    const server = await serveDashboard({ queues, jobs, port, host, readOnly, token });
    // Listening before the line that says it serves: whoever reads it may signal at once, and a
    // signal that finds no listener ends the process before anything is closed.
    const stopped = untilStopped();
    print(
      output,
      { url: server.url, queues: queues.map((queue) => queue.name) },
      ({ url, queues }) => `sluice dashboard on ${url} (${queues.length} queues); Ctrl-C stops it`,
    );
    await stopped;
    await server.close();
  } finally {
    await Promise.all([...queues.map((queue) => queue.close()), jobs?.close()]);
  }
}

/** Resolves on SIGINT (Ctrl-C) or SIGTERM (a service manager), so that connections close cleanly. */
function untilStopped(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
