import type { ConsumerInfo } from '@nats-io/jetstream';
import { SluiceError } from '../../errors.js';
import type { DeadLetter, QueueStats } from '../../queuing/operations.js';
import type { ResolvedDeadLettersOptions, ResolvedRedriveOptions } from '../../queuing/operations-options.js';
import { lastToken } from './ack-protocol.js';
import type { Connection } from './connection.js';
import { readPaused, writePaused } from './control.js';
import { DeadLetterReader, type StoredLetter } from './dead-letter-reader.js';
import { groupOf } from './delayed.js';
import { failure } from './errors.js';
import {
  bandPriority,
  bandToken,
  DELAYED,
  groupToken,
  parseGroupToken,
  streamName,
  subjectPrefix,
} from './names.js';
import { nudge, publish } from './producer.js';
import type { LazySession, Session } from './session.js';

/** Dead letters a redrive moves at once: published together, then deleted together. */
const REDRIVE_BATCH = 100;
const STREAM_NOT_FOUND = 10059;

/**
 * A NatsQueue's operator face (docs/wire-protocol.md, NATS, says what each reads and writes):
 * counts from the band and delayed consumers' info and the dead-letter stream's, dead letters read
 * by sequence (DeadLetterReader), a pause in the `sluice-control` bucket (control.ts). Nothing here
 * runs unless an operator method is called.
 */
export class NatsOperations<T> {
  readonly #queue: string;
  readonly #stream: string;
  readonly #session: LazySession;
  readonly #dead: DeadLetterReader<T>;

  constructor(queue: string, deadLetter: string, session: LazySession) {
    this.#queue = queue;
    this.#stream = streamName(queue);
    this.#session = session;
    this.#dead = new DeadLetterReader(deadLetter);
  }

