/** Where a command's result goes: JSON for machines (`--json`), or text for an operator's terminal. */
export interface Output {
  readonly json: boolean;
  /** Characters a line of a table may take. */
  readonly width: number;
}

/**
 * The terminal's width; when stdout is not a terminal, `COLUMNS` (as shells and `ls` honour it), else
 * the classic 80.
 */
export function outputOf(json: boolean): Output {
  const fromEnv = Number.parseInt(process.env.COLUMNS ?? '', 10);
  const width = process.stdout.columns || (Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 80);
  return { json, width };
}

/** Writes `value` as JSON, or what `human` makes of it, with a final newline. */
export function print<V>(output: Output, value: V, human: (value: V, width: number) => string): void {
  // One line: a result reads as one record, line by line, from a pipe or a log.
  const text = output.json ? JSON.stringify(value) : human(value, output.width);
  process.stdout.write(`${text}\n`);
}
