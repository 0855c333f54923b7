import type { MessagePropertyHeaders } from 'amqplib';
import type { Session } from './connection.js';
import type { Publisher } from './publisher.js';
import { KEY_QUEUE_ARGUMENTS, KEY_UNTIL_HEADER, keyQueueName } from './topology.js';

const MARKER = Buffer.alloc(0);

/**
 * How long before its marker may expire a message stops releasing its key: room for the clocks of
 * its sender and its consumer to differ, and for the release to reach the broker.
 */
const RELEASE_MARGIN = 1_000;

/**
 * Declarations of a marker queue that its marker, published right after, may find deleted (the key
 * released in between) before a send gives up: more in a row means something else is wrong.
 */
const MAX_TAKES = 3;

/**
 * Deduplication keys held on the broker, so they hold across processes: a key is taken by storing
 * a marker message in its own queue (`<name>.key.<key>`, at most one message, further publishes
 * refused by the broker) and released by deleting that queue when the keyed message is acked or
 * dead-lettered. The marker expires after `keyTimeout`, so a key nobody releases (a consumer in
 * another language that does not follow the protocol, a producer that died after taking it) is
 * free again by then.
 *
 * Once its marker expired, another send may take the key with a marker of its own, which deleting
 * the queue would release too. RabbitMQ has no compare-and-delete, and reading the marker to compare
 * a holder's id takes it out of the ready count that `x-max-length` checks, letting a concurrent send
 * take the key meanwhile. So a message carries when its marker may expire at the earliest
 * (`x-sluice-key-until`), and releases its key only until then (see `holdsMarker`).
 */
export class KeyMarkers {
  /** Keys taken for a send that then failed and whose release failed too: released before reuse. */
  readonly #stale = new Set<string>();
  readonly #marker: { persistent: true; mandatory: true; expiration: number };

  constructor(
    private readonly name: string,
    private readonly publisher: Publisher,
    keyTimeout: number,
  ) {
    this.#marker = { persistent: true, mandatory: true, expiration: keyTimeout };
  }

  /**
   * When a key taken from now on may expire at the earliest (the marker's expiration counts from its
   * publish, later): its message's `x-sluice-key-until`.
   */
  heldUntil(): number {
    return Date.now() + this.#marker.expiration;
  }

  /** True when the key was free and is now held; false when a message with this key is queued. */
  async take(session: Session, key: string): Promise<boolean> {
    const queue = keyQueueName(this.name, key);
    const { publisher } = session;
    if (this.#stale.has(key)) {
      await publisher.deleteQueue(queue);
      this.#stale.delete(key);
    }
    for (let attempt = 1; attempt <= MAX_TAKES; attempt++) {
      const { messageCount } = await publisher.assertQueue(queue, {
        durable: true,
        arguments: KEY_QUEUE_ARGUMENTS,
      });
      if (messageCount > 0) return false;
      let outcome: Awaited<ReturnType<Publisher['offer']>>;
      try {
        outcome = await this.publisher.offer(session, queue, MARKER, this.#marker);
      } catch (error) {
        // The broker may have stored the marker and lost only its confirm: a retry must not be
        // deduplicated against it (the message was never sent).
        this.#stale.add(key);
        throw error;
      }
      if (outcome === 'refused') return false;
      if (outcome === 'stored') return true;
      // Returned unroutable: the marker queue was deleted (its key released) after our declaration.
    }
    throw new Error(`the marker queue ${queue} was gone after each of ${MAX_TAKES} declarations`);
  }

  /** Releases a key taken for a send that failed, so that a retry of that send is not dropped. */
  async abandon(session: Session, key: string): Promise<void> {
    try {
      await this.release(session, key);
    } catch {
      this.#stale.add(key);
    }
  }

  /** Deletes the key's marker queue: call only while `holdsMarker` of its message. */
  async release(session: Session, key: string): Promise<void> {
    await session.publisher.deleteQueue(keyQueueName(this.name, key));
  }
}

/**
 * Whether a keyed message's marker is surely still the one taken for it, so that releasing its key
 * releases no other send's: true until `RELEASE_MARGIN` before its `x-sluice-key-until`, and always
 * for a message without one (sent by a client that does not set it).
 */
export function holdsMarker(headers: MessagePropertyHeaders | undefined): boolean {
  const until: unknown = headers?.[KEY_UNTIL_HEADER];
  return typeof until !== 'number' || Date.now() < until - RELEASE_MARGIN;
}
