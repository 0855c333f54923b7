import { type Admission, admit } from '../shared/admit.js';
import type { DeliveryOwner } from '../shared/delivery.js';
import { wrapUndecodable } from '../shared/envelope.js';
import type { MessageCheck } from '../shared/message-schema.js';
import { boundedReason } from '../shared/reasons.js';
import { RedisDelivery } from './delivery.js';
import type { RawEntry } from './scripts.js';

/** Dead-letters an entry with the reason; `body`, when given, is stored instead of the entry's. */
export type DeadLetterEntry = (band: string, entryId: string, reason: string, body?: string) => void;

/**
 * The decode-and-admit step for stream entries: reads the entry's fields, runs the shared `admit`
 * on its body, and makes the delivery, or dead-letters the entry with the reason.
 *
 * An entry's fields (docs/wire-protocol.md (Redis)): `body` (the envelope), `attempt` (when > 1), `key`
 * (the dedup key it holds) with `holder` (the key's value while it holds it, read by the scripts
 * alone), `id` (the message's id, on copies sluice re-added: it stands in for an envelope without
 * one, so the id stays the same on every retry), `reason` (on a dead-letter queue), `group` (on
 * the flow stream: the group whose slot the delivery holds).
 */
export class EntryAdmission<T> {
  readonly #owner: DeliveryOwner<RedisDelivery<T>>;
  readonly #check: MessageCheck<T> | undefined;
  readonly #deadLetter: DeadLetterEntry;

  constructor(
    owner: DeliveryOwner<RedisDelivery<T>>,
    check: MessageCheck<T> | undefined,
    deadLetter: DeadLetterEntry,
  ) {
    this.#owner = owner;
    this.#check = check;
    this.#deadLetter = deadLetter;
  }

  /** The delivery, undefined when the entry was dead-lettered, a promise only for an async schema. */
  admit(
    [entryId, fields]: RawEntry,
    band: string,
  ): RedisDelivery<T> | undefined | Promise<RedisDelivery<T> | undefined> {
    let body: string | undefined;
    let attemptField: string | undefined;
    let key = '';
    let id: string | undefined;
    let reason: string | undefined;
    let slot = '';
    for (let i = 0; i < fields.length; i += 2) {
      const value = fields[i + 1]!;
      switch (fields[i]) {
        case 'body':
          body = value;
          break;
        case 'attempt':
          attemptField = value;
          break;
        case 'key':
          key = value;
          break;
        case 'id':
          id = value;
          break;
        case 'reason':
          reason = value;
          break;
        case 'group':
          slot = value;
      }
    }
    const storedId = id || entryId;
    if (body === undefined) {
      const text = JSON.stringify(Object.fromEntries(pairs(fields)));
      const wrapped = JSON.stringify(wrapUndecodable(text, storedId));
      this.#deadLetter(band, entryId, 'undecodable body: the entry has no body field', wrapped);
      return undefined;
    }
    const attempt = attemptField === undefined ? 1 : Number(attemptField);
    if (!Number.isInteger(attempt) || attempt < 1) {
      const why = `undecodable body: attempt ${JSON.stringify(attemptField)} is not an integer ≥ 1`;
      this.#deadLetter(band, entryId, boundedReason(why));
      return undefined;
    }
    const admission = admit(body, this.#check, storedId);
    if (admission instanceof Promise) {
      return admission.then((settled) => this.#deliver(settled, entryId, band, attempt, key, reason, slot));
    }
    return this.#deliver(admission, entryId, band, attempt, key, reason, slot);
  }

  #deliver(
    admission: Admission<T>,
    entryId: string,
    band: string,
    attempt: number,
    key: string,
    reason: string | undefined,
    slot: string,
  ): RedisDelivery<T> | undefined {
    if (!admission.admitted) {
      this.#deadLetter(band, entryId, admission.reason, admission.replacement);
      return undefined;
    }
    const { envelope, message } = admission;
    return new RedisDelivery(
      this.#owner,
      message,
      attempt,
      envelope.id,
      envelope.headers,
      reason,
      band,
      entryId,
      key,
      envelope.group,
      slot,
    );
  }
}

function* pairs(fields: string[]): Generator<[string, string]> {
  for (let i = 0; i < fields.length; i += 2) yield [fields[i]!, fields[i + 1]!];
}
