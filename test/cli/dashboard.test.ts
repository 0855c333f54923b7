/** `sluice dashboard` serves the page on a broker's queues until SIGTERM, behind its token. */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerAvailable } from '../support/broker.js';
import { lockPostgres, open, purge, url } from '../transports/postgres-harness.js';
import { startCli } from './run-cli.js';

const up = await brokerAvailable('postgres');

describe.runIf(up)('sluice dashboard on PostgreSQL', { timeout: 120_000 }, () => {
  const name = `cli-dashboard-${randomUUID().slice(0, 8)}`;
  let release: () => unknown = () => {};

  beforeAll(async () => {
    release = await lockPostgres();
    const queue = open<{ n: number }>(name);
    await queue.send({ n: 1 }); // the queue exists, so the broker lists it
    await queue.close();
  }, 250_000);
  afterAll(async () => {
    await purge(name);
    await release();
  });

  it('lists the broker queues, wants the token from SLUICE_DASHBOARD_TOKEN, and stops on SIGTERM', async () => {
    const { child, firstLine, stderr } = await startCli(['dashboard', url, '--port', '0', '--json'], {
      SLUICE_DASHBOARD_TOKEN: 'secret-token',
    });
    try {
      const served = JSON.parse(firstLine) as { url: string; queues: string[] };
      expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(served.queues).toContain(name);
      expect((await fetch(served.url)).status).toBe(401);
      const page = await fetch(served.url, { headers: { Authorization: 'Bearer secret-token' } });
      expect(page.status).toBe(200);
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      expect(await exited, stderr()).toEqual([0, null]);
    }
  });

  it('--queue names the queues, --port a port', async () => {
    const { child, firstLine, stderr } = await startCli([
      'dashboard',
      url,
      '--port',
      '0',
      '--queue',
      name,
      'other',
    ]);
    const exited = once(child, 'exit');
    expect(firstLine).toMatch(
      /^sluice dashboard on http:\/\/127\.0\.0\.1:\d+\/ \(2 queues\); Ctrl-C stops it$/,
    );
    child.kill('SIGINT'); // at once: the program listens before it prints
    expect(await exited, stderr()).toEqual([0, null]);
  });
});
