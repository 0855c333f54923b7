import { DEAD_ATTEMPT_HEADER, DEAD_REASON_HEADER, MSG_ID_HEADER } from './names.js';

/**
 * What a dead-letter copy adds to a message, bounded so that the producer can keep room for it: a
 * message JetStream stored but whose copy it refused for size could never be dead-lettered.
 */

/** The most UTF-8 bytes a `Sluice-Dead-Reason` header holds: a longer reason is cut, ending with `…`. */
export const DEAD_REASON_MAX_BYTES = 1024;

const ELLIPSIS = '…';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A reason as its header holds it: on one line, at most DEAD_REASON_MAX_BYTES, cut with `…`. */
export function reasonHeader(reason: string): string {
  const line = reason.replace(/[\r\n]+/g, ' ');
  if (line.length * 3 <= DEAD_REASON_MAX_BYTES) return line; // no UTF-16 unit takes more than 3 bytes
  const bytes = encoder.encode(line);
  if (bytes.length <= DEAD_REASON_MAX_BYTES) return line;
  let end = DEAD_REASON_MAX_BYTES - encoder.encode(ELLIPSIS).length;
  while ((bytes[end]! & 0xc0) === 0x80) end--; // never cut a character in two
  return decoder.decode(bytes.subarray(0, end)) + ELLIPSIS;
}

/**
 * The most bytes a dead-letter copy of a message from `stream` adds to its body: the copy's header
 * block (the longest reason, the attempt, the `Nats-Msg-Id` with the longest sequence and time), and what writing
 * the stored id into an envelope that had none adds. Refused on receive, such an envelope is stored
 * re-encoded with its id and the envelope's defaults (shared/admit.ts), which takes more than the id
 * DeadLetters appends after a nack. A body this much under `max_payload` can be dead-lettered, and
 * moved once due (the move's header is shorter), unless re-encoding its JSON makes it longer.
 */
export function deadLetterRoom(stream: string): number {
  const longest = '9'.repeat(20); // a uint64, as sequence or nanoseconds
  const storedId = `${stream}:${longest}`;
  const header =
    `NATS/1.0\r\n${DEAD_REASON_HEADER}: ${'x'.repeat(DEAD_REASON_MAX_BYTES)}\r\n` +
    `${DEAD_ATTEMPT_HEADER}: ${longest}\r\n` +
    `${MSG_ID_HEADER}: dead:${storedId}:${longest}\r\n\r\n`;
  // `"id":…,"type":null,"attempt":1,"headers":{},`: the object less its braces, plus a comma.
  const idAndDefaults = JSON.stringify({ id: storedId, type: null, attempt: 1, headers: {} }).length - 1;
  return Buffer.byteLength(header) + idAndDefaults;
}
