/**
 * The tables a bench prints. Under `npm run bench -- --markdown`, bench/index.ts sets
 * PUBLISH_ENV for each bench it runs and reads every table back from one `@@bench {json}` line on
 * the bench's standard output, to write them into docs/benchmarks.md; run alone, a bench prints
 * its tables only.
 */
import { markdownTable } from './report.js';

export const PUBLISH_ENV = 'SLUICE_BENCH_PUBLISH';
export const PUBLISH_PREFIX = '@@bench ';

export interface PublishedTable {
  /** What the table measures, with its setup (sizes, runs): the table's caption in the docs. */
  readonly title: string;
  readonly headers: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** Prints the table for a terminal and, when asked to publish, hands it to bench/index.ts. */
export function printTable(
  title: string,
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): void {
  console.log(markdownTable(headers, rows));
  if (process.env[PUBLISH_ENV] !== '1') return;
  const table: PublishedTable = { title, headers, rows };
  console.log(`${PUBLISH_PREFIX}${JSON.stringify(table)}`);
}

/** The published table of one output line, or `undefined` for any other line. */
export function parsePublished(line: string): PublishedTable | undefined {
  if (!line.startsWith(PUBLISH_PREFIX)) return undefined;
  return JSON.parse(line.slice(PUBLISH_PREFIX.length)) as PublishedTable;
}
