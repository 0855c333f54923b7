import { randomUUID } from 'node:crypto';

/**
 * Job ids: a random prefix per app plus a counter. As unique across processes as a UUID (the prefix
 * is one) at a fraction of the cost of a UUID per job.
 */
export class JobIds {
  readonly #prefix = `${randomUUID()}-`;
  #counter = 0;

  next(): string {
    return this.#prefix + (this.#counter++).toString(36);
  }
}
