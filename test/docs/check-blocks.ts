/**
 * Checks the TypeScript code blocks of the docs: every `ts` block is type-checked, every `ts run`
 * block is also run with tsx; `ts fragment` blocks are skipped.
 *
 *   npx tsx test/docs/check-blocks.ts [files.md...]     (default: README.md and docs/**\/*.md)
 *
 * Exits 1 if any block fails, after printing each failure with its file.md:line.
 * test/docs/code-blocks.test.ts runs the same checks in the test suite.
 */
import { relative, resolve } from 'node:path';
import { type CodeBlock, documentationFiles, extractFile, repoRoot } from './extract-blocks.js';
import { blockLocation, runBlock } from './run-blocks.js';
import { formatProblems, removeBlocks, typecheckBlocks, writeBlocks } from './typecheck-blocks.js';

async function main(files: string[]): Promise<number> {
  const blocks: CodeBlock[] = files.flatMap((file) => extractFile(relative(repoRoot, resolve(file))));
  const checked = blocks.filter((block) => block.kind !== 'fragment');
  const fragments = blocks.length - checked.length;
  const written = writeBlocks(checked);
  try {
    let failures = 0;
    const started = performance.now();
    const problems = typecheckBlocks(written);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`type-checked ${checked.length} blocks in ${files.length} files (${seconds} s)`);
    if (problems.length > 0) {
      failures += new Set(problems.map(({ block }) => block)).size;
      console.log(`\n${formatProblems(problems)}\n`);
    }
    for (const entry of written.filter(({ block }) => block.kind === 'run')) {
      const result = await runBlock(entry);
      console.log(`${result.ok ? 'ran' : 'FAILED'} ${blockLocation(entry)} (${result.durationMs} ms)`);
      if (!result.ok) {
        failures++;
        console.log(`${indent(result.failure)}\n`);
      }
    }
    const skipped = fragments > 0 ? `, ${fragments} fragments not checked` : '';
    console.log(failures === 0 ? `all blocks pass${skipped}` : `${failures} blocks fail${skipped}`);
    return failures === 0 ? 0 : 1;
  } finally {
    removeBlocks();
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

const requested = process.argv.slice(2);
process.exitCode = await main(requested.length > 0 ? requested : documentationFiles());
