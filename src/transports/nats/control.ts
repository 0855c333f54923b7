import type { MsgHdrs, Subscription } from '@nats-io/transport-node';
import type { Connection } from './connection.js';
import { encodeName } from './names.js';

/**
 * Pausing a queue: a key of the JetStream key-value bucket `sluice-control` (stream
 * `KV_sluice-control`), the queue's encoded name (names.ts). A value under it pauses the queue
 * (sluice writes `paused`); none, or a deletion, resumes it. No bucket: no queue was ever paused.
 *
 * Consumers read the key when they start (a read of the bucket's stream, so a consumer needs no
 * key-value client) and follow it with a core NATS subscription on the key's subject, on which
 * every write is published: a pause reaches every consumer at once, in every process.
 */
export const CONTROL_BUCKET = 'sluice-control';
const CONTROL_STREAM = `KV_${CONTROL_BUCKET}`;
const STREAM_NOT_FOUND = 10059;

function controlSubject(queue: string): string {
  return `$KV.${CONTROL_BUCKET}.${encodeName(queue)}`;
}

/** A key-value write that is a value, not a deletion or a purge. */
function isPause(headers: MsgHdrs | undefined): boolean {
  const operation = headers?.get('KV-Operation');
  return operation !== 'DEL' && operation !== 'PURGE';
}

export async function readPaused(connection: Connection, queue: string): Promise<boolean> {
  try {
    const entry = await connection.jsm.streams.getMessage(CONTROL_STREAM, {
      last_by_subj: controlSubject(queue),
    });
    return entry !== null && isPause(entry.header);
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === STREAM_NOT_FOUND) return false;
    throw error;
  }
}

export async function writePaused(connection: Connection, queue: string, paused: boolean): Promise<void> {
  // Loaded here: a queue that is never paused or resumed needs no @nats-io/kv installed.
  const { Kvm } = await import('@nats-io/kv');
  const bucket = await new Kvm(connection.js).create(CONTROL_BUCKET, { history: 1 });
  if (paused) await bucket.put(encodeName(queue), 'paused');
  else await bucket.delete(encodeName(queue));
}

/**
 * A consumer's view of its queue's pause, on the connection it fetches on. `changed` is told each
 * change; a read that fails keeps what was known, and the key is read again on each reconnect
 * (writes made while disconnected were not seen).
 */
export class PauseWatch {
  paused = false;
  #connection: Connection | undefined;
  #known: Promise<void> = Promise.resolve();
  #subscription: Subscription | undefined;
  #unlisten: (() => void) | undefined;
  /** Writes seen on the subscription: a read answered after one of them is older than it. */
  #writes = 0;

  constructor(
    private readonly queue: string,
    private readonly changed: (paused: boolean) => void,
  ) {}

  /** Follows the key on `connection` (once per connection); resolves once the pause is known. */
  follow(connection: Connection): Promise<void> {
    if (this.#connection === connection) return this.#known;
    this.stop();
    this.#connection = connection;
    this.#subscription = connection.nc.subscribe(controlSubject(this.queue), {
      callback: (_, msg) => {
        this.#writes++;
        this.#set(isPause(msg.headers));
      },
    });
    this.#unlisten = connection.onReconnect(() => void this.#read(connection));
    this.#known = this.#read(connection);
    return this.#known;
  }

  stop(): void {
    this.#unlisten?.();
    try {
      this.#subscription?.unsubscribe();
    } catch {
      // The connection is closed: so is the subscription.
    }
    this.#connection = undefined;
  }

  async #read(connection: Connection): Promise<void> {
    const writes = this.#writes;
    let paused: boolean;
    try {
      paused = await readPaused(connection, this.queue);
    } catch {
      return;
    }
    if (writes === this.#writes && this.#connection === connection) this.#set(paused);
  }

  #set(paused: boolean): void {
    if (paused === this.paused) return;
    this.paused = paused;
    this.changed(paused);
  }
}
