/**
 * A real child process running a TypeScript program of the conformance suites, read one stdout
 * line at a time, and killed with SIGKILL at the end (as a crash would).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sleep, within } from '../support/async.js';

const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface ChildProcess {
  nextLine(timeoutMs: number): Promise<string>;
  /** Fails if the child prints a line within `ms`. */
  quiet(ms: number): Promise<void>;
  kill(): Promise<void>;
}

/** Runs `node --import tsx <program> ...args` from the repository root. */
export function spawnChild(program: string, args: readonly string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', program, ...args], {
    cwd: repositoryRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  // A line asked for but not yet printed when `quiet` gave up is the next `nextLine`'s answer.
  let pending: Promise<IteratorResult<string>> | undefined;
  const next = () => {
    pending ??= lines.next();
    return pending;
  };
  return {
    async nextLine(timeoutMs) {
      const ended = exited.then(() => {
        throw new Error(`child process exited early: ${stderr}`);
      });
      const line = await within(Promise.race([next(), ended]), timeoutMs, () => {
        return `a line from the child process (stderr: ${stderr})`;
      });
      pending = undefined;
      if (line.done) throw new Error(`child process closed its output: ${stderr}`);
      return line.value;
    },
    async quiet(ms) {
      const line = await Promise.race([next(), sleep(ms).then(() => undefined)]);
      if (line === undefined) return;
      pending = undefined;
      throw new Error(`the child process printed ${JSON.stringify(line.value)} (stderr: ${stderr})`);
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
