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
