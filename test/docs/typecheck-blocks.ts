import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { type CodeBlock, repoRoot } from './extract-blocks.js';

/**
 * Where block files are written: inside the repo, so tsconfig.json's `paths` ('sluice',
 * 'sluice/redis', ...) and node_modules resolve for them exactly as for the repo's own code.
 */
export const blocksDir = join(repoRoot, '.tmp', 'docs-blocks');

/** This process's own directory under blocksDir: several checks may run at once in one tree. */
export function processBlocksDir(): string {
  return join(blocksDir, String(process.pid));
}

/** A block written to disk, ready for the compiler and for tsx. */
export interface WrittenBlock {
  block: CodeBlock;
  path: string;
}

export interface BlockProblem {
  block: CodeBlock;
  /** `file.md:line`, the line of the Markdown file the message is about. */
  location: string;
  message: string;
}

const hasModuleSyntax = /^\s*(import|export)\b/m;

/**
 * Writes each block to its own file, named after its page and line so that a leftover file says
 * where it came from. A block without import or export gets `export {}`: every block is an ES
 * module, so top-level await works and two blocks' names never collide.
 */
export function writeBlocks(blocks: CodeBlock[], dir = processBlocksDir()): WrittenBlock[] {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return blocks.map((block) => {
    const name = `${block.file.replace(/^[./]+/, '').replace(/[^\w-]+/g, '_')}_${block.line}.ts`;
    const path = join(dir, name);
    const code = hasModuleSyntax.test(block.code) ? block.code : `${block.code}\nexport {};`;
    writeFileSync(path, `${code}\n`);
    return { block, path };
  });
}

/** The repo's compiler options, from tsconfig.json, as the blocks are to be checked with. */
export function repoCompilerOptions(): ts.CompilerOptions {
  const configPath = join(repoRoot, 'tsconfig.json');
  const { config, error } = ts.readConfigFile(configPath, ts.sys.readFile);
  if (error !== undefined) throw new Error(formatPlain(error));
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, repoRoot, undefined, configPath);
  if (parsed.errors.length > 0) throw new Error(parsed.errors.map(formatPlain).join('\n'));
  return { ...parsed.options, noEmit: true, declaration: false, sourceMap: false };
}

/**
 * Type-checks every written block in one TypeScript program (the library's sources are parsed
 * once for all of them) and maps each diagnostic back to the Markdown line it is about.
 */
export function typecheckBlocks(written: WrittenBlock[]): BlockProblem[] {
  if (written.length === 0) return [];
  const program = ts.createProgram({
    rootNames: written.map(({ path }) => path),
    options: repoCompilerOptions(),
  });
  const problems: BlockProblem[] = program.getOptionsDiagnostics().map((diagnostic) => ({
    block: written[0]!.block,
    location: 'tsconfig.json',
    message: formatPlain(diagnostic),
  }));
  for (const { block, path } of written) {
    const source = program.getSourceFile(path);
    if (source === undefined) throw new Error(`the compiler did not load ${path}`);
    const diagnostics = [
      ...program.getSyntacticDiagnostics(source),
      ...program.getSemanticDiagnostics(source),
    ];
    for (const diagnostic of diagnostics) {
      const offset =
        diagnostic.start === undefined ? 0 : source.getLineAndCharacterOfPosition(diagnostic.start).line;
      problems.push({
        block,
        location: `${block.file}:${block.line + offset}`,
        message: formatPlain(diagnostic),
      });
    }
  }
  return problems;
}

function formatPlain(diagnostic: ts.Diagnostic): string {
  return ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
}

export function removeBlocks(dir = processBlocksDir()): void {
  rmSync(dir, { recursive: true, force: true });
}

export function formatProblems(problems: BlockProblem[]): string {
  return problems.map(({ location, message }) => `${location}: ${message}`).join('\n');
}
