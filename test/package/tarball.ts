/**
 * Packs the package as `npm publish` would ship it, from the `dist/` that `npm run build` made.
 * Tests never build: other test files may read `dist/` while these run, so a missing build is a
 * failure that says what to run, and `--ignore-scripts` keeps `npm pack` from running any.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const exec = promisify(execFile);

/** Runs a command, resolving with its standard output; a failure carries both streams in its message. */
export async function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; timeout?: number; env?: NodeJS.ProcessEnv },
): Promise<string> {
  try {
    const { stdout } = await exec(command, args, {
      cwd: options.cwd,
      timeout: options.timeout ?? 60_000,
      env: options.env ?? process.env,
      maxBuffer: 32 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${command} ${args.join(' ')} failed in ${options.cwd}:\n${failed.stdout ?? ''}${failed.stderr ?? failed.message}`,
    );
  }
}

/**
 * The environment without the `npm_*` variables an enclosing `npm test` sets (this repository's
 * prefix and package among them), so an `npm` run here acts on its own folder only.
 */
export function npmEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
}

/** A binary installed in the repository's node_modules. */
export function bin(name: string): string {
  return join(repoRoot, 'node_modules', '.bin', name);
}

export interface Packed {
  /** The temporary folder holding the tarball; `remove()` deletes it. */
  readonly dir: string;
  readonly tarball: string;
  /** Every path in the tarball, relative to the package root, sorted. */
  readonly files: readonly string[];
  remove(): Promise<void>;
}

export async function pack(): Promise<Packed> {
  if (!existsSync(join(repoRoot, 'dist', 'index.js'))) {
    throw new Error('dist/ is missing: run npm run build first (the package tests pack what it built)');
  }
  const dir = await mkdtemp(join(tmpdir(), 'sluice-pack-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    const output = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], {
      cwd: repoRoot,
      env: npmEnvironment(),
    });
    const [report] = JSON.parse(output) as [{ filename: string; files: { path: string }[] }];
    const files = report.files.map((file) => file.path).sort();
    return { dir, tarball: join(dir, report.filename), files, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
