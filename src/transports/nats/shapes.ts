import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { streamName, subjectPrefix } from './names.js';

/**
 * What a queue needs on JetStream, written once: the stream and consumer configs sluice creates (the
 * wire protocol documents the same JSON for producers in other languages), and what a stream or
 * consumer someone else created must have for sluice to use it as it is.
 */

/**
 * JetStream remembers each `Nats-Msg-Id` (a send's `key`) this long and stores a second message with
 * the same id only after it; this is the stream's `duplicate_window` (JetStream's default, 2 minutes).
 */
export const DUPLICATE_WINDOW_MS = 120_000;

export function streamConfig(queue: string): Partial<StreamConfig> & { name: string } {
  return {
    name: streamName(queue),
    subjects: [`${subjectPrefix(queue)}*`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  };
}

/** The durable pull consumer of one subject token: a band (`p0`, `p5`...) or `delayed`. */
export function consumerConfig(queue: string, token: string, ackWait: number): Partial<ConsumerConfig> {
  return {
    durable_name: token,
    filter_subject: `${subjectPrefix(queue)}${token}`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: ackWait,
    max_deliver: -1, // attempts are counted by the queue: it dead-letters, the server never drops
    max_ack_pending: -1, // messages waiting out a delay or a backoff count as pending
  };
}

/** Why an existing stream cannot hold the queue, or undefined when it can. */
export function streamProblem(queue: string, config: StreamConfig): string | undefined {
  if (config.retention !== RetentionPolicy.Workqueue) {
    return `its retention is ${config.retention}, sluice needs workqueue (a message leaves on its ack)`;
  }
  const subjects = config.subjects ?? [];
  const prefix = subjectPrefix(queue);
  if (!subjects.includes(`${prefix}*`) && !subjects.includes(`${prefix}>`)) {
    return `its subjects are ${JSON.stringify(subjects)}, sluice needs "${prefix}*"`;
  }
  return undefined;
}

/** Why an existing consumer of a token cannot be sluice's, or undefined when it can. */
export function consumerProblem(queue: string, token: string, config: ConsumerConfig): string | undefined {
  const subject = `${subjectPrefix(queue)}${token}`;
  const filters = filtersOf(config);
  const problems: string[] = [];
  if (config.deliver_subject) problems.push('it is a push consumer, sluice pulls');
  if (filters.length !== 1 || filters[0] !== subject) {
    problems.push(`its filter is ${JSON.stringify(filters)}, sluice needs "${subject}"`);
  }
  if (config.ack_policy !== AckPolicy.Explicit) {
    problems.push(`its ack_policy is ${config.ack_policy}, sluice needs explicit`);
  }
  if ((config.max_deliver ?? -1) > 0) {
    problems.push(`its max_deliver is ${config.max_deliver}, sluice needs -1 (it counts attempts itself)`);
  }
  if ((config.max_ack_pending ?? -1) > 0) {
    problems.push(`its max_ack_pending is ${config.max_ack_pending}, sluice needs -1`);
  }
  return problems.length === 0 ? undefined : problems.join('; ');
}

/** The subjects a consumer filters on; none means the whole stream. */
export function filtersOf(config: ConsumerConfig): string[] {
  return config.filter_subjects ?? (config.filter_subject ? [config.filter_subject] : []);
}

/** Whether a consumer filtering on `filter` (none: the whole stream) receives `subject`. */
export function filterCovers(filter: string | undefined, subject: string): boolean {
  if (!filter) return true;
  const wanted = filter.split('.');
  const tokens = subject.split('.');
  for (let i = 0; i < wanted.length; i++) {
    if (wanted[i] === '>') return i < tokens.length;
    if (i >= tokens.length || (wanted[i] !== '*' && wanted[i] !== tokens[i])) return false;
  }
  return wanted.length === tokens.length;
}
