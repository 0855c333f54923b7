import type { RetryPolicy } from '../types.js';

export interface MemoryQueueOptions<T> extends RetryPolicy<T> {
  /**
   * Messages held (ready or delayed) before `send` waits. `Infinity` (default); `0` hands each message
   * straight to a consumer. Delayed sends and retries are never held back, but count too.
   */
  maxsize?: number;
  /** `fifo` (default), `lifo` (newest first) or `priority` (highest first, FIFO among equals). */
  order?: 'fifo' | 'lifo' | 'priority';
  /** Names the queue in error messages. Default `memory`. */
  name?: string;
}
