import type { Session } from './connection.js';
import type { Producer } from './producer.js';
import { KEY_QUEUE_ARGUMENTS, keyQueueName } from './topology.js';

const MARKER = Buffer.alloc(0);

/**
 * Deduplication keys held on the broker, so they hold across processes: a key is taken by storing
 * a marker message in its own queue (`<name>.key.<key>`, at most one message, further publishes
 * refused by the broker) and released by deleting that queue when the keyed message is acked or
 * dead-lettered. The marker expires after `keyTimeout`, so a key nobody releases (a consumer in
 * another language that does not follow the protocol, a producer that died after taking it) is
 * free again by then.
 */
export class KeyMarkers {
  /** Keys taken for a send that then failed and whose release failed too: released before reuse. */
  readonly #stale = new Set<string>();
  readonly #marker: { persistent: true; mandatory: true; expiration: number };

  constructor(
    private readonly name: string,
    private readonly producer: Producer,
    keyTimeout: number,
  ) {
    this.#marker = { persistent: true, mandatory: true, expiration: keyTimeout };
  }

  /** True when the key was free and is now held; false when a message with this key is queued. */
  async take(session: Session, key: string): Promise<boolean> {
    const queue = keyQueueName(this.name, key);
    const { publisher } = session;
    if (this.#stale.has(key)) {
      await publisher.deleteQueue(queue);
      this.#stale.delete(key);
    }
    for (;;) {
      const { messageCount } = await publisher.assertQueue(queue, {
        durable: true,
        arguments: KEY_QUEUE_ARGUMENTS,
      });
      if (messageCount > 0) return false;
      let outcome: Awaited<ReturnType<Producer['offer']>>;
      try {
        outcome = await this.producer.offer(session, queue, MARKER, this.#marker);
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
  }

  /** Releases a key taken for a send that failed, so that a retry of that send is not dropped. */
  async abandon(session: Session, key: string): Promise<void> {
    try {
      await this.release(session, key);
    } catch {
      this.#stale.add(key);
    }
  }

  async release(session: Session, key: string): Promise<void> {
    await session.publisher.deleteQueue(keyQueueName(this.name, key));
  }
}