  /**
   * Three requests at once. `ready` is what the band consumers never delivered; `inFlight` what
   * they delivered and was not acked yet, which JetStream does not tell apart from a message
   * waiting out a retry's backoff or put back for redelivery; `delayed` what waits on the delayed
   * subject.
   */
  stats(): Promise<QueueStats> {
    return this.#run('read the stats', async ({ connection }) => {
      const [consumers, dead, paused] = await Promise.all([
        this.#consumers(connection),
        this.#dead.count(connection),
        readPaused(connection, this.#queue),
      ]);
      let ready = 0;
      let inFlight = 0;
      let delayed = 0;
      for (const info of consumers) {
        if (info.name === DELAYED) delayed += info.num_pending + info.num_ack_pending;
        else if (holdsMessages(info.name)) {
          ready += info.num_pending;
          inFlight += info.num_ack_pending;
        }
      }
      return { ready, delayed, inFlight, dead, paused };
    });
  }

  deadLetters({ limit, after }: ResolvedDeadLettersOptions): Promise<DeadLetter<T>[]> {
    return this.#run('read the dead letters', async ({ connection }) => {
      const from = after === undefined ? 0 : await this.#dead.sequenceOf(connection, after);
      if (from === undefined) return [];
      const letters: DeadLetter<T>[] = [];
      for await (const { letter } of this.#dead.letters(connection, from, limit)) {
        letters.push(letter);
        if (letters.length === limit) break;
      }
      return letters;
    });
  }

  /**
   * Each letter is published to the queue (same band, body unchanged, no header: a new message
   * at attempt 1) before it is deleted from the dead-letter stream, so a crash leaves it in one
   * or both; its `Nats-Msg-Id` names the letter, so a redrive retried within the queue's
   * duplicate window publishes it once.
   */
  redrive({ limit, ids }: ResolvedRedriveOptions): Promise<number> {
    return this.#run('redrive the dead letters', async (session) => {
      const { connection } = session;
      const source =
        ids === undefined ? this.#dead.letters(connection) : await this.#dead.find(connection, ids);
      let moved = 0;
      let batch: StoredLetter<T>[] = [];
      for await (const letter of source) {
        if (moved + batch.length >= limit) break;
        batch.push(letter);
        if (batch.length === REDRIVE_BATCH) {
          moved += await this.#move(session, batch);
          batch = [];
        }
      }
      return moved + (await this.#move(session, batch));
    });
  }

  discardDeadLetters(ids: readonly string[]): Promise<number> {
    return this.#run('discard dead letters', async ({ connection }) => {
      if (ids.length === 0) return 0;
      const letters = await this.#dead.find(connection, ids);
      const deleted = await Promise.all(
        letters.map(({ stored }) => this.#dead.delete(connection, stored.seq)),
      );
      return deleted.filter(Boolean).length;
    });
  }

  /**
   * Purges the delayed subject, and each band: whole when its consumer has nothing delivered and
   * unacked, else message by message after the last one it delivered (JetStream purges a subject
   * whole or up to a sequence, and the messages in flight are the older ones).
   */
  purge(): Promise<number> {
    return this.#run('purge', async ({ connection }) => {
      const { jsm } = connection;
      const counts = (await this.#consumers(connection)).map(async (info) => {
        const subject = `${subjectPrefix(this.#queue)}${info.name}`;
        if (info.name !== DELAYED && !holdsMessages(info.name)) return 0;
        if (info.name === DELAYED || info.num_ack_pending === 0) {
          return (await jsm.streams.purge(this.#stream, { filter: subject })).purged;
        }
        return this.#deleteAfter(connection, subject, info.delivered.stream_seq);
      });
      return (await Promise.all(counts)).reduce((sum, count) => sum + count, 0);
    });
  }

  pause(): Promise<void> {
    return this.#run('pause', ({ connection }) => writePaused(connection, this.#queue, true));
  }

  resume(): Promise<void> {
    return this.#run('resume', ({ connection }) => writePaused(connection, this.#queue, false));
  }

  /** The queue's and its dead-letter queue's streams, with `p0` and `delayed` each (as a consumer makes them). */
  declare(deadLetter: string): Promise<void> {
    return this.#run('declare', async ({ topology }) => {
      for (const queue of [this.#queue, deadLetter]) {
        await topology.ensureConsumer(queue, bandToken(0));
        await topology.ensureConsumer(queue, DELAYED);
      }
    });
  }

  async #run<R>(operation: string, body: (session: Session) => Promise<R>): Promise<R> {
    try {
      return await body(await this.#session.get());
    } catch (error) {
      if (error instanceof SluiceError) throw error;
      throw failure(`${operation} of queue ${this.#queue}`, error);
    }
  }

  /** The stream's consumers (one request for up to 256 of them); none before the stream exists. */
  async #consumers(connection: Connection): Promise<ConsumerInfo[]> {
    const infos: ConsumerInfo[] = [];
    try {
      for await (const info of connection.jsm.consumers.list(this.#stream)) infos.push(info);
    } catch (error) {
      if ((error as { code?: unknown } | null)?.code !== STREAM_NOT_FOUND) throw error;
    }
    return infos;
  }

  /** Publishes a batch of letters to the queue, then deletes those published: how many moved. */
  async #move(session: Session, batch: readonly StoredLetter<T>[]): Promise<number> {
    const published = await Promise.allSettled(
      batch.map(({ stored }) => {
        const priority = bandPriority(lastToken(stored.subject)) ?? 0;
        const group = groupOf(stored.data);
        const token = group === undefined ? bandToken(priority) : groupToken(priority, group);
        const msgID = `redrive:${this.#dead.stream}:${stored.seq}:${stored.timestamp}`;
        const published = publish(session, this.#queue, token, stored.data, { msgID });
        return group === undefined ? published : published.then(() => nudge(session, this.#queue, token));
      }),
    );
    const deleted = await Promise.all(
      batch.map(({ stored }, i) =>
        published[i]!.status === 'fulfilled' ? this.#dead.delete(session.connection, stored.seq) : false,
      ),
    );
    const refused = published.find((result) => result.status === 'rejected');
    if (refused !== undefined) throw refused.reason;
    return deleted.filter(Boolean).length;
  }

  /** Deletes, one by one, the messages of `subject` stored after sequence `after`. */
  async #deleteAfter(connection: Connection, subject: string, after: number): Promise<number> {
    const deletes: Promise<boolean>[] = [];
    for (let seq = after + 1; ; ) {
      const query = { seq, next_by_subj: subject } as unknown as { seq: number };
      const stored = await connection.jsm.streams.getMessage(this.#stream, query);
      if (stored === null) break;
      deletes.push(connection.jsm.streams.deleteMessage(this.#stream, stored.seq, false).catch(() => false));
      seq = stored.seq + 1;
    }
    return (await Promise.all(deletes)).filter(Boolean).length;
  }
}

/** A band's consumer or a group band's: what holds the queue's messages. */
function holdsMessages(consumer: string): boolean {
  return bandPriority(consumer) !== undefined || parseGroupToken(consumer) !== undefined;
}
