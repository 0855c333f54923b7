import { BrokerUnavailableError, SluiceError } from '../../errors.js';
import { AccessRefusedError } from '../shared/access-refused.js';

/**
 * Who needs the JetStream resources: a queue, by its name, or a job store (whose buckets the queue
 * wire protocol does not describe, so its errors do not point there).
 * @internal
 */
export type NatsTopologyUser = string | { readonly jobStore: string };

/**
 * What a queue needs on JetStream (its stream, a band's or the delayed subject's durable consumer)
 * exists in a shape sluice cannot use, or something else holds its subjects: e.g. a foreign durable
 * consumer on `sluice.<queue>.p0`, which a WorkQueue stream lets no other consumer share. Retrying
 * would never fix it, so sends and `next()` reject with this instead of waiting in silence. A job
 * store's bucket, or a server without JetStream, is one too. Its code is `NATS_TOPOLOGY_MISMATCH`.
 */
export class NatsTopologyError extends SluiceError {
  /** @internal Thrown by the adapter, not made by users. */
  constructor(user: NatsTopologyUser, what: string, problem: string) {
    super(
      'NATS_TOPOLOGY_MISMATCH',
      typeof user === 'string'
        ? `queue ${user} cannot use ${what}: ${problem} ` +
            '(the wire protocol, docs/wire-protocol.md, gives the stream and consumers sluice needs)'
        : `job store ${user.jobStore} cannot use ${what}: ${problem}`,
    );
  }
}

/**
 * The server refused the connection's credentials, or they expired: no retry fixes that, so sends
 * reject with it and a consumer's iteration ends with it. Its code is `NATS_ACCESS_REFUSED`.
 */
export class NatsAccessError extends AccessRefusedError {
  /** @internal Thrown by the adapter, not made by users. */
  constructor(operation: string, options: { cause: unknown }) {
    super('NATS_ACCESS_REFUSED', 'NATS', operation, options.cause);
  }
}

/** The error of an operation the server refused (credentials), or that did not reach it. */
export function failure(operation: string, cause: unknown): SluiceError {
  return isAccessRefused(cause)
    ? new NatsAccessError(operation, { cause })
    : new BrokerUnavailableError('NATS', operation, { cause });
}

/** Whether the client's error is the server refusing who we are, not a server that is away. */
function isAccessRefused(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'AuthorizationError' || name === 'UserAuthenticationExpiredError';
}
