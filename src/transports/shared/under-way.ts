/** Operations under way that a close must let end first, rather than fail them by closing. */
export class UnderWay {
  readonly #operations = new Set<Promise<unknown>>();

  /** Tracks `operation` until it settles; returns it. */
  add<P extends Promise<unknown>>(operation: P): P {
    this.#operations.add(operation);
    const done = () => this.#operations.delete(operation);
    operation.then(done, done);
    return operation;
  }

  /** Resolves once no operation is under way, those added meanwhile included. */
  async ended(): Promise<void> {
    while (this.#operations.size > 0) await Promise.allSettled(this.#operations);
  }
}
