import type { Channel, ConsumeMessage } from 'amqplib';
import { InvalidOptionError } from '../../errors.js';
import { Fifo } from '../../queuing/memory/buffers.js';
import type { RateLimit } from '../../queuing/types.js';
import type { Connection, Session } from './connection.js';
import type { Publisher } from './publisher.js';
import { KEY_QUEUE_ARGUMENTS } from './topology.js';

/*
 * A rate limit shared by every consumer of a queue `name`, kept in RabbitMQ as tokens
 * (docs/wire-protocol.md, "Rate limits on RabbitMQ"). For a limit of `limit` per `interval` ms:
 *
 * - `name.rate.<limit>.<interval>`: holds the tokens that may be spent now, `limit` messages in all.
 *   A consumer takes them, with a prefetch of one, only while it has a delivery and a `next()`
 *   waiting for it (it cancels its token consumer and hands back what it holds otherwise, so that an
 *   idle consumer holds no token), and spends one on each hand-out by rejecting it
 *   (`basic.nack`, no requeue) right after the hand-out: the queue dead-letters it into
 * - `name.rate.<limit>.<interval>.cool`, whose `x-message-ttl` is `interval` and which dead-letters
 *   it back into the token queue. So a token is spent at most once per interval, and no window of
 *   `interval` ms sees more than `limit` hand-outs. A consumer that dies holding a token it has not
 *   spent gives it back with its channel.
 * - `name.rate.<limit>.<interval>.minted`: at most one message (`x-max-length` 1, reject-publish),
 *   stored by the first consumer of that limit, which alone then mints the `limit` tokens.
 *
 * Each pair (limit, interval) has its own tokens: a consumer given a new limit takes from the new
 * limit's queue, minted on first use, and the old one's tokens stay for whoever still uses it.
 */

/** The most tokens a limit mints: one persistent message each. */
export const MAX_RATE_TOKENS = 100_000;
const TOKEN = Buffer.alloc(0);
/** Wait before taking tokens again after the broker closed only the gate's channel. */
const REOPEN_DELAY = 250;

export function tokenQueueName(name: string, { limit, interval }: RateLimit): string {
  return `${name}.rate.${limit}.${interval}`;
}

/** Refuses a limit this adapter cannot hold as tokens. */
export function assertTokenLimit(rateLimit: RateLimit | undefined): void {
  if (rateLimit !== undefined && rateLimit.limit > MAX_RATE_TOKENS) {
    throw new InvalidOptionError(
      'rateLimit.limit',
      rateLimit.limit,
      `at most ${MAX_RATE_TOKENS} on RabbitMQ (one message per token): a longer interval keeps the rate`,
    );
  }
}

interface Token {
  readonly channel: Channel;
  readonly raw: ConsumeMessage;
}

/** One consumer's access to the tokens of one rate limit; `onToken` is called whenever one arrives. */
export class RateGate {
  readonly #tokens = new Fifo<Token>();
  readonly #queue: string;
  readonly #unsubscribe: () => void;
  #channel: Channel | undefined;
  /** The token consumer's tag while consuming. */
  #tag: string | undefined;
  #wanted = false;
  #syncing = false;
  #closed = false;

