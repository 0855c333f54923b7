import type { DeadLetter } from '../operations.js';
import type { Buffer } from './buffers.js';
import type { DelayedMessages } from './delayed.js';
import type { MemoryDelivery } from './memory-delivery.js';

/**
 * How a MemoryQueue that dead-letters into another MemoryQueue shows that queue's messages as its
 * dead letters: through `letterHolder`, a capability keyed by a symbol (not public API) that every
 * MemoryQueue offers. Any other dead-letter producer is a black box: no dead letters to show.
 */
export const letterHolder: unique symbol = Symbol('sluice.letterHolder');

/** What the dead-lettering queue knew when it dead-lettered a message. */
export interface LetterFacts {
  readonly reason: string;
  readonly attempt: number;
  /** The message's priority, which a redrive gives it back. */
  readonly priority: number;
}

export interface LetterRecord extends LetterFacts {
  readonly id: string;
  readonly deadAt: number;
}

/** A MemoryQueue's core, as the queues dead-lettering into it use it. */
export interface LetterHolder<T> {
  /** Messages held: ready or delayed. */
  readonly size: number;
  /** Its ready and its delayed messages: the dead letters it shows. */
  readonly buffer: Buffer<MemoryDelivery<T>>;
  readonly delayed: DelayedMessages<MemoryDelivery<T>>;
  /**
   * `send` for a dead letter, in its group: accepted (or refused, or made to wait for room) as `send`
   * would be.
   */
  sendLetter(
    message: T,
    facts: LetterFacts,
    headers: Readonly<Record<string, string>>,
    group: string | undefined,
  ): Promise<void>;
  /** Deletes the held messages `match` accepts; returns them. */
  remove(match: (delivery: MemoryDelivery<T>) => boolean): MemoryDelivery<T>[];
}

/** The record of each dead letter held by a MemoryQueue (deliveries are never shared between queues). */
const records = new WeakMap<MemoryDelivery<unknown>, LetterRecord>();

/** Records a dead letter as its holder accepts it: its id is its place in the holder. */
export function recordLetter<T>(delivery: MemoryDelivery<T>, facts: LetterFacts): void {
  records.set(delivery, { ...facts, id: String(delivery.seq), deadAt: Date.now() });
}

/** The dead-letter producer's holder, if it is a MemoryQueue. */
export function holderOf<T>(producer: object | undefined): LetterHolder<T> | undefined {
  return (producer as { [letterHolder]?: LetterHolder<T> } | undefined)?.[letterHolder];
}

export interface HeldLetter<T> {
  readonly delivery: MemoryDelivery<T>;
  readonly record: LetterRecord;
}

/** Every held letter, oldest first (ids number the holder's messages in their order of arrival). */
export function listLetters<T>(holder: LetterHolder<T>): HeldLetter<T>[] {
  return [...holder.buffer.toArray(), ...holder.delayed.toArray()]
    .map((delivery) => ({ delivery, record: recordOf(delivery) }))
    .sort((a, b) => Number(a.record.id) - Number(b.record.id));
}

export function deadLetterOf<T>({ delivery, record }: HeldLetter<T>): DeadLetter<T> {
  const { id, reason, attempt, deadAt } = record;
  return { id, message: delivery.message, reason, attempt, deadAt };
}

/**
 * A held message's record. One sent to the holder directly, not dead-lettered by a MemoryQueue, gets
 * its id from its place in the holder and the time it was first shown as its `deadAt`.
 */
function recordOf<T>(delivery: MemoryDelivery<T>): LetterRecord {
  let record = records.get(delivery);
  if (record === undefined) {
    const { seq, attempt, priority } = delivery;
    record = { id: String(seq), reason: '', attempt, priority, deadAt: Date.now() };
    records.set(delivery, record);
  }
  return record;
}
