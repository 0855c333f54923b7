import type { ConsumeMessage } from 'amqplib';
import type { Session } from './connection.js';
import { declareGroupQueue } from './group-queues.js';
import type { GroupRegistry } from './group-registry.js';
import type { ResolvedOptions } from './options.js';
import type { Subscription } from './subscription.js';

/**
 * The broker consumers of one subscription channel: one on the queue (the default group) and one on
 * each group queue its registry lists, now or later (group-registry.ts). `receive` gets every message, and whether it came from
 * the queue itself.
 */
export class Consumption {
  /** Consumer tag by queue; '' while its `basic.consume` is under way. */
  readonly #tags = new Map<string, string>();
  #consuming = false;
  #following = false;
  /** The `basic.consume` calls under way. */
  readonly #starting = new Set<Promise<void>>();

  constructor(
    private readonly session: Session,
    private readonly subscription: Subscription,
    private readonly options: ResolvedOptions<unknown>,
    private readonly registry: GroupRegistry,
    private readonly receive: (raw: ConsumeMessage | null, fromQueue: boolean) => void,
  ) {}

  /**
   * Consumes the queue and every group queue, from now until `cancel`. Resolves once it consumes
   * every group queue registered before, and a round trip later, so that what each holds ready is
   * pushed before the first hand-out: hand-outs start fair across groups.
   */
  async start(): Promise<void> {
    this.#consuming = true;
    await this.#consumeOnce(this.options.name, false); // a refusal here is the consumer's to report
    if (!this.#following) this.#follow();
    else for (const queue of this.registry.known) this.#starting.add(this.#consume(queue, true));
    await this.registry.caughtUp(this.session);
    await Promise.all(this.#starting);
    await this.subscription.channel.checkQueue(this.options.name);
  }

  /** Cancels every broker consumer; resolves once the broker confirmed each cancel. */
  async cancel(): Promise<void> {
    this.#consuming = false;
    const { channel } = this.subscription;
    const tags = [...this.#tags.values()].filter((tag) => tag !== '');
    this.#tags.clear();
    await Promise.all(tags.map((tag) => channel.cancel(tag)));
  }

  /** Never rejects: a failure closes the channel, and consuming starts again on the next one. */
  #consume(queue: string, grouped: boolean): Promise<void> {
    const consuming = this.#consumeOnce(queue, grouped).catch(() => {
      this.subscription.close().catch(() => {});
    });
    void consuming.finally(() => this.#starting.delete(consuming));
    return consuming;
  }

  async #consumeOnce(queue: string, grouped: boolean): Promise<void> {
    if (!this.#consuming || this.#tags.has(queue)) return;
    this.#tags.set(queue, '');
    const { channel } = this.subscription;
    if (grouped) await declareGroupQueue(channel, queue, this.options.priorities);
    const { consumerTag } = await channel.consume(queue, (raw) => {
      if (raw !== null || !grouped) this.receive(raw, !grouped);
      else this.#tags.delete(queue); // the group queue was deleted
    });
    if (this.#consuming && this.#tags.get(queue) === '') this.#tags.set(queue, consumerTag);
    else await channel.cancel(consumerTag); // cancelled meanwhile: messages it got are put back
  }

  /** Consumes each group queue the registry reads from now on, while the channel is open. */
  #follow(): void {
    this.#following = true;
    const unfollow = this.registry.follow((queue) => {
      if (!this.subscription.open) unfollow();
      else this.#starting.add(this.#consume(queue, true));
    });
  }
}
