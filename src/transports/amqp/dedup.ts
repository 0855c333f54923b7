import { uniqueId } from '../../queuing/unique-id.js';
import { publishConfirmed, type Session } from './link.js';
import { KEY_QUEUE_ARGUMENTS, keyQueueName } from './topology.js';

const MARKER = Buffer.alloc(0);

/**
 * Deduplication keys held on the broker, so they hold across processes: a key is taken by storing
 * a marker message in its own queue (`<name>.key.<key>`, at most one message, further publishes
 * refused by the broker) and released by deleting that queue when the keyed message is acked or
 * dead-lettered.
 */
export class KeyMarkers {
  /** Keys taken for a send that then failed and whose release failed too: released before reuse. */
  readonly #stale = new Set<string>();

  constructor(private readonly name: string) {}

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
      const id = uniqueId();
      let stored: boolean;
      try {
        stored = await storeMarker(session, queue, id);
      } catch (error) {
        // The broker may have stored the marker and lost only its confirm: a retry must not be
        // deduplicated against it (the message was never sent).
        this.#stale.add(key);
        throw error;
      }
      if (!stored) return false;
      // Returned unroutable: the marker queue was deleted (its key released) after our declaration.
      if (!session.returned.delete(id)) return true;
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

/** Resolves false when the broker refused the marker: the key's queue already holds one. */
function storeMarker(session: Session, queue: string, id: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const options = { persistent: true, mandatory: true, messageId: id };
    publishConfirmed(session, queue, MARKER, options, (error: unknown) => {
      if (error === null || error === undefined) resolve(true);
      else if ((error as Error).message === 'message nacked') resolve(false);
      else reject(error);
    });
  });
}
