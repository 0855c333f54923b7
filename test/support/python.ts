import { execFile } from 'node:child_process';

/**
 * Runs Python code with Debian's interpreter, the one that sees Debian's python3-redis,
 * python3-psycopg2 and python3-pika (the `python3` first on PATH may be another). Interop tests
 * use it to be a producer or consumer that is not sluice.
 */
export const PYTHON = '/usr/bin/python3';

export interface PythonRun {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `code` (a whole script) with `args` as `sys.argv[1:]`; resolves with its output, rejects with
 * its stderr when it exits non-zero or runs longer than `timeout` ms.
 */
export function runPython(code: string, args: readonly string[] = [], timeout = 30_000): Promise<PythonRun> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      ['-c', code, ...args],
      { timeout, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`python failed (${error.message}):\n${stderr}`, { cause: error }));
        else resolve({ stdout, stderr });
      },
    );
  });
}

/**
 * Whether Debian's Python has `module`. Under CI=true a missing one is a failure (`.ci/run` installs
 * them); elsewhere the suite is skipped loudly, naming the package to install.
 */
export async function pythonModuleAvailable(module: string, debianPackage: string): Promise<boolean> {
  try {
    await runPython(`import ${module}`, [], 10_000);
    return true;
  } catch {
    const message = `${PYTHON} cannot import ${module}; install it with: apt-get install -y ${debianPackage}`;
    if (process.env.CI === 'true') throw new Error(`CI: ${message}`);
    console.warn(`\n!!! SKIPPED interop tests: ${message}\n`);
    return false;
  }
}
