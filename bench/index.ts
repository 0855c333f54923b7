/**
 * `npm run bench`: runs every `bench/*.ts` file but this one, one after another, each in its own
 * process, printing its output as it comes. A file added later is picked up without changing this.
 * Exits non-zero when any bench failed, after running the others.
 *
 * `npm run bench -- redis memory` runs only those files. `--markdown` also writes each bench's
 * tables into docs/benchmarks.md (bench/support/bench-doc.ts), replacing the sections of the
 * benches that ran and succeeded.
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { renderSection, writeSections } from './support/bench-doc.js';
import { PUBLISH_ENV, type PublishedTable, parsePublished } from './support/publish.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const self = basename(fileURLToPath(import.meta.url));
const tsx = import.meta.resolve('tsx');
const document = join(here, '..', 'docs', 'benchmarks.md');

const args = process.argv.slice(2);
const markdown = args.includes('--markdown');
const names = args.filter((arg) => !arg.startsWith('--'));
const unknownFlags = args.filter((arg) => arg.startsWith('--') && arg !== '--markdown');

async function run(file: string): Promise<{ code: number | null; tables: PublishedTable[] }> {
  const child = spawn(process.execPath, ['--import', tsx, `${here}${file}`], {
    stdio: ['inherit', markdown ? 'pipe' : 'inherit', 'inherit'],
    env: markdown ? { ...process.env, [PUBLISH_ENV]: '1' } : process.env,
  });
  const exit = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const tables: PublishedTable[] = [];
  if (child.stdout) {
    for await (const line of createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY })) {
      const table = parsePublished(line);
      if (table) tables.push(table);
      else console.log(line);
    }
  }
  return { code: await exit, tables };
}

const files = (await readdir(here, { withFileTypes: true }))
  .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && entry.name !== self)
  .map((entry) => entry.name)
  .sort();
const unknown = names.filter((name) => !files.includes(`${name}.ts`));
if (unknown.length > 0 || unknownFlags.length > 0) {
  console.error(`Unknown: ${[...unknownFlags, ...unknown].join(', ')}.`);
  console.error(
    `Usage: npm run bench -- [--markdown] [${files.map((file) => basename(file, '.ts')).join(' | ')} ...]`,
  );
  process.exit(2);
}
const chosen = names.length === 0 ? files : files.filter((file) => names.includes(basename(file, '.ts')));
const command = ['npm run bench --', '--markdown', ...names].join(' ');

const failed: string[] = [];
const sections = new Map<string, string>();
for (const file of chosen) {
  console.log(`\n# bench/${file}\n`);
  const { code, tables } = await run(file);
  if (code !== 0) failed.push(`bench/${file} (exit ${code})`);
  else if (tables.length > 0) sections.set(file, renderSection(file, command, tables));
  else if (markdown) failed.push(`bench/${file} (published no table)`);
}
if (markdown && sections.size > 0) {
  await writeSections(document, sections, names.length === 0 && failed.length === 0);
  console.log(
    `\ndocs/benchmarks.md: ${[...sections.keys()].map((file) => `bench/${file}`).join(', ')} written`,
  );
}
if (failed.length > 0) {
  console.error(`\nFailed: ${failed.join(', ')}`);
  process.exitCode = 1;
}
