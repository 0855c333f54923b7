import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * How a fenced TypeScript block in the docs is checked: `check` is type-checked, `run` is also
 * executed, `fragment` is left alone (a deliberately partial snippet).
 */
export type BlockKind = 'check' | 'run' | 'fragment';

export interface CodeBlock {
  /** The Markdown file, as given (relative to the repo root in CI's output). */
  file: string;
  /** 1-based line of the block's first code line (the line after the opening fence). */
  line: number;
  kind: BlockKind;
  code: string;
}

const typescriptLanguages = new Set(['ts', 'typescript']);
const kindsByWord: Record<string, BlockKind> = { run: 'run', fragment: 'fragment' };

/**
 * The kind a fence's info string gives, or undefined for a block in another language. An unknown
 * word after `ts` is an error rather than a silent `check`, so a typo cannot switch a block off.
 */
export function kindOfInfo(info: string, where: string): BlockKind | undefined {
  const [language, word, ...rest] = info.trim().split(/\s+/);
  if (language === undefined || !typescriptLanguages.has(language.toLowerCase())) return undefined;
  if (word === undefined) return 'check';
  const kind = kindsByWord[word];
  if (kind === undefined || rest.length > 0) {
    throw new Error(`${where}: unknown code block info "${info.trim()}" (use ts, ts run or ts fragment)`);
  }
  return kind;
}

// Any indentation: a fence inside a nested list item sits deeper than CommonMark's 3 spaces from
// the page's margin, and a block missed here would go unchecked without a word.
const openingFence = /^( *)(`{3,}|~{3,})(.*)$/;

/**
 * Every fenced TypeScript block of a Markdown text, in order. Follows CommonMark's fences: a
 * closing fence uses the opening one's character and is at least as long; the opening fence's
 * indentation is removed from the code lines (blocks inside list items).
 */
export function extractBlocks(markdown: string, file: string): CodeBlock[] {
  const lines = markdown.split(/\r?\n/);
  const blocks: CodeBlock[] = [];
  for (let index = 0; index < lines.length; index++) {
    const opening = openingFence.exec(lines[index] ?? '');
    if (opening === null) continue;
    const [, indent = '', fence = '', info = ''] = opening;
    if (fence.startsWith('`') && info.includes('`')) continue; // an inline code span, not a fence
    const closing = new RegExp(`^ *${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    const body: string[] = [];
    let end = index + 1;
    while (end < lines.length && !closing.test(lines[end] ?? '')) {
      body.push(removeIndent(lines[end] ?? '', indent.length));
      end++;
    }
    const kind = kindOfInfo(info, `${file}:${index + 1}`);
    if (kind !== undefined) blocks.push({ file, line: index + 2, kind, code: body.join('\n') });
    index = end;
  }
  return blocks;
}

function removeIndent(line: string, width: number): string {
  let removed = 0;
  while (removed < width && line[removed] === ' ') removed++;
  return line.slice(removed);
}

/** The blocks of one Markdown file, named by `file`: a path relative to the repo root. */
export function extractFile(file: string): CodeBlock[] {
  return extractBlocks(readFileSync(join(repoRoot, file), 'utf8'), file);
}

/** README.md and every Markdown page under docs/, as absolute paths. */
export function documentationFiles(): string[] {
  const docs = join(repoRoot, 'docs');
  const pages = existsSync(docs)
    ? readdirSync(docs, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.md'))
    : [];
  return [join(repoRoot, 'README.md'), ...pages.sort().map((name) => join(docs, name))];
}

/** The broker a block talks to, from what it imports: its test is skipped when that broker is down. */
export type BrokerService = 'redis' | 'postgres' | 'rabbitmq' | 'nats';

const brokerImports: [RegExp, BrokerService][] = [
  [/['"](sluice\/redis|ioredis)['"]/, 'redis'],
  [/['"](sluice\/postgres|pg)['"]/, 'postgres'],
  [/['"](sluice\/amqp|amqplib)['"]/, 'rabbitmq'],
  [/['"](sluice\/nats|@nats-io\/[\w-]+)['"]/, 'nats'],
];

export function brokersOf(code: string): BrokerService[] {
  return brokerImports.filter(([pattern]) => pattern.test(code)).map(([, service]) => service);
}
