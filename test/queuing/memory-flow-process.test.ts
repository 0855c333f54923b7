/**
 * The rate limit's timer and the process: it keeps the process alive while a consumer waits for the
 * window to free, and never once nothing waits (each case runs in a child process of its own).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const entry = pathToFileURL(fileURLToPath(new URL('../../src/index.ts', import.meta.url))).href;

/** Runs `body` (an ES module importing MemoryQueue and Pump) in a child; killed after 10 s. */
function runChild(body: string) {
  return spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `import { MemoryQueue, Pump } from ${JSON.stringify(entry)};\n${body}`,
    ],
    { cwd: root, encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' },
  );
}

describe('MemoryQueue rate limit timer', () => {
  it('keeps the process alive until a waiting pump got its delivery', () => {
    const child = runChild(`
      const queue = new MemoryQueue();
      const seen = [];
      new Pump(queue, (message) => {
        seen.push(message);
        if (seen.length === 2) console.log('both dispatched');
      }).draining({ rateLimit: { limit: 1, interval: 300 } });
      void queue.send('first');
      void queue.send('second');
    `);
    expect(child.stdout, child.stderr).toContain('both dispatched');
  });

  it('lets the process exit once the pump waiting on the window stopped', () => {
    const child = runChild(`
      const queue = new MemoryQueue();
      const draining = new Pump(queue, () => {}).draining({ rateLimit: { limit: 1, interval: 86_400_000 } });
      await queue.send('first');
      await queue.send('second'); // waits a day for the window
      await draining.stop();
      console.log('stopped');
    `);
    expect(child.stdout, child.stderr).toContain('stopped');
    expect(child.signal).toBe(null); // killed after 10 s: the timer kept the process alive
  });
});
