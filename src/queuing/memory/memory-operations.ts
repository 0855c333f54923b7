import type { DeadLetter, QueueStats } from '../operations.js';
import type { ResolvedDeadLettersOptions, ResolvedRedriveOptions } from '../operations-options.js';
import { deadLetterOf, type HeldLetter, type LetterHolder, listLetters } from './letters.js';
import type { MemoryCore } from './memory-core.js';

/**
 * MemoryQueue's operator face, on its core and on its dead-letter MemoryQueue's core (`dead`,
 * `undefined` when the dead-letter producer is none or not a MemoryQueue: no dead letters to show).
 * Counts are read off the queue's own bookkeeping; the dead-letter calls scan the held letters,
 * which an operator's call may do and the hot path never does.
 */
export function memoryStats<T>(core: MemoryCore<T>, dead: LetterHolder<T> | undefined): QueueStats {
  const { buffer, delayed, inFlight, paused } = core;
  return { ready: buffer.size, delayed: delayed.size, inFlight, dead: dead?.size ?? 0, paused };
}

export function memoryDeadLetters<T>(
  dead: LetterHolder<T> | undefined,
  { limit, after }: ResolvedDeadLettersOptions,
): DeadLetter<T>[] {
  if (dead === undefined) return [];
  // Ids count up: a page starts after its `after` even when that letter is gone meanwhile.
  const from = after === undefined ? -1 : Number(after);
  return listLetters(dead)
    .filter(({ record }) => Number(record.id) > from)
    .slice(0, limit)
    .map(deadLetterOf);
}

/** Moves the letters back as new messages, oldest first, each keeping its priority and its group. */
export function memoryRedrive<T>(
  core: MemoryCore<T>,
  dead: LetterHolder<T> | undefined,
  { limit, ids }: ResolvedRedriveOptions,
): number {
  const moving = chosen(dead, ids).slice(0, limit);
  const removed = removeAll(dead, moving);
  for (const { delivery, record } of moving) {
    if (removed.has(delivery)) {
      core.redriven(delivery.message, record.priority, delivery.headers, delivery.group);
    }
  }
  return removed.size;
}

export function memoryDiscard<T>(dead: LetterHolder<T> | undefined, ids: readonly string[]): number {
  return removeAll(dead, chosen(dead, ids)).size;
}

function chosen<T>(dead: LetterHolder<T> | undefined, ids: readonly string[] | undefined): HeldLetter<T>[] {
  if (dead === undefined) return [];
  const letters = listLetters(dead);
  if (ids === undefined) return letters;
  const wanted = new Set(ids);
  return letters.filter(({ record }) => wanted.has(record.id));
}

function removeAll<T>(dead: LetterHolder<T> | undefined, letters: HeldLetter<T>[]): Set<unknown> {
  if (dead === undefined || letters.length === 0) return new Set();
  const deliveries = new Set(letters.map(({ delivery }) => delivery));
  return new Set(dead.remove((delivery) => deliveries.has(delivery)));
}
