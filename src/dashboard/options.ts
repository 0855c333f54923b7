import { InvalidOptionError } from '../errors.js';
import type { JobStore } from '../jobs/store.js';
import { OPERATOR_METHODS, type OperableQueue } from '../queuing/operations.js';

/** A queue as the dashboard holds it: every sluice queue has a `name`, checked when the dashboard starts. */
export type DashboardQueue = OperableQueue<unknown> & { readonly name: string };

/** What the dashboard reads of a job store: a job by id and the recent failures. */
export type DashboardJobStore = Pick<JobStore, 'get' | 'recentFailures'>;

/** The options of {@link serveDashboard}. */
export interface DashboardOptions {
  /**
   * The queues shown, each by its `name` (a non-empty string; names must differ). Each needs the
   * operator's methods ({@link sluice!OperableQueue | OperableQueue}), as every sluice queue has.
   */
  readonly queues: readonly OperableQueue<unknown>[];
  /**
   * Where jobs are looked up.
   * @defaultValue none: the page has no jobs view
   */
  readonly jobs?: DashboardJobStore;
  /**
   * The port to listen on; `0` picks a free one (the dashboard's `url` names it).
   * @defaultValue `7777`
   */
  readonly port?: number;
  /**
   * The address to listen on. The default lets only this machine open the page.
   * @defaultValue `'127.0.0.1'`
   */
  readonly host?: string;
  /**
   * Shows no action and refuses every action request.
   * @defaultValue `false`
   */
  readonly readOnly?: boolean;
  /**
   * When given, every request must carry it (see docs/dashboard.md).
   * @defaultValue none: no token is asked for
   */
  readonly token?: string;
}

export interface ResolvedDashboardOptions {
  readonly queues: ReadonlyMap<string, DashboardQueue>;
  readonly jobs: DashboardJobStore | undefined;
  readonly port: number;
  readonly host: string;
  readonly readOnly: boolean;
  readonly token: string | undefined;
}

/** Checks `serveDashboard`'s options at the boundary. */
export function resolveDashboardOptions(options: DashboardOptions): ResolvedDashboardOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('dashboard options', options, 'an object');
  }
  const { jobs, port = 7777, host = '127.0.0.1', readOnly = false, token } = options;
  if (jobs !== undefined && !hasMethods(jobs, ['get', 'recentFailures'])) {
    throw new InvalidOptionError('jobs', jobs, 'a job store (with get and recentFailures)');
  }
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidOptionError('port', port, 'an integer from 0 to 65535');
  }
  if (typeof host !== 'string' || host.length === 0) {
    throw new InvalidOptionError('host', host, 'a host name or address');
  }
  if (typeof readOnly !== 'boolean') throw new InvalidOptionError('readOnly', readOnly, 'a boolean');
  if (token !== undefined && (typeof token !== 'string' || token.length === 0)) {
    throw new InvalidOptionError('token', token, 'a non-empty string');
  }
  return { queues: queuesByName(options.queues), jobs, port, host, readOnly, token };
}

function queuesByName(queues: readonly OperableQueue<unknown>[]): ReadonlyMap<string, DashboardQueue> {
  if (!Array.isArray(queues) || queues.length === 0) {
    throw new InvalidOptionError('queues', queues, 'a non-empty array of queues');
  }
  const byName = new Map<string, DashboardQueue>();
  for (const queue of queues as readonly DashboardQueue[]) {
    if (!hasMethods(queue, OPERATOR_METHODS) || typeof queue.name !== 'string' || queue.name === '') {
      throw new InvalidOptionError('queues', queue, `a queue with a name and ${OPERATOR_METHODS.join(', ')}`);
    }
    if (byName.has(queue.name)) {
      throw new InvalidOptionError('queues', queue.name, 'queues with distinct names');
    }
    byName.set(queue.name, queue);
  }
  return byName;
}

function hasMethods(value: unknown, methods: readonly string[]): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return methods.every((method) => typeof record[method] === 'function');
}