  constructor(
    private readonly connection: Connection,
    private readonly publisher: Publisher,
    name: string,
    readonly rateLimit: RateLimit,
    private readonly onToken: () => void,
  ) {
    this.#queue = tokenQueueName(name, rateLimit);
    this.#unsubscribe = connection.onSession({
      up: (session) => void this.#open(session),
      refused: () => {},
    });
  }

  /** Whether a token is held: a hand-out may be made now. */
  get ready(): boolean {
    return this.#tokens.size > 0;
  }

  /** Spends a token on the hand-out just made; call only when `ready`. */
  spend(): void {
    const { channel, raw } = this.#tokens.shift()!;
    try {
      channel.nack(raw, false, false);
    } catch {
      // The channel is closing: the broker puts the token back (see the module comment's caveat).
    }
  }

  /** Takes tokens while `wanted` (a delivery waits for one), and hands back those held otherwise. */
  want(wanted: boolean): void {
    if (wanted === this.#wanted) return;
    this.#wanted = wanted;
    void this.#sync();
  }

  /** Stops taking tokens; those held and not spent go back to the others with the channel. */
  close(): void {
    this.#closed = true;
    this.#unsubscribe();
    this.#channel?.close().catch(() => {});
  }

  async #open(session: Session): Promise<void> {
    let channel: Channel;
    try {
      channel = await session.connection.createChannel();
    } catch {
      return this.#reopenLater(session);
    }
    channel.on('error', () => {}); // a 'close' always follows
    channel.once('close', () => {
      if (this.#channel === channel) {
        this.#channel = undefined;
        this.#tag = undefined;
      }
      this.#dropTokensOf(channel);
      this.#reopenLater(session);
    });
    if (this.#closed) return void channel.close().catch(() => {});
    try {
      await this.#declare(channel);
      await this.#mint(session);
      await channel.prefetch(1);
    } catch {
      channel.close().catch(() => {}); // its 'close' reopens
      return;
    }
    this.#channel = channel;
    await this.#sync();
  }

  /** Consumes tokens or cancels the token consumer until that matches `#wanted`, one step at a time. */
  async #sync(): Promise<void> {
    const channel = this.#channel;
    if (this.#syncing || channel === undefined) return;
    this.#syncing = true;
    try {
      while (this.#channel === channel && this.#wanted !== (this.#tag !== undefined)) {
        if (this.#wanted)
          this.#tag = (await channel.consume(this.#queue, (raw) => this.#received(channel, raw))).consumerTag;
        else {
          const tag = this.#tag!;
          this.#tag = undefined;
          await channel.cancel(tag);
          this.#handBack(channel);
        }
      }
    } catch {
      channel.close().catch(() => {}); // its 'close' reopens
    } finally {
      this.#syncing = false;
    }
  }

  #received(channel: Channel, raw: ConsumeMessage | null): void {
    if (raw === null) return void channel.close().catch(() => {}); // queue deleted: its 'close' reopens
    this.#tokens.push({ channel, raw });
    this.onToken();
  }

  /** Puts back the tokens held and not spent, at the head of the token queue. */
  #handBack(channel: Channel): void {
    for (let token = this.#tokens.shift(); token !== undefined; token = this.#tokens.shift()) {
      if (token.channel === channel) channel.nack(token.raw, false, true);
    }
  }

  #reopenLater(session: Session): void {
    setTimeout(() => {
      if (!this.#closed && this.connection.session === session) void this.#open(session);
    }, REOPEN_DELAY).unref();
  }

  #dropTokensOf(channel: Channel): void {
    const kept = [];
    for (let token = this.#tokens.shift(); token !== undefined; token = this.#tokens.shift()) {
      if (token.channel !== channel) kept.push(token);
    }
    for (const token of kept) this.#tokens.push(token);
  }

  async #declare(channel: Channel): Promise<void> {
    const cooling = `${this.#queue}.cool`;
    await channel.assertQueue(this.#queue, {
      durable: true,
      arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': cooling },
    });
    await channel.assertQueue(cooling, {
      durable: true,
      arguments: {
        'x-message-ttl': this.rateLimit.interval,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': this.#queue,
      },
    });
    const { 'x-max-length': maxLength, 'x-overflow': overflow } = KEY_QUEUE_ARGUMENTS;
    await channel.assertQueue(`${this.#queue}.minted`, {
      durable: true,
      arguments: { 'x-max-length': maxLength, 'x-overflow': overflow },
    });
  }

  /** The first consumer of this limit stores the marker and mints the tokens; the others find it. */
  async #mint(session: Session): Promise<void> {
    const marked = await this.publisher.offer(session, `${this.#queue}.minted`, TOKEN, {
      persistent: true,
      mandatory: true,
    });
    if (marked !== 'stored') return;
    const properties = {};
    const minted: Promise<void>[] = [];
    for (let token = 0; token < this.rateLimit.limit; token++) {
      minted.push(this.publisher.publish(session, this.#queue, TOKEN, properties));
    }
    await Promise.all(minted);
  }
}
