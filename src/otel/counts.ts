/**
 * What one instrumented queue's counters report, kept as plain numbers and read only when a reader
 * collects: recording an SDK counter per message hashes its attributes every time.
 */
export class MessageCounts {
  sent = 0;
  consumed = 0;
  /** Failed sends, by `error.type`. */
  readonly sendFailures = new Map<string, number>();
  /** Failed processings, by outcome (`nack` or `dead_letter`) then `error.type`. */
  readonly processFailures = new Map<string, Map<string, number>>();

  sendFailed(errorType: string): void {
    increment(this.sendFailures, errorType);
  }

  processFailed(outcome: string, errorType: string): void {
    let byType = this.processFailures.get(outcome);
    if (byType === undefined) {
      byType = new Map();
      this.processFailures.set(outcome, byType);
    }
    increment(byType, errorType);
  }
}

function increment(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}
