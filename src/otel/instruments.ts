import type {
  Attributes,
  BatchObservableCallback,
  BatchObservableResult,
  Histogram,
  Meter,
  ObservableCounter,
  ObservableGauge,
} from '@opentelemetry/api';
import type { QueueStats } from '../queuing/operations.js';
import { ERROR_TYPE, OUTCOME } from './attributes.js';
import type { MessageCounts } from './counts.js';

/** An instrumented queue as the metrics see it. */
export interface Observed {
  /** The system and the queue: the gauges'. */
  readonly attributes: Attributes;
  /** With the send operation: the sent counter's. */
  readonly sendAttributes: Attributes;
  /** With the process operation: the consumed and failed counters' and the duration's. */
  readonly processAttributes: Attributes;
  readonly counts: MessageCounts;
  /** The queue's `stats()`, when it has one. */
  readonly stats: (() => Promise<QueueStats>) | undefined;
}

/** The conventions' bucket boundaries for durations in seconds (the SDK's default ones suit milliseconds). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

const GAUGED = ['ready', 'delayed', 'inFlight', 'dead'] as const;

/**
 * The metrics, made once per meter. Only the duration histogram is recorded per message; the
 * counters report each queue's MessageCounts, and the gauges ask each queue's `stats()`, when a
 * reader collects: nothing per message, one broker round trip per queue per collection.
 */
export class Instruments {
  readonly processDuration: Histogram;
  readonly #counters: Record<'sent' | 'consumed' | 'failed', ObservableCounter>;
  readonly #gauges: Record<(typeof GAUGED)[number], ObservableGauge>;
  readonly #observe: BatchObservableCallback;
  readonly #meter: Meter;

  constructor(meter: Meter, queues: ReadonlySet<Observed>) {
    this.#meter = meter;
    const messages = { unit: '{message}' };
    const counter = (name: string, description: string) =>
      meter.createObservableCounter(name, { ...messages, description });
    this.#counters = {
      sent: counter(
        'messaging.client.sent.messages',
        'Messages a producer attempted to send (error.type on failure).',
      ),
      consumed: counter('messaging.client.consumed.messages', 'Messages handed to a consumer.'),
      failed: counter(
        'sluice.messages.failed',
        'Processings that ended in a nack: to be retried, or dead-lettered (sluice.message.outcome).',
      ),
    };
    this.processDuration = meter.createHistogram('messaging.process.duration', {
      unit: 's',
      description: 'From the delivery to its ack or nack (error.type on failure).',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    const gauge = (name: string, description: string) =>
      meter.createObservableGauge(name, { ...messages, description });
    this.#gauges = {
      ready: gauge('sluice.queue.ready', 'Messages ready to be delivered now.'),
      delayed: gauge('sluice.queue.delayed', 'Messages waiting out a delay or a backoff.'),
      inFlight: gauge('sluice.queue.in_flight', 'Messages delivered and not yet settled.'),
      dead: gauge('sluice.queue.dead', "Messages in the queue's dead-letter queue."),
    };
    this.#observe = (result) =>
      Promise.all([...queues].map((queue) => this.#report(queue, result))).then(() => {});
    meter.addBatchObservableCallback(this.#observe, this.#observables());
  }

  /** Stops reporting (the instrumentation was disabled or given another meter). */
  detach(): void {
    this.#meter.removeBatchObservableCallback(this.#observe, this.#observables());
  }

  #observables() {
    return [...Object.values(this.#counters), ...Object.values(this.#gauges)];
  }

  async #report(queue: Observed, result: BatchObservableResult): Promise<void> {
    const { counts, sendAttributes, processAttributes } = queue;
    const { sent, consumed, failed } = this.#counters;
    result.observe(sent, counts.sent, sendAttributes);
    for (const [errorType, n] of counts.sendFailures) {
      result.observe(sent, n, { ...sendAttributes, [ERROR_TYPE]: errorType });
    }
    result.observe(consumed, counts.consumed, processAttributes);
    for (const [outcome, byType] of counts.processFailures) {
      for (const [errorType, n] of byType) {
        result.observe(failed, n, { ...processAttributes, [ERROR_TYPE]: errorType, [OUTCOME]: outcome });
      }
    }
    if (queue.stats === undefined) return;
    let stats: QueueStats;
    try {
      stats = await queue.stats();
    } catch {
      return; // a queue that cannot answer now (broker down, closed) is left out of this collection
    }
    for (const key of GAUGED) result.observe(this.#gauges[key], stats[key], queue.attributes);
  }
}
