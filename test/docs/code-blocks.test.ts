/**
 * The docs cannot drift from the code: every `ts` block of README.md and docs/**\/*.md type-checks
 * against the sources, and every `ts run` block runs to exit 0 (the ones that import a broker's
 * entry point only when that broker is up). test/docs/check-blocks.ts is the same check as a CLI.
 */
import { relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerAvailable } from '../support/broker.js';
import {
  type BrokerService,
  brokersOf,
  documentationFiles,
  extractFile,
  repoRoot,
} from './extract-blocks.js';
import { runBlock, runTimeoutMs } from './run-blocks.js';
import {
  type BlockProblem,
  formatProblems,
  removeBlocks,
  typecheckBlocks,
  type WrittenBlock,
  writeBlocks,
} from './typecheck-blocks.js';

const pages = documentationFiles().map((path) => relative(repoRoot, path));
const blocks = pages.flatMap(extractFile).filter((block) => block.kind !== 'fragment');
const written: WrittenBlock[] = writeBlocks(blocks);
const runnable = written.filter(({ block }) => block.kind === 'run');

const neededBrokers = new Set(runnable.flatMap(({ block }) => brokersOf(block.code)));
const brokerUp = new Map<BrokerService, boolean>();
for (const service of neededBrokers) brokerUp.set(service, await brokerAvailable(service));

let problems: BlockProblem[] = [];
beforeAll(() => {
  problems = typecheckBlocks(written);
});
afterAll(() => removeBlocks());

describe('docs code blocks type-check', () => {
  it('finds the pages and their blocks', () => {
    expect(pages).toContain('README.md');
    expect(blocks.length).toBeGreaterThan(0);
  });

  it.each(pages)('%s', (page) => {
    const onPage = problems.filter(({ block }) => block.file === page);
    expect(formatProblems(onPage), 'blocks that do not type-check').toBe('');
  });
});

describe('docs ts run blocks run', () => {
  for (const entry of runnable) {
    const { file, line, code } = entry.block;
    const up = brokersOf(code).every((service) => brokerUp.get(service) === true);
    it.runIf(up)(`${file}:${line}`, { timeout: runTimeoutMs + 5_000 }, async () => {
      const result = await runBlock(entry);
      expect(result.ok, `${file}:${line} ${result.failure}`).toBe(true);
    });
  }
});
