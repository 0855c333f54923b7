/** The program's exit statuses (SPEC § 5) and the one line on stderr that says why an operation failed. */
import { CommanderError } from 'commander';
import { printable } from './table.js';

export const EXIT_OK = 0;
/** The operation was tried and failed: the broker refused it or could not be reached. */
export const EXIT_FAILED = 1;
/** The command line was wrong: nothing was tried. */
export const EXIT_USAGE = 2;

/** Commander's own outcomes that are not errors. */
const SUCCESSES = new Set(['commander.helpDisplayed', 'commander.version']);

/**
 * The exit status of an error out of parsing or a command. Commander has already printed its own
 * messages (usage errors, help); any other error is printed here, as one line.
 */
export function exitStatusOf(error: unknown, writeErr: (line: string) => void): number {
  if (error instanceof CommanderError) return SUCCESSES.has(error.code) ? EXIT_OK : EXIT_USAGE;
  writeErr(`${failureLine(error)}\n`);
  // Bad input the library refused at its boundary (a limit out of range, a queue name the broker
  // cannot hold): the command line was wrong, as with commander's own checks.
  return (error as { code?: unknown })?.code === 'INVALID_OPTION' ? EXIT_USAGE : EXIT_FAILED;
}

/** `CODE: message: cause's message`, on one line. */
export function failureLine(error: unknown): string {
  const { code, name, message, cause } = (error ?? {}) as Partial<Error & { code: unknown }>;
  const label = typeof code === 'string' ? code : (name ?? 'Error');
  let text = `${label}: ${message ?? String(error)}`;
  // A broker's own words (ECONNREFUSED, an authentication failure) tell the operator what to fix.
  const reason = cause instanceof Error ? cause.message : undefined;
  if (reason !== undefined && reason.length > 0 && !text.includes(reason)) text += `: ${reason}`;
  return printable(text.replace(/\s*[\r\n]+\s*/g, ' '));
}
