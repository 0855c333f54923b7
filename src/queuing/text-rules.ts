/**
 * The rule every queue name and deduplication key keeps, on every queue: well-formed Unicode with no
 * control characters. A lone surrogate is stored by most brokers as U+FFFD, so `'q\uD800'` and
 * `'q\uFFFD'` would name one queue; a control character is stripped, rejected or cut at by some
 * brokers and protocols (NUL in PostgreSQL text, CR/LF in AMQP and NATS headers), so the same name
 * would mean different things on different backends.
 */
export function textProblem(value: string): string | undefined {
  if (!value.isWellFormed()) return 'holds a lone surrogate (not well-formed Unicode)';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'holds a control character';
  return undefined;
}

/**
 * What a `noun` (a key, a group) every queue stores as given must be, when `value` is not: a
 * non-empty string of at most `maxBytes` UTF-8 bytes under the rule above. `undefined` when it is.
 */
export function storableTextProblem(value: unknown, noun: string, maxBytes: number): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return 'a non-empty string';
  // A UTF-16 code unit takes at most 3 UTF-8 bytes: short values need no count.
  if (value.length * 3 > maxBytes && Buffer.byteLength(value) > maxBytes) {
    return `a ${noun} of at most ${maxBytes} UTF-8 bytes`;
  }
  const problem = textProblem(value);
  return problem === undefined ? undefined : `well-formed Unicode without control characters (it ${problem})`;
}
