/**
 * `npm run bench`: runs every `bench/*.ts` file but this one, one after another, each in its own
 * process, printing its output as it comes. A file added later is picked up without changing this.
 * Exits non-zero when any bench failed, after running the others.
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const self = basename(fileURLToPath(import.meta.url));
const tsx = import.meta.resolve('tsx');

function run(file: string): Promise<number | null> {
  const child = spawn(process.execPath, ['--import', tsx, `${here}${file}`], { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
}

const files = (await readdir(here, { withFileTypes: true }))
  .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && entry.name !== self)
  .map((entry) => entry.name)
  .sort();

const failed: string[] = [];
for (const file of files) {
  console.log(`\n# bench/${file}\n`);
  const code = await run(file);
  if (code !== 0) failed.push(`bench/${file} (exit ${code})`);
}
if (failed.length > 0) {
  console.error(`\nFailed: ${failed.join(', ')}`);
  process.exitCode = 1;
}
