import { createRequire } from 'node:module';

/** The package's version, read from its package.json (two folders up, in src/ as in dist/). */
export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string })
  .version;
