/**
 * How a queue name maps onto JetStream. One stream per queue, one subject per priority band plus one
 * for delayed messages, one durable pull consumer per subject (a WorkQueue stream needs their filters
 * disjoint, which these are):
 *
 *   stream    sluice-<queue>             subjects sluice.<queue>.*
 *   band      sluice.<queue>.p<priority> consumer p<priority>
 *   delayed   sluice.<queue>.delayed     consumer delayed
 *
 * `<queue>` is the name with every character outside [A-Za-z0-9-] written as `_` and two hex digits
 * per UTF-8 byte, so any name gives valid, distinct stream names and subject tokens
 * (`orders.dead` → `orders_2edead`).
 */
export const DELAYED = 'delayed';

/** JetStream's deduplication header: a send's `key`, and what makes a retried copy or move store once. */
export const MSG_ID_HEADER = 'Nats-Msg-Id';
/** On `sluice.<queue>.delayed`: when the message is due (epoch milliseconds). */
export const DUE_HEADER = 'Sluice-Due';
/** On `sluice.<queue>.delayed`: the priority band it goes to once due (default 0). */
export const PRIORITY_HEADER = 'Sluice-Priority';
/** On a dead-letter copy: why it was dead-lettered (reasons.ts wording, on one line). */
export const DEAD_REASON_HEADER = 'Sluice-Dead-Reason';

export function encodeName(name: string): string {
  let out = '';
  for (const char of name) {
    if (/[A-Za-z0-9-]/.test(char)) out += char;
    else for (const byte of Buffer.from(char)) out += `_${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export function streamName(queue: string): string {
  return `sluice-${encodeName(queue)}`;
}

export function subjectPrefix(queue: string): string {
  return `sluice.${encodeName(queue)}.`;
}

/** The consumer name and subject token of a priority band: `p5`, `p-2`, `p1_5` (for 1.5). */
export function bandToken(priority: number): string {
  const normalised = priority === 0 ? 0 : priority; // -0 and 0 share a band
  return `p${String(normalised).replace('.', '_').replace('+', '')}`;
}

/** The priority of a band token, or undefined when the token is not a band (e.g. `delayed`). */
export function bandPriority(token: string): number | undefined {
  if (!token.startsWith('p')) return undefined;
  const priority = Number(token.slice(1).replace('_', '.'));
  return Number.isFinite(priority) && bandToken(priority) === token ? priority : undefined;
}
