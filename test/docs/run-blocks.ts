import { spawn } from 'node:child_process';
import { repoRoot } from './extract-blocks.js';
import type { WrittenBlock } from './typecheck-blocks.js';

export const runTimeoutMs = 30_000;

export interface RunResult {
  ok: boolean;
  /** Why it failed: exit code or timeout, then the process's stderr (and stdout when stderr is empty). */
  failure: string;
  stdout: string;
  durationMs: number;
}

/**
 * Runs one written block with tsx as its reader would (cwd = repo root): it must exit 0 by itself
 * within the timeout, so a block that leaves a connection or a timer open fails here.
 */
export function runBlock({ path }: WrittenBlock, timeoutMs = runTimeoutMs): Promise<RunResult> {
  return runTypeScript(path, timeoutMs);
}

/** Runs a TypeScript file in a child process, `node --import tsx <path>`, killed after the timeout. */
export function runTypeScript(path: string, timeoutMs: number): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const durationMs = Math.round(performance.now() - started);
      const ok = code === 0 && !timedOut;
      const reason = timedOut
        ? `did not exit within ${timeoutMs} ms (something it opened is still open?)`
        : `exited with ${code ?? signal}`;
      const output = stderr.trim() === '' ? stdout.trim() : stderr.trim();
      resolve({ ok, failure: ok ? '' : `${reason}\n${output}`, stdout, durationMs });
    });
  });
}

export function blockLocation({ block }: WrittenBlock): string {
  return `${block.file}:${block.line}`;
}
