/** The program's help, usage errors and failures that need no broker running. */
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const COMMANDS = ['stats', 'dead', 'redrive', 'purge', 'pause', 'resume', 'job', 'declare', 'dashboard'];

// Each run of the program starts Node and tsx: seconds each on a loaded machine.
describe('sluice --help', { timeout: 60_000 }, () => {
  it('lists every command', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: sluice \[options\] \[command\]/);
    for (const command of COMMANDS) expect(stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it.each(COMMANDS)('%s --help', async (command) => {
    const { code, stdout, stderr } = await runCli([command, '--help']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(new RegExp(`^Usage: sluice ${command} (\\[options\\] )?<url>`));
  });
});

describe('usage errors exit 2, nothing tried', { timeout: 60_000 }, () => {
  it.each([
    ['no command', []],
    ['an unknown command', ['frobnicate']],
    ['a missing argument', ['stats', 'redis://127.0.0.1:6379']],
    ['an extra argument', ['stats', 'redis://127.0.0.1:6379', 'a', 'b']],
    ['an unknown option', ['stats', 'redis://127.0.0.1:6379', 'a', '--deep']],
    ['a limit that is not a positive integer', ['dead', 'redis://127.0.0.1:6379', 'a', '--limit', '0']],
    ['a port out of range', ['dashboard', 'redis://127.0.0.1:6379', '--port', '70000']],
    ['purge without --yes', ['purge', 'redis://127.0.0.1:1', 'a']],
    ['a URL of no broker', ['stats', 'http://127.0.0.1', 'a']],
    ['job on RabbitMQ, which keeps no job records', ['job', 'amqp://127.0.0.1:1', 'some-id']],
  ])('%s', async (_, args) => {
    const { code, stdout, stderr } = await runCli(args);
    expect(code, stderr).toBe(2);
    expect(stderr.length).toBeGreaterThan(0);
    expect(stdout).toBe('');
  });

  it('purge without --yes says how to confirm', async () => {
    const { stderr } = await runCli(['purge', 'redis://127.0.0.1:1', 'orders']);
    expect(stderr).toContain(
      'error: purge deletes every waiting message of orders for good: add --yes to confirm',
    );
  });
});

describe('an unreachable broker exits 1 with the reason on one line', { timeout: 60_000 }, () => {
  it.each([
    ['Redis', 'redis://127.0.0.1:1'],
    ['PostgreSQL', 'postgres://postgres@127.0.0.1:1/test'],
    ['NATS', 'nats://127.0.0.1:1'],
    ['RabbitMQ', 'amqp://guest:guest@127.0.0.1:1'],
  ])('%s', async (_, url) => {
    const { code, stdout, stderr } = await runCli(['stats', url, 'orders']);
    expect(code, stderr).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^BROKER_UNAVAILABLE: .*(ECONNREFUSED|connection refused).*\n$/);
  });
});
