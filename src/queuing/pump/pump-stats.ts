/** A running pump's counters since it started. */
export interface PumpStats {
  /** Deliveries being dispatched now (or acked/nacked after their dispatch). */
  readonly inFlight: number;
  /** Dispatches that succeeded. */
  readonly processed: number;
  /** Dispatches that failed. */
  readonly failed: number;
}
