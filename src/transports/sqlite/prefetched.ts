import { Fifo } from '../../queuing/memory/buffers.js';

/**
 * Deliveries claimed and checked but not handed out yet (prefetched for a settling loop, or their
 * waiter left), in claim order. What is not taken within `hold` ms of the first one's arrival is
 * given back (`giveBack`), so messages are not held by a process that does not get to them.
 */
export class Prefetched<D> {
  readonly #deliveries = new Fifo<D>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly hold: number,
    private readonly giveBack: (delivery: D) => void,
  ) {}

  get size(): number {
    return this.#deliveries.size;
  }

  push(delivery: D): void {
    this.#deliveries.push(delivery);
    this.#timer ??= setTimeout(this.giveBackAll, this.hold);
  }

  shift(): D | undefined {
    return this.#deliveries.shift();
  }

  readonly giveBackAll = (): void => {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (let d = this.#deliveries.shift(); d !== undefined; d = this.#deliveries.shift()) this.giveBack(d);
  };
}
