import type { Channel, ConsumeMessage } from 'amqplib';
import { closed } from './connection.js';

const HELD = 0;
const ACKED = 1;
const SENT = 2;

/** A message received on the channel: held, acked by us (its ack not sent yet), or sent. */
interface Tag {
  readonly raw: ConsumeMessage;
  state: typeof HELD | typeof ACKED | typeof SENT;
}

/**
 * A consumer channel; `open` turns false when it closes, and the broker requeues what it held.
 *
 * Acks are coalesced: those made during one turn of the event loop go out at its end, as one
 * `multiple` ack for the run of settled messages at the front of the channel and single acks for the
 * others, so an ack never waits behind a message still being handled (it would hold a prefetch slot,
 * and be redelivered if the process died). RabbitMQ handles a `multiple` ack far more cheaply than
 * the single acks it replaces, most of all on a priority queue.
 */
export class Subscription {
  open = true;
  /** Every message received and not yet behind a sent ack, in delivery order (tags ascend). */
  #tags: Tag[] = [];
  #first = 0;
  readonly #byTag = new Map<number, Tag>();
  #acked: Tag[] = [];
  #flushing = false;
  readonly #flush = () => this.flush();

  constructor(readonly channel: Channel) {}

  /** Every message the channel delivers must be registered, before it is settled. */
  received(raw: ConsumeMessage): void {
    const tag: Tag = { raw, state: HELD };
    this.#tags.push(tag);
    this.#byTag.set(raw.fields.deliveryTag, tag);
  }

  /** Acks at the end of this turn of the event loop (or at the next `flush`). */
  ack(raw: ConsumeMessage): void {
    if (!this.open) return;
    const tag = this.#byTag.get(raw.fields.deliveryTag);
    if (tag === undefined || tag.state !== HELD) return;
    tag.state = ACKED;
    this.#acked.push(tag);
    if (!this.#flushing) {
      this.#flushing = true;
      setImmediate(this.#flush);
    }
  }

  /** Hands the message back to the broker now. */
  requeue(raw: ConsumeMessage): void {
    if (!this.open) return;
    const tag = this.#byTag.get(raw.fields.deliveryTag);
    if (tag !== undefined) tag.state = SENT;
    try {
      this.channel.nack(raw, false, true);
    } catch {
      // The channel is closing (its 'close' event not emitted yet): the broker requeues what it held.
    }
  }

  /** Sends the acks made so far; called before the channel is closed, so that none is lost. */
  flush(): void {
    this.#flushing = false;
    if (!this.open || this.#acked.length === 0) return;
    let last: Tag | undefined;
    while (this.#first < this.#tags.length && this.#tags[this.#first]!.state !== HELD) {
      const tag = this.#tags[this.#first++]!;
      this.#byTag.delete(tag.raw.fields.deliveryTag);
      if (tag.state !== ACKED) continue;
      tag.state = SENT;
      last = tag;
    }
    try {
      // One ack for the settled run at the front: it covers every unsettled tag up to `last`.
      if (last !== undefined) this.channel.ack(last.raw, true);
      for (const tag of this.#acked) {
        if (tag.state !== ACKED) continue;
        tag.state = SENT;
        this.channel.ack(tag.raw);
      }
    } catch {
      // The channel is closing (its 'close' event not emitted yet): the broker requeues what it held.
    }
    this.#acked = [];
    if (this.#first > 1024 && this.#first * 2 > this.#tags.length) {
      this.#tags = this.#tags.slice(this.#first);
      this.#first = 0;
    }
  }

  /** Sends the pending acks, then closes the channel. */
  close(): Promise<void> {
    this.flush();
    return closed(this.channel);
  }
}
