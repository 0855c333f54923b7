import { SluiceError } from '../../errors.js';

/**
 * What a queue needs on JetStream (its stream, a band's or the delayed subject's durable consumer)
 * exists in a shape sluice cannot use, or something else holds its subjects: e.g. a foreign durable
 * consumer on `sluice.<queue>.p0`, which a WorkQueue stream lets no other consumer share. Retrying
 * would never fix it, so sends and `next()` reject with this instead of waiting in silence.
 */
export class NatsTopologyError extends SluiceError {
  constructor(queue: string, what: string, problem: string) {
    super(
      'NATS_TOPOLOGY_MISMATCH',
      `queue ${queue} cannot use ${what}: ${problem} ` +
        '(the wire protocol, docs/wire-protocol.md, gives the stream and consumers sluice needs)',
    );
  }
}
