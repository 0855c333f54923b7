/** What a MemoryQueue holds: its ready messages, its delayed ones, and its bound. */
export interface Holding {
  readonly buffer: { readonly size: number };
  readonly delayed: { readonly size: number };
  readonly maxsize: number;
}

/** Whether a new message fits: buffered plus scheduled messages stay under `maxsize`. */
export function hasRoom(queue: Holding): boolean {
  return queue.buffer.size + queue.delayed.size < queue.maxsize;
}

/**
 * Delayed messages and retries, never held back, hold more than `maxsize`: a new message does not
 * even go straight to an idle consumer then. Otherwise jobs that keep failing would each add a
 * retry, and a jobs queue would hold far more than `maxsize + workers` jobs. A rendezvous queue
 * (`maxsize` 0) holds nothing of its own: it always hands over.
 */
export function overfull(queue: Holding): boolean {
  return queue.maxsize > 0 && queue.delayed.size > queue.maxsize;
}
