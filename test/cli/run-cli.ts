/** Runs the real `sluice` program as a child process, as an operator's shell would. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function start(args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', main, ...args], {
    cwd: root,
    // A fixed width, so that tables cut messages the same way on every machine.
    env: { ...process.env, COLUMNS: '100', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs `sluice …args` to its end; a program still running after `timeoutMs` is killed and the test fails. */
export function runCli(
  args: readonly string[],
  { env = {}, timeoutMs = 30_000 }: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  const child = start(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sluice ${args.join(' ')} still ran after ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `sluice …args` and parses its stdout as JSON, failing with its stderr when it did not exit 0. */
export async function cliJson<T = any>(args: readonly string[]): Promise<T> {
  const { code, stdout, stderr } = await runCli([...args, '--json']);
  if (code !== 0) throw new Error(`sluice ${args.join(' ')} exited ${code}: ${stderr}`);
  return JSON.parse(stdout) as T;
}

/** A program that keeps running (the dashboard): resolves with it once it printed its first line. */
export async function startCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; firstLine: string; stderr: () => string }> {
  const child = start(args, env);
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  const lines = createInterface({ input: child.stdout! });
  const firstLine = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`sluice exited ${code} before printing: ${stderr}`)));
  });
  return { child, firstLine, stderr: () => stderr };
}
