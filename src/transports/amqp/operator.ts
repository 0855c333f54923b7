import type { ConfirmChannel } from 'amqplib';
import { SluiceError } from '../../errors.js';
import { backoffDelay } from '../../queuing/backoff.js';
import type { DeadLetter, DeadLettersOptions, QueueStats, RedriveOptions } from '../../queuing/operations.js';
import {
  assertIds,
  resolveDeadLettersOptions,
  resolveRedriveOptions,
} from '../../queuing/operations-options.js';
import { type Connection, closed, type Session } from './connection.js';
import { DeadLetterReader, type ReadLetter, redriven, shown } from './dead-letter-reader.js';
import { refusal } from './errors.js';
import type { GroupRegistry } from './group-registry.js';
import { inFlightHere } from './in-flight.js';
import type { Management } from './management.js';
import type { ResolvedOptions } from './options.js';
import { CONTROL_EXCHANGE, readPaused, writePaused } from './pause.js';
import type { Publisher } from './publisher.js';
import { declareQueue, delayQueueName, delaysDeclaredHere } from './topology.js';

/** Dead letters a redrive publishes before it acks them: the confirms of one batch are awaited together. */
const REDRIVE_BATCH = 100;

/**
 * The operator face of an AmqpQueue (docs/wire-protocol.md, "Operating a queue on RabbitMQ"). Each
 * call runs on a channel of its own, closed after it: closing it hands back any dead letter read and
 * not acked, whatever happened.
 */
export class AmqpOperator<T> {
  constructor(
    private readonly options: ResolvedOptions<T>,
    private readonly connection: Connection,
    private readonly publisher: Publisher,
    private readonly registry: GroupRegistry,
    private readonly management: Management | undefined,
  ) {}

