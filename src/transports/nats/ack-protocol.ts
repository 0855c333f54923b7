import type { Msg } from '@nats-io/transport-node';

/** Answers to a JetStream message, published on its ack subject. */
export const ACK = Uint8Array.of(43, 65, 67, 75); // +ACK: done, removed from the WorkQueue stream
export const NAK = Uint8Array.of(45, 78, 65, 75); // -NAK: redeliver now
export const WORKING = Uint8Array.of(43, 87, 80, 73); // +WPI: still working, restart the ack_wait clock
const encoder = new TextEncoder();

/** -NAK with a delay: redeliver after `ms`. */
export function nakWithDelay(ms: number): Uint8Array {
  return encoder.encode(`-NAK {"delay":${Math.round(ms * 1e6)}}`);
}

/** Answers a message; false when the connection is closed (JetStream redelivers it after ack_wait). */
export function respond(msg: Msg, answer: Uint8Array): boolean {
  try {
    msg.respond(answer);
    return true;
  } catch {
    return false;
  }
}

/**
 * What a JetStream message's ack subject says about it. Two formats exist:
 *   $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>
 *   $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>[.<token>]
 * Each returns undefined for anything else: a status message (408 request expired, 503, ...) has no ack subject.
 */
export function deliveryCount(reply: string | undefined): number | undefined {
  return ackField(reply, 4);
}

/** The message's sequence in its stream: the same on every delivery of it. */
export function streamSequence(reply: string | undefined): number | undefined {
  return ackField(reply, 5);
}

/** A positive integer field, by its index in the first format (the second has two tokens more before it). */
function ackField(reply: string | undefined, index: number): number | undefined {
  if (reply === undefined || !reply.startsWith('$JS.ACK.')) return undefined;
  const tokens = reply.split('.');
  const value = Number(tokens[tokens.length === 9 ? index : index + 2]);
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

/** The last token of a subject: the band or `delayed` of a stored message, of a pull's reply subject. */
export function lastToken(subject: string): string {
  return subject.slice(subject.lastIndexOf('.') + 1);
}
