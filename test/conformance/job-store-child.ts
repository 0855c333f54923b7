/**
 * A process of the job-store conformance suite:
 *   node --import tsx job-store-child.ts <harness module> <namespace> <role JSON>
 * Roles:
 * - `{ "role": "worker", "workers": n }`: runs the suite's tasks until SIGTERM (a graceful stop) or
 *   SIGKILL, printing a JSON line per task event (see job-store-tasks.ts), and `{"event":"ready"}`
 *   once its workers run;
 * - `{ "role": "push", "task": t, "args": [...], "id"?: id }`: pushes one job by task name (no worker
 *   runs here) and prints `{"event":"pushed","id":...}`;
 * - `{ "role": "wait", "id": id, "timeout": ms }`: looks the job up and waits for it, printing
 *   `{"event":"ended","status":...,"attempt":n,"result":...}` (or `"error"` for a failure).
 */
import { pathToFileURL } from 'node:url';
import { Jobs, QueueMiddleware } from '../../src/jobs/index.js';
import type { JobStoreModule } from './job-store.js';
import { registerTasks } from './job-store-tasks.js';

const [modulePath, namespace, roleJson] = process.argv.slice(2);
if (modulePath === undefined || namespace === undefined || roleJson === undefined) {
  throw new Error('usage: job-store-child.ts <harness module> <namespace> <role JSON>');
}
const harness = (await import(pathToFileURL(modulePath).href)) as JobStoreModule;
const role = JSON.parse(roleJson) as Record<string, any>;
const print = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);

const jobs = new Jobs({ store: harness.store(namespace) });
jobs.use(new QueueMiddleware({ queue: harness.queue(namespace), workers: role.workers ?? 0 }));
registerTasks(jobs, print);
await jobs.start();

if (role.role === 'worker') {
  process.once('SIGTERM', () => {
    jobs.stop({ graceful: true, timeout: 5_000 }).finally(() => process.exit(0));
  });
  print({ event: 'ready', pid: process.pid });
} else if (role.role === 'push') {
  const job = await jobs.push(role.task, role.args, role.id === undefined ? undefined : { id: role.id });
  print({ event: 'pushed', id: job.id, pid: process.pid });
  await jobs.stop();
} else if (role.role === 'wait') {
  const job = await jobs.get(role.id);
  if (job === undefined) print({ event: 'unknown', id: role.id });
  else {
    const status = await job.wait({ timeout: role.timeout });
    let outcome: object;
    try {
      outcome = { result: job.result() };
    } catch (error) {
      const cause = (error as { cause?: { name?: string; message?: string; code?: string } }).cause;
      outcome = { error: { name: cause?.name, message: cause?.message, code: cause?.code } };
    }
    print({ event: 'ended', id: job.id, status, attempt: job.attempt, ...outcome });
  }
  await jobs.stop();
} else {
  throw new Error(`unknown role ${roleJson}`);
}
