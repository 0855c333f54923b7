import type { ConsumeMessage } from 'amqplib';
import { type Admission, admit } from '../shared/admit.js';
import type { Envelope } from '../shared/envelope.js';
import { DEFAULT_GROUP_QUEUE } from './group-queues.js';
import type { ResolvedOptions } from './options.js';
import { storedId } from './received.js';
import type { Settler } from './settler.js';
import type { Subscription } from './subscription.js';
import { KEY_HEADER, REASON_HEADER } from './topology.js';

/** A received message that may be handed out, as `Admissions` passes it on. */
export interface Admitted<T> {
  readonly subscription: Subscription;
  readonly raw: ConsumeMessage;
  readonly envelope: Envelope;
  readonly key: string | undefined;
  readonly message: T;
}

/** Where `Admissions` passes on what it received. */
export interface AdmissionSink<T> {
  /** A settlement run on a message that is not handed out. */
  run(settlement: Promise<void>): void;
  deliver(admitted: Admitted<T>): void;
  /** An asynchronous schema check ended. */
  checked(): void;
  /**
   * A group cap applies: the default group is then served from a group queue of its own, which
   * like every group queue has one consumer at a time, so that its cap holds across processes.
   */
  capped(): boolean;
}

/**
 * What a consumer does with each message it receives before handing it out: decodes and checks it,
 * dead-letters what fails, copies back a redelivery (an attempt spent), and moves a grouped message
 * found due in the queue itself (delayed, retried, redriven) into its group's queue, and under a
 * group cap a message of the default group too. The rest goes to the sink's `deliver`.
 */
export class Admissions<T> {
  /**
   * Messages whose asynchronous schema check is under way: the channel stays open for them too, and
   * they are neither deliveries nor settlements, so they are counted apart.
   */
  checking = 0;

  constructor(
    private readonly options: ResolvedOptions<T>,
    private readonly settler: Settler,
    private readonly sink: AdmissionSink<T>,
  ) {}

  /** `fromQueue`: received from the queue itself, not from a group queue. */
  receive(subscription: Subscription, raw: ConsumeMessage, fromQueue: boolean): void {
    subscription.received(raw);
    // A redelivery is copied back (or dead-lettered), not handed out: its schema is checked then.
    const check = raw.fields.redelivered ? undefined : this.options.check;
    const admission = admit<T>(raw.content.toString(), check, storedId(raw));
    if (!(admission instanceof Promise)) {
      this.#admitted(subscription, raw, fromQueue, admission);
      return;
    }
    // The message is held while its (asynchronous) schema check runs.
    this.checking++;
    admission
      .then((result) => this.#admitted(subscription, raw, fromQueue, result))
      .finally(() => {
        this.checking--;
        this.sink.checked();
      });
  }

  #admitted(
    subscription: Subscription,
    raw: ConsumeMessage,
    fromQueue: boolean,
    admission: Admission<T>,
  ): void {
    const header: unknown = raw.properties.headers?.[KEY_HEADER];
    // A foreign producer's key of another type (a number, bytes) took no marker: there is none to release.
    const key = typeof header === 'string' ? header : undefined;
    if (!admission.admitted) {
      const { replacement, reason } = admission;
      const body = replacement === undefined ? raw.content : Buffer.from(replacement);
      this.sink.run(this.settler.deadLetter({ subscription, raw, key }, reason, body));
      return;
    }
    const { envelope } = admission;
    if (raw.fields.redelivered) {
      this.sink.run(this.settler.redelivered({ subscription, raw, key, envelope }));
      return;
    }
    if (fromQueue && !isDeadLetter(raw) && (envelope.group !== undefined || this.sink.capped())) {
      const group = envelope.group ?? DEFAULT_GROUP_QUEUE;
      this.sink.run(this.settler.release({ subscription, raw, key, envelope }, group));
      return;
    }
    if (!subscription.open) return; // a schema check outlived the channel: the broker requeued it
    this.sink.deliver({ subscription, raw, envelope, key, message: admission.message });
  }
}

/** A dead letter, read from a dead-letter queue: it stays where it is, in its group or not. */
function isDeadLetter(raw: ConsumeMessage): boolean {
  return raw.properties.headers?.[REASON_HEADER] !== undefined;
}