  stats(): Promise<QueueStats> {
    const { name, deadLetter, priorities } = this.options;
    return this.#on('stats', async (channel, session) => {
      const delayQueues = this.#delayQueues();
      const groupQueues = this.#groupQueues(session);
      const unacknowledged = this.#unacknowledged(groupQueues);
      const ready = (await declareQueue(channel, name, priorities)).messageCount;
      const readyInGroups = await this.#eachQueue(session, await groupQueues, async (other, queue) => {
        return (await other.checkQueue(queue)).messageCount;
      });
      const dead = (await declareQueue(channel, deadLetter, priorities)).messageCount;
      const paused = await readPaused(channel, name);
      const delayed = await this.#eachQueue(session, await delayQueues, async (other, queue) => {
        return (await other.checkQueue(queue)).messageCount;
      });
      const inFlight = (await unacknowledged) ?? inFlightHere(name);
      return { ready: ready + readyInGroups, delayed, inFlight, dead, paused };
    });
  }

  deadLetters(options?: DeadLettersOptions): Promise<DeadLetter<T>[]> {
    const { limit, after } = resolveDeadLettersOptions(options);
    return this.#scan('read dead letters', async (scan) => {
      const letters: DeadLetter<T>[] = [];
      let skipping = after !== undefined;
      while (letters.length < limit) {
        const letter = await scan.next();
        if (letter === undefined) break;
        if (skipping) skipping = letter.id !== after;
        else letters.push(shown(letter));
      }
      return letters;
    });
  }

  /** Publishes each letter to the queue (confirmed), then acks it: a crash between leaves both. */
  redrive(options?: RedriveOptions): Promise<number> {
    const { limit, ids } = resolveRedriveOptions(options);
    const wanted = ids === undefined ? undefined : new Set(ids);
    return this.#scan('redrive dead letters', async (scan, session) => {
      let moved = 0;
      let batch: ReadLetter<T>[] = [];
      while (moved + batch.length < limit && wanted?.size !== 0) {
        const letter = await scan.next();
        if (letter === undefined) break;
        if (wanted !== undefined && !wanted.delete(letter.id)) continue;
        batch.push(letter);
        if (batch.length < REDRIVE_BATCH) continue;
        moved += await this.#move(scan, session, batch);
        batch = [];
      }
      return moved + (await this.#move(scan, session, batch));
    });
  }

  discardDeadLetters(ids: readonly string[]): Promise<number> {
    const wanted = new Set(assertIds(ids));
    if (wanted.size === 0) return Promise.resolve(0);
    return this.#scan('discard dead letters', async (scan) => {
      let discarded = 0;
      while (wanted.size > 0) {
        const letter = await scan.next();
        if (letter === undefined) break;
        if (!wanted.delete(letter.id)) continue;
        scan.ack(letter);
        discarded++;
      }
      return discarded;
    });
  }

  purge(): Promise<number> {
    const { name, priorities } = this.options;
    return this.#on('purge', async (channel, session) => {
      await declareQueue(channel, name, priorities);
      const ready = (await channel.purgeQueue(name)).messageCount;
      const queues = [...(await this.#delayQueues()), ...(await this.#groupQueues(session))];
      const others = await this.#eachQueue(session, queues, async (other, queue) => {
        return (await other.purgeQueue(queue)).messageCount;
      });
      return ready + others;
    });
  }

  setPaused(paused: boolean): Promise<void> {
    return this.#on(paused ? 'pause' : 'resume', (channel) =>
      writePaused(channel, this.options.name, paused),
    );
  }

  /** The queue, its dead-letter queue, its pause record and the control exchange. */
  declare(): Promise<void> {
    const { name, deadLetter, priorities } = this.options;
    return this.#on('declare', async (channel) => {
      await declareQueue(channel, name, priorities);
      await declareQueue(channel, deadLetter, priorities);
      await readPaused(channel, name);
      await channel.assertExchange(CONTROL_EXCHANGE, 'direct', { durable: true });
    });
  }

  async #move(scan: DeadLetterReader<T>, session: Session, letters: ReadLetter<T>[]): Promise<number> {
    await Promise.all(
      letters.map((letter) => {
        const { body, properties } = redriven(letter);
        return this.publisher.publishGrouped(session, letter.envelope.group, body, properties, 0);
      }),
    );
    for (const letter of letters) scan.ack(letter);
    return letters.length;
  }

  /**
   * The delay queues to count or purge: those the management API lists, else those this process
   * declared and those the queue's own backoff uses (see docs/wire-protocol.md).
   */
  async #delayQueues(): Promise<string[]> {
    const { name } = this.options;
    const listed = await this.management?.queueNames(`^${escapeRegExp(name)}\\.delay\\.[0-9]+$`);
    if (listed !== undefined) return listed;
    const delays = new Set([...delaysDeclaredHere(name), ...backoffDelays(this.options)]);
    return [...delays].map((delay) => delayQueueName(name, delay));
  }

  /** The queue's group queues, every one its registry lists (group-registry.ts). */
  async #groupQueues(session: Session): Promise<string[]> {
    await this.registry.caughtUp(session);
    return [...this.registry.known];
  }

  /** The management API's count, the queue's and its group queues'; undefined if unreachable. */
  async #unacknowledged(groupQueues: Promise<string[]>): Promise<number | undefined> {
    const { management } = this;
    if (management === undefined) return undefined;
    const queues = [this.options.name, ...(await groupQueues)];
    const counts = await Promise.all(queues.map((queue) => management.unacknowledged(queue)));
    if (counts.includes(undefined)) return undefined;
    return counts.reduce((sum: number, n) => sum + n!, 0);
  }

  /** Sums `count` over the queues, each on a channel of its own: a queue gone (404) counts 0. */
  async #eachQueue(
    session: Session,
    queues: readonly string[],
    count: (channel: ConfirmChannel, queue: string) => Promise<number>,
  ): Promise<number> {
    const counts = await Promise.all(
      queues.map(async (queue) => {
        const channel = await session.connection.createConfirmChannel();
        channel.on('error', () => {});
        try {
          return await count(channel, queue);
        } catch (error) {
          if ((error as { code?: unknown }).code === 404) return 0;
          throw error;
        } finally {
          await closed(channel);
        }
      }),
    );
    return counts.reduce((sum, n) => sum + n, 0);
  }

  #scan<R>(operation: string, use: (scan: DeadLetterReader<T>, session: Session) => Promise<R>): Promise<R> {
    const { deadLetter, priorities } = this.options;
    return this.#on(operation, async (channel, session) => {
      const { messageCount } = await declareQueue(channel, deadLetter, priorities);
      const scan = new DeadLetterReader<T>(channel, deadLetter, messageCount);
      const result = await use(scan, session); // on failure, closing the channel hands them back
      await scan.release();
      return result;
    });
  }

  async #on<R>(
    operation: string,
    use: (channel: ConfirmChannel, session: Session) => Promise<R>,
  ): Promise<R> {
    const { name } = this.options;
    const session = await this.connection.ready(operation);
    let channel: ConfirmChannel | undefined;
    try {
      channel = await session.connection.createConfirmChannel();
      channel.on('error', () => {}); // a 'close' follows; the failed call rejects
      return await use(channel, session);
    } catch (error) {
      if (error instanceof SluiceError) throw error;
      throw refusal(error, name, operation) ?? this.connection.unavailable(operation, error);
    } finally {
      if (channel !== undefined) await closed(channel);
    }
  }
}

/** The delays the queue's backoff gives its retries (none for a backoff function: it can give any). */
function backoffDelays({ backoff, maxAttempts, maxDelay }: ResolvedOptions<unknown>): number[] {
  if (typeof backoff === 'function') return [];
  const delays = new Set<number>();
  // An exponential backoff reaches its cap within a few dozen attempts: no new delay after that.
  for (let attempt = 1; attempt < Math.min(maxAttempts, 64); attempt++) {
    const delay = Math.ceil(backoffDelay(backoff, attempt, maxDelay));
    if (delay > 0) delays.add(delay);
  }
  return [...delays];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
