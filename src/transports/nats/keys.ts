import { createHash } from 'node:crypto';

/**
 * How a send's `key` becomes its `Nats-Msg-Id`, so that two different keys never share one. A key
 * is written as it is unless a header would not carry it unchanged or it is long:
 * - NATS clients trim whitespace off both ends of a header value (`' k '` would arrive as `k`), so
 *   a key with whitespace at either end is written `%` + its percent-encoding (encodeURIComponent);
 *   so is a key starting with `%`, which would otherwise pass for one written that way;
 * - a key whose id would take more than MAX_PLAIN_ID_BYTES is written `%sha256:<hex digest>`:
 *   JetStream refuses a header block over 64 KiB, the id counts against `max_payload`, and the
 *   server keeps every id for the stream's duplicate window. A percent-encoding never holds `:`.
 */

/** The longest `Nats-Msg-Id` a key is written as, in UTF-8 bytes, before it is hashed instead. */
const MAX_PLAIN_ID_BYTES = 256;

const ESCAPE = '%';

export function msgIdOf(key: string): string {
  const id = /^\s|\s$/.test(key) || key.startsWith(ESCAPE) ? ESCAPE + encodeURIComponent(key) : key;
  // A UTF-16 code unit takes at most 3 UTF-8 bytes: short ids need no count.
  if (id.length * 3 <= MAX_PLAIN_ID_BYTES || Buffer.byteLength(id) <= MAX_PLAIN_ID_BYTES) return id;
  return `${ESCAPE}sha256:${createHash('sha256').update(key).digest('hex')}`;
}
