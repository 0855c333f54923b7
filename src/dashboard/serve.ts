import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventStreams } from './events.js';
import { type DashboardOptions, resolveDashboardOptions } from './options.js';
import { handle } from './routes.js';
import { Sampler } from './sampler.js';
import { isLoopback, TokenCheck } from './security.js';

/** How often every queue's counts are read, in milliseconds. */
const SAMPLE_INTERVAL = 1_000;
/** Samples kept: the last ten minutes, what the page's charts span. */
const SAMPLES_KEPT = 600;

/** A running dashboard, as {@link serveDashboard} resolves it. */
export interface Dashboard {
  /** Where the page is, e.g. `http://127.0.0.1:7777/` (without the token). */
  readonly url: string;
  /** Stops sampling, ends the open pages' feeds and stops listening. Leaves the queues open. */
  close(): Promise<void>;
}

/**
 * Serves the operator's page for `queues` (docs/dashboard.md): their counts and net throughput,
 * updated live, their dead letters, the actions on them, and jobs when a job store is given.
 * Resolves once the server listens.
 *
 * @example
 * ```ts
 * import { serveDashboard } from 'sluice/dashboard';
 * import { RedisQueue } from 'sluice/redis';
 *
 * const orders = new RedisQueue<{ id: string }>('orders');
 * const dashboard = await serveDashboard({ queues: [orders], port: 0 });
 * console.log(dashboard.url); // http://127.0.0.1:<port>/
 * await dashboard.close(); // leaves the queue open
 * await orders.close();
 * ```
 * @throws {@link sluice!InvalidOptionError | InvalidOptionError} when an option cannot work: no
 * queues, a queue without a name or the operator's methods, two queues of one name, a port outside
 * 0 to 65535...
 * @throws the server's error (e.g. `EADDRINUSE`) when it cannot listen on `host` and `port`
 */
export async function serveDashboard(options: DashboardOptions): Promise<Dashboard> {
  const resolved = resolveDashboardOptions(options);
  const sampler = new Sampler([...resolved.queues.values()], SAMPLE_INTERVAL, SAMPLES_KEPT);
  const streams = new EventStreams(sampler);
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(resolved.port, resolved.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const context = {
    options: resolved,
    streams,
    token: resolved.token === undefined ? undefined : new TokenCheck(resolved.token, port),
    boundToLoopback: isLoopback(resolved.host),
  };
  server.on('request', (request, response) => void handle(context, request, response));
  await sampler.start();
  const host = resolved.host.includes(':') ? `[${resolved.host}]` : resolved.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}/`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        sampler.stop();
        streams.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
