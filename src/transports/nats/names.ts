import { createHash } from 'node:crypto';

/**
 * How a queue name maps onto JetStream. One stream per queue, one subject per priority band plus one
 * for delayed messages, one durable pull consumer per subject (a WorkQueue stream needs their filters
 * disjoint, which these are):
 *
 *   stream    sluice-<queue>             subjects sluice.<queue>.*
 *   band      sluice.<queue>.p<band>     consumer p<band>
 *   delayed   sluice.<queue>.delayed     consumer delayed
 *   grouped   sluice.<queue>.p<band>_<g> consumer p<band>_<g>    (see groupToken)
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
/** On a dead-letter copy: the attempt the message had reached (JetStream's delivery count). */
export const DEAD_ATTEMPT_HEADER = 'Sluice-Dead-Attempt';

export function encodeName(name: string): string {
  let out = '';
  for (const char of name) {
    if (/[A-Za-z0-9-]/.test(char)) out += char;
    else for (const byte of Buffer.from(char)) out += `_${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The name `encodeName` writes as `encoded`; undefined when no name is written so. */
export function decodeName(encoded: string): string | undefined {
  if (!/^(?:[A-Za-z0-9-]|_[0-9a-f]{2})*$/.test(encoded)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    if (encoded[i] === '_') {
      bytes.push(Number.parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(encoded.charCodeAt(i));
  }
  const name = Buffer.from(bytes).toString('utf8');
  return encodeName(name) === encoded ? name : undefined; // not malformed UTF-8, nor `_41` for `A`
}

export function streamName(queue: string): string {
  return `sluice-${encodeName(queue)}`;
}

export function subjectPrefix(queue: string): string {
  return `sluice.${encodeName(queue)}.`;
}

/** JetStream's longest stream name, in bytes: a queue whose stream name is longer is refused. */
export const MAX_STREAM_NAME_BYTES = 255;

/**
 * Priorities from -9 to 9 have a band each; beyond them, one band per power of ten up to this one,
 * which takes every priority from it up (and its negative every one from it down).
 */
const OUTERMOST_BAND = 1000;

/**
 * The consumer name and subject token of a priority's band: `p0`, `p5`, `p-2`, `p10`, `p-1000`.
 * The priority is rounded; -9..9 each have their own band, 10..99 share `p10`, 100..999 `p100`,
 * 1000 and above `p1000`, and likewise below -9. So any number of distinct priorities makes at most
 * 25 bands (each a consumer the server keeps and a consumer pulls), and a higher priority is never
 * in a lower band.
 */
export function bandToken(priority: number): string {
  const rounded = Math.round(priority);
  const size = Math.abs(rounded);
  if (size < 10) return `p${rounded === 0 ? 0 : rounded}`; // -0 and 0 share a band
  let band = 10;
  while (band < OUTERMOST_BAND && size >= band * 10) band *= 10;
  return `p${rounded < 0 ? -band : band}`;
}

/**
 * The priority of a band token, or undefined when the token is not one of the bands (e.g.
 * `delayed`, or a consumer someone else named `p42`).
 */
export function bandPriority(token: string): number | undefined {
  if (!token.startsWith('p')) return undefined;
  const priority = Number(token.slice(1));
  return bandToken(priority) === token ? priority : undefined;
}

/** Groups whose base64url takes at most this many characters are written as it is, longer ones hashed. */
const PLAIN_GROUP_CHARS = 43;
const GROUP_KEY = /^(?:g[A-Za-z0-9_-]{1,43}|h[A-Za-z0-9_-]{43})$/;

/**
 * A group as one subject token, consumer name and key-value key: `g` and the base64url of its UTF-8
 * when that is at most 43 characters (a group of up to 32 bytes), else `h` and the base64url of
 * its SHA-256. Distinct groups give distinct keys, of `[A-Za-z0-9_-]` only.
 */
export function groupKey(group: string): string {
  const plain = Buffer.from(group, 'utf8').toString('base64url');
  if (plain.length <= PLAIN_GROUP_CHARS) return `g${plain}`;
  return `h${createHash('sha256').update(group, 'utf8').digest('base64url')}`;
}

/** The subject token and consumer name of a group's band: `p0_gdGVuYW50LTQy`. */
export function groupToken(priority: number, group: string): string {
  return `${bandToken(priority)}_${groupKey(group)}`;
}

/** A grouped token's band and group key; undefined for any other token. */
export function parseGroupToken(token: string): { band: string; priority: number; key: string } | undefined {
  const at = token.indexOf('_');
  if (at < 0) return undefined;
  const band = token.slice(0, at);
  const key = token.slice(at + 1);
  const priority = bandPriority(band);
  return priority === undefined || !GROUP_KEY.test(key) ? undefined : { band, priority, key };
}

/**
 * The core NATS subject (no stream holds it) on which a grouped send publishes its subject token,
 * so consumers pull that group at once rather than at their next look at the consumers' counts.
 */
export function readySubject(queue: string): string {
  return `sluice-ready.${encodeName(queue)}`;
}
