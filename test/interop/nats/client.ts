/**
 * A NATS JetStream client that is not sluice, written from docs/wire-protocol.md (NATS) with nothing
 * but the raw `@nats-io` clients (no sluice import): what a service in another language would do to
 * declare a queue's topology, send, consume, settle, dead-letter and move delayed messages.
 */
import { createHash } from 'node:crypto';
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type PubAck,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { connect, type Msg, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';

/** "every character outside [A-Za-z0-9-] becomes _ followed by two lowercase hex digits per UTF-8 byte" */
export function encodeName(queue: string): string {
  return [...queue]
    .map((char) =>
      /[A-Za-z0-9-]/.test(char)
        ? char
        : [...Buffer.from(char)].map((byte) => `_${byte.toString(16).padStart(2, '0')}`).join(''),
    )
    .join('');
}

export const streamOf = (queue: string) => `sluice-${encodeName(queue)}`;
export const subjectOf = (queue: string, token: string) => `sluice.${encodeName(queue)}.${token}`;
/**
 * "The priority is rounded (half up); from -9 to 9 each has a band of its own; 10 to 99 share `p10`,
 * 100 to 999 `p100`, 1000 and above `p1000`, and likewise below -9."
 */
export function bandOf(priority: number): string {
  const rounded = Math.round(priority);
  const size = Math.abs(rounded);
  if (size < 10) return `p${rounded === 0 ? 0 : rounded}`;
  const band = size >= 1000 ? 1000 : size >= 100 ? 100 : 10;
  return `p${rounded < 0 ? -band : band}`;
}

/** "These 25 are the only bands": the band tokens, each with the priority it stands for. */
const BANDS = new Map(
  [...Array.from({ length: 19 }, (_, i) => i - 9), 10, 100, 1000, -10, -100, -1000].map((p) => [`p${p}`, p]),
);

/**
 * "`Nats-Msg-Id`: the key as it is, unless it has whitespace at either end or begins with `%` (then
 * `%` followed by the key percent-encoded as `encodeURIComponent` does), or that id would be over 256
 * UTF-8 bytes (then `%sha256:` followed by the lowercase hex SHA-256 of the key's UTF-8 bytes)"
 */
export function msgIdOf(key: string): string {
  const id = /^\s|\s$/.test(key) || key.startsWith('%') ? `%${encodeURIComponent(key)}` : key;
  if (Buffer.byteLength(id) <= 256) return id;
  return `%sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** The stream configuration of the document, verbatim but for the queue's name. */
export function streamConfig(queue: string, duplicateWindowNs = 120_000_000_000) {
  return {
    name: streamOf(queue),
    subjects: [`sluice.${encodeName(queue)}.*`],
    retention: RetentionPolicy.Workqueue, // "workqueue"
    storage: StorageType.File, // "file"
    duplicate_window: duplicateWindowNs,
  };
}

/** The consumer configuration of the document, for one subject token (`p0`, `p5`, `delayed`). */
export function consumerConfig(queue: string, token: string) {
  return {
    durable_name: token,
    filter_subject: subjectOf(queue, token),
    ack_policy: AckPolicy.Explicit, // "explicit"
    deliver_policy: DeliverPolicy.All, // "all"
    ack_wait: 30_000_000_000,
    max_deliver: -1,
    max_ack_pending: -1,
  };
}

/** A message pulled from a consumer, with what its ack subject says. */
export interface Received {
  readonly msg: Msg;
  readonly token: string;
  readonly body: string;
  readonly headers: Record<string, string>;
  /** `<delivered>`: the attempt. */
  readonly attempt: number;
  readonly stream: string;
  readonly sequence: string;
  readonly timestamp: string;
}

export class ForeignClient {
  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
  ) {}

  static async connect(url: string): Promise<ForeignClient> {
    const nc = await connect({ servers: url });
    return new ForeignClient(nc, jetstream(nc), await jetstreamManager(nc));
  }

  close(): Promise<void> {
    return this.nc.close();
  }

  /** "The topology to create before the first sluice process": the stream, then a consumer per token. */
  async declare(
    queue: string,
    tokens: string[] = ['p0', 'delayed'],
    duplicateWindowNs?: number,
  ): Promise<void> {
    await this.jsm.streams.add(streamConfig(queue, duplicateWindowNs));
    for (const token of tokens) await this.jsm.consumers.add(streamOf(queue), consumerConfig(queue, token));
  }

  /** Publishes to a subject token of the queue with JetStream; resolves with the publish acknowledgement. */
  publish(
    queue: string,
    token: string,
    body: string,
    options: { id?: string; headers?: Record<string, string> } = {},
  ): Promise<PubAck> {
    const sent = natsHeaders();
    for (const [name, value] of Object.entries(options.headers ?? {})) sent.set(name, value);
    if (options.id !== undefined) sent.set('Nats-Msg-Id', options.id);
    return this.js.publish(subjectOf(queue, token), body, {
      headers: options.headers === undefined && options.id === undefined ? undefined : sent,
    });
  }

  /** "Sending": a band's subject, or the delayed subject with `Sluice-Due` and `Sluice-Priority`. */
  send(
    queue: string,
    body: string,
    options: { priority?: number; dueAt?: number; key?: string } = {},
  ): Promise<PubAck> {
    const { priority = 0, dueAt, key } = options;
    const id = key === undefined ? undefined : msgIdOf(key);
    if (dueAt === undefined) return this.publish(queue, bandOf(priority), body, { id });
    const due = { 'Sluice-Due': String(dueAt), 'Sluice-Priority': String(priority) };
    return this.publish(queue, 'delayed', body, { id, headers: due });
  }

  /** The band consumers of the queue's stream, highest priority first. */
  async bands(queue: string): Promise<string[]> {
    const bands: { token: string; priority: number }[] = [];
    for await (const { name } of this.jsm.consumers.list(streamOf(queue))) {
      const priority = BANDS.get(name);
      if (priority !== undefined) bands.push({ token: name, priority });
    }
    return bands.sort((a, b) => b.priority - a.priority).map(({ token }) => token);
  }

  /** One message from a consumer: `{"batch": 1, "no_wait": true}`, answered by a message or a 404. */
  async pull(queue: string, token: string): Promise<Received | undefined> {
    const answer = await this.nc.request(
      `$JS.API.CONSUMER.MSG.NEXT.${streamOf(queue)}.${token}`,
      '{"batch":1,"no_wait":true}',
      // A pulled message keeps its own subject, so the reply is told apart by subscription, not subject.
      { timeout: 5_000, noMux: true },
    );
    if (answer.headers?.code) return undefined; // 404 no messages, 408 expired
    // $JS.ACK.<stream>.<consumer>.<delivered>.<stream sequence>.<consumer sequence>.<timestamp ns>.<pending>
    const ack = answer.reply!.split('.');
    const headers: Record<string, string> = {};
    for (const [name, values] of answer.headers ?? []) headers[name] = values[0]!;
    return {
      msg: answer,
      token,
      body: answer.string(),
      headers,
      attempt: Number(ack[4]),
      stream: ack[2]!,
      sequence: ack[5]!,
      timestamp: ack[7]!,
    };
  }

  /** The next message of the queue, highest band first. */
  async next(queue: string): Promise<Received | undefined> {
    for (const token of await this.bands(queue)) {
      const received = await this.pull(queue, token);
      if (received !== undefined) return received;
    }
    return undefined;
  }

  ack(received: Received): void {
    received.msg.respond('+ACK');
  }

  /** "retry later": `-NAK {"delay": <nanoseconds>}`. */
  nak(received: Received, delayMs: number): void {
    received.msg.respond(`-NAK {"delay":${delayMs * 1_000_000}}`);
  }

  /**
   * "Dead-lettering": the body as received to the dead-letter queue's band, with the reason and a
   * `Nats-Msg-Id` naming the stored original; then, once stored, `+ACK`. `ackAfter: false` leaves the
   * original unsettled, as a process that crashed between the two steps would.
   */
  async deadLetter(received: Received, queue: string, reason: string, ackAfter = true): Promise<PubAck> {
    const { stream, sequence, timestamp } = received;
    const stored = await this.publish(`${queue}.dead`, received.token, received.body, {
      id: `dead:${stream}:${sequence}:${timestamp}`,
      headers: { 'Sluice-Dead-Reason': reason },
    });
    if (ackAfter) this.ack(received);
    return stored;
  }

  /**
   * "Delayed messages are moved to their band by whoever consumes `delayed`": naks what is not due
   * with the time left, publishes what is due to its band, then acks it. Returns how many it moved.
   */
  async moveDelayed(queue: string): Promise<number> {
    let moved = 0;
    for (
      let received = await this.pull(queue, 'delayed');
      received;
      received = await this.pull(queue, 'delayed')
    ) {
      const wait = Number(received.headers['Sluice-Due']) - Date.now();
      if (wait > 0) {
        this.nak(received, wait);
        continue;
      }
      const { stream, sequence, timestamp } = received;
      await this.publish(queue, bandOf(Number(received.headers['Sluice-Priority'] ?? 0)), received.body, {
        id: `due:${stream}:${sequence}:${timestamp}`,
      });
      this.ack(received);
      moved++;
    }
    return moved;
  }

  /** How many messages the queue's stream holds. */
  async stored(queue: string): Promise<number> {
    return (await this.jsm.streams.info(streamOf(queue))).state.messages;
  }

  async deleteStreams(...queues: string[]): Promise<void> {
    for (const queue of queues) {
      await this.jsm.streams.delete(streamOf(queue)).catch((error: { code?: number }) => {
        if (error?.code !== 10059) throw error; // already gone
      });
    }
  }
}
