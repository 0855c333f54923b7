/**
 * One measurement per child process, so each contender's peak RSS is its own and no contender
 * inherits another's heap or JIT state.
 *
 * A bench file is both the parent and the child:
 *
 *   const args = childArgs();
 *   if (args) reportToParent(await measure(...args));   // child: measure, print one result line
 *   else { const r = await runInChild<Result>(import.meta.url, ['sluice', '16']); ... }   // parent
 *
 * The child runs under tsx like the parent (`node --import tsx`), so it builds against `src/`.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD_FLAG = '--bench-child';
const RESULT_PREFIX = 'BENCH_RESULT ';

/** The arguments the parent passed, or `undefined` when this process is the parent. */
export function childArgs(): string[] | undefined {
  const at = process.argv.indexOf(CHILD_FLAG);
  return at === -1 ? undefined : process.argv.slice(at + 1);
}

/** Prints the child's result where `runInChild` looks for it. */
export function reportToParent(result: unknown): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

/** Runs `moduleUrl` (pass `import.meta.url`) as a child with `args`; resolves with what it reported. */
export function runInChild<R>(moduleUrl: string, args: string[]): Promise<R> {
  const tsx = import.meta.resolve('tsx');
  const file = fileURLToPath(moduleUrl);
  const child = spawn(process.execPath, ['--import', tsx, file, CHILD_FLAG, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const line = output.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code === 0 && line !== undefined) resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as R);
      else reject(new Error(`bench child ${file} ${args.join(' ')} exited with ${code}:\n${output}`));
    });
  });
}
