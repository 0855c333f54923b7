import { headers, type Msg } from '@nats-io/transport-node';
import type { UnderWay } from '../shared/under-way.js';
import { ACK, respond, storedName } from './ack-protocol.js';
import { reasonHeader } from './dead-letter-room.js';
import type { NatsDelivery } from './delivery.js';
import { NatsTopologyError } from './errors.js';
import { bandToken, DEAD_ATTEMPT_HEADER, DEAD_REASON_HEADER } from './names.js';
import { publish } from './producer.js';
import type { LazySession } from './session.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Moves received messages to the dead-letter queue: a copy is stored on its stream (same band, the
 * body as received, the reason in the `Sluice-Dead-Reason` header, the attempt in
 * `Sluice-Dead-Attempt`), then the original is acked.
 * Never `+TERM`: nats-server 2.9 leaves a termed message in a WorkQueue stream.
 *
 * The copy's `Nats-Msg-Id` names the stored original (stream, sequence, time stored), so two
 * messages that carry the same envelope id are both kept, and a dead-lettering retried after its
 * `+ACK` was lost stores one copy if the retry reaches JetStream within the dead-letter stream's
 * `duplicate_window` of the first copy; a later retry stores a second copy (a duplicate, never a
 * loss). The retry comes `ack_wait` after the original was last delivered or heartbeated, which is why
 * a NatsQueue refuses a `visibilityTimeout` as long as the window it creates streams with; after a
 * nack it comes when a handler nacks the redelivered message again, which may be later.
 */
export class DeadLetters {
  constructor(
    /** The dead-letter queue's name. */
    private readonly queue: string,
    private readonly session: LazySession,
    private readonly busy: UnderWay,
  ) {}

  /** A delivery a handler nacked on its last attempt, or with `deadLetter` (see keepOnlyTopologyErrors). */
  nacked(delivery: NatsDelivery<unknown>, reason: string): Promise<void> {
    const { raw, priority, id, attempt } = delivery;
    return this.deadLetter(raw, priority, decoder.decode(raw.data), id, reason, attempt).catch(
      keepOnlyTopologyErrors,
    );
  }

  /**
   * Resolves once the copy is stored and the original acked; rejects (leaving the original, which
   * comes back after ack_wait) when the copy is not stored.
   */
  deadLetter(
    raw: Msg,
    priority: number,
    body: string,
    id: string,
    reason: string,
    attempt: number,
  ): Promise<void> {
    // Built in the chain: whatever goes wrong with one message rejects, never throws at the caller.
    const copied = this.session.get().then((session) => {
      const natsHeaders = headers();
      natsHeaders.set(DEAD_REASON_HEADER, reasonHeader(reason));
      natsHeaders.set(DEAD_ATTEMPT_HEADER, String(attempt));
      const options = { msgID: `dead:${storedName(raw.reply)}`, headers: natsHeaders };
      const data = encoder.encode(withId(body, id));
      return publish(session, this.queue, bandToken(priority), data, options);
    });
    return this.busy.add(copied.then(() => void respond(raw, ACK)));
  }
}

/**
 * The envelope `body` with `id` as its id. A body sent without one was handed out under a name
 * made from where it was stored; its copy carries that name, so the id stays the same on the
 * dead-letter queue. Appended as the last member, which JSON.parse lets win, so nothing else in the
 * body is re-encoded.
 */
function withId(body: string, id: string): string {
  if ((JSON.parse(body) as { id?: unknown }).id === id) return body;
  const end = body.lastIndexOf('}');
  return `${body.slice(0, end)},"id":${JSON.stringify(id)}${body.slice(end)}`;
}

/**
 * What a failed dead-lettering by a nack does: the original was not acked, so, no longer
 * heartbeated, it comes back after ack_wait and its next nack dead-letters it again, as after a lost
 * ack. Only a topology no retry can fix rejects (a Pump stops with it); an outage or a copy the
 * server refused would stop a Pump for what a retry may fix or what concerns one message.
 */
function keepOnlyTopologyErrors(error: unknown): void {
  if (error instanceof NatsTopologyError) throw error;
}
