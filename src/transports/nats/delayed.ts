import type { Msg } from '@nats-io/transport-node';
import { type Admission, admit } from '../shared/admit.js';
import { decodeEnvelope } from '../shared/envelope.js';
import { boundedReason } from '../shared/reasons.js';
import type { UnderWay } from '../shared/under-way.js';
import { ACK, nakWithDelay, respond, storedName } from './ack-protocol.js';
import { storedId } from './admission.js';
import type { DeadLetters } from './dead-letter.js';
import { bandToken, DUE_HEADER, groupToken, PRIORITY_HEADER } from './names.js';
import { nudge, publish } from './producer.js';
import type { LazySession } from './session.js';

/** How long a due delayed message waits before another try when moving it failed. */
const MOVE_RETRY_MS = 1_000;

const decoder = new TextDecoder();

/**
 * Delayed messages wait on `sluice.<queue>.delayed`, with their due time (`Sluice-Due`, epoch ms)
 * and band (`Sluice-Priority`) in headers. A consuming handle receives them like a band's, and:
 * - not due yet: naks it with the time left, so JetStream hands it back when due; each message
 *   waits on its own, so a shorter delay sent later comes first;
 * - due: stores it on its band (its group's band when the envelope names a group) as a new
 *   message (waiting was not an attempt), then acks it. The
 *   move's `Nats-Msg-Id` names the delayed message (stream, sequence, time stored), so a move
 *   retried after a lost `+ACK` (it comes back after ack_wait, shorter than the duplicate window, see
 *   options.ts) stores it once while the stream's `duplicate_window` of the first move lasts;
 * - headers that are not numbers: dead-letters it with the reason, rather than guess.
 */
export class DelayedMover {
  constructor(
    private readonly queue: string,
    private readonly stream: string,
    private readonly session: LazySession,
    private readonly busy: UnderWay,
    private readonly deadLetters: DeadLetters,
  ) {}

  schedule(raw: Msg): void {
    const dueHeader = raw.headers?.get(DUE_HEADER) ?? '';
    const due = dueHeader === '' ? Number.NaN : Number(dueHeader);
    const priority = Number(raw.headers?.get(PRIORITY_HEADER) ?? 0);
    if (!Number.isFinite(due) || !Number.isFinite(priority)) {
      this.#deadLetter(raw, Number.isFinite(due) ? PRIORITY_HEADER : DUE_HEADER);
      return;
    }
    const wait = due - Date.now();
    if (wait > 0) {
      respond(raw, nakWithDelay(wait));
      return;
    }
    const options = { msgID: `due:${storedName(raw.reply)}` };
    const group = groupOf(raw.data);
    const token = group === undefined ? bandToken(priority) : groupToken(priority, group);
    const moved = this.session.get().then(async (session) => {
      await publish(session, this.queue, token, raw.data, options);
      if (group !== undefined) nudge(session, this.queue, token);
    });
    void this.busy
      .add(
        moved.then(
          () => respond(raw, ACK),
          () => respond(raw, nakWithDelay(MOVE_RETRY_MS)),
        ),
      )
      .catch(() => {});
  }

  #deadLetter(raw: Msg, header: string): void {
    const text = decoder.decode(raw.data);
    // Without a schema, admit() answers at once.
    const admission = admit(text, undefined, storedId(this.stream, raw)) as Admission<unknown>;
    const body = admission.admitted ? text : (admission.replacement ?? text);
    const id = admission.admitted ? admission.envelope.id : admission.id;
    const value = JSON.stringify(raw.headers?.get(header) ?? '');
    const reason = boundedReason(`undecodable body: its ${header} header ${value} is not a number`);
    // Not stored: the message stays on the delayed subject and comes back after ack_wait. Never
    // handed out, it had reached no attempt beyond the first.
    void this.deadLetters.deadLetter(raw, 0, body, id, reason, 1).catch(() => {});
  }
}

/** The group an envelope names; undefined for the default group, or a body that is no envelope. */
export function groupOf(data: Uint8Array): string | undefined {
  try {
    return decodeEnvelope(decoder.decode(data)).group;
  } catch {
    return undefined; // handed out, it is dead-lettered with the reason
  }
}
