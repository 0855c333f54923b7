import { headers, type Msg } from '@nats-io/transport-node';
import type { UnderWay } from '../shared/under-way.js';
import { ACK, deliveryCount, lastToken, NAK, respond, storedName } from './ack-protocol.js';
import { MSG_ID_HEADER } from './names.js';
import { publish } from './producer.js';
import type { LazySession, Session } from './session.js';

/**
 * Puts back a message fetched on its first delivery and never handed out (a consumer stopping with
 * a full buffer): stored again on its subject, headers kept, then the original acked. A `-NAK`
 * would leave it pending on the consumer until one pulls it again, counted in flight by `stats()`
 * (JetStream tells no one which pending messages wait for redelivery), and delivered as attempt 2
 * though no handler saw it. The copy's `Nats-Msg-Id` names the stored original, so a put-back
 * retried after a lost `+ACK` within the duplicate window stores one copy. If the copy is not
 * stored, the original is answered `-NAK` as before. A message fetched on a later delivery is
 * answered `-NAK`: stored again it would start its attempts over.
 */
export function putBack(session: LazySession, busy: UnderWay, queue: string, raw: Msg): void {
  if (deliveryCount(raw.reply) !== 1) respond(raw, NAK);
  else {
    const stored = session.get().then(
      (s) => copyThenAck(s, queue, raw),
      () => void respond(raw, NAK),
    );
    busy.add(stored);
  }
}

async function copyThenAck(session: Session, queue: string, raw: Msg): Promise<void> {
  const copied = headers();
  for (const [name, values] of raw.headers ?? []) {
    if (name !== MSG_ID_HEADER) for (const value of values) copied.append(name, value);
  }
  try {
    const options = { msgID: `back:${storedName(raw.reply)}`, headers: copied };
    await publish(session, queue, lastToken(raw.subject), raw.data, options);
  } catch {
    respond(raw, NAK);
    return;
  }
  respond(raw, ACK);
}
