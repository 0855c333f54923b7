import type { Msg } from '@nats-io/transport-node';
import { MAX_DELAY } from '../shared/broker-options.js';

/** Answers to a JetStream message, published on its ack subject. */
export const ACK = Uint8Array.of(43, 65, 67, 75); // +ACK: done, removed from the WorkQueue stream
export const NAK = Uint8Array.of(45, 78, 65, 75); // -NAK: redeliver now
export const WORKING = Uint8Array.of(43, 87, 80, 73); // +WPI: still working, restart the ack_wait clock
const encoder = new TextEncoder();

/**
 * -NAK with a delay: redeliver after `ms`, at most MAX_DELAY. JetStream reads the delay as int64
 * nanoseconds and adds it to the present as nanoseconds since 1970, which overflow in 2262: a longer
 * delay (a foreign `Sluice-Due` far ahead) would be a plain -NAK, redelivered at once, again and again.
 */
export function nakWithDelay(ms: number): Uint8Array {
  return encoder.encode(`-NAK {"delay":${Math.round(Math.min(ms, MAX_DELAY) * 1e6)}}`);
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

/**
 * Names one stored message for good: `<stream>:<sequence>:<stored at, ns>`, the same on every
 * delivery of it. The time tells apart two messages with one sequence in a stream deleted and made
 * again. The name a dead-letter copy or a delayed message's move is stored under, so that a retry
 * within the duplicate window stores it once (see dead-letter.ts) and two messages never share it.
 */
export function storedName(reply: string | undefined): string {
  const tokens = ackTokens(reply);
  if (tokens === undefined) throw new TypeError(`not a JetStream ack subject: ${reply}`);
  return `${tokens[2]}:${tokens[5]}:${tokens[7]}`;
}

/** A positive integer field, by its index in the first format. */
function ackField(reply: string | undefined, index: number): number | undefined {
  const value = Number(ackTokens(reply)?.[index]);
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

/** The tokens of an ack subject in the first format (the second's domain and account left out). */
function ackTokens(reply: string | undefined): string[] | undefined {
  if (reply === undefined || !reply.startsWith('$JS.ACK.')) return undefined;
  const tokens = reply.split('.');
  return tokens.length === 9 ? tokens : [tokens[0]!, tokens[1]!, ...tokens.slice(4)];
}

/** The last token of a subject: the band or `delayed` of a stored message, of a pull's reply subject. */
export function lastToken(subject: string): string {
  return subject.slice(subject.lastIndexOf('.') + 1);
}
