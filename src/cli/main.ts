#!/usr/bin/env node
/** The `sluice` program (the package's `bin`). Exit status: 0 done, 1 the operation failed, 2 a usage error. */
import { exitStatusOf } from './exit.js';
import { program } from './program.js';

try {
  await program().parseAsync(process.argv);
} catch (error) {
  // Not process.exit(): stdout may still be flushing into a pipe; every connection is closed by now.
  process.exitCode = exitStatusOf(error, (line) => process.stderr.write(line));
}
