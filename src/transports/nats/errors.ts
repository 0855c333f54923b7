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

/**
 * The server refused the connection's credentials (or they expired). No retry with the same ones
 * helps, so sends, and a consumer's `next()`, reject with this where an outage is waited out.
 */
export class NatsAccessError extends SluiceError {
  constructor(operation: string, options: { cause: unknown }) {
    const detail = options.cause instanceof Error ? `: ${options.cause.message}` : '';
    super('NATS_ACCESS_REFUSED', `NATS refused ${operation}${detail}`, options);
  }
}

/** Whether the client's error is the server refusing who we are, not a server that is away. */
export function isAccessRefused(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'AuthorizationError' || name === 'UserAuthenticationExpiredError';
}
