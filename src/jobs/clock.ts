let stamp: number | undefined;
const forget = () => {
  stamp = undefined;
};

/**
 * `Date.now()`, read once for the microtasks already queued when it is first asked: a job's
 * created, started and ended times cost a clock read each, which on some machines takes longer
 * than the rest of running a no-op job, and the jobs of one burst share the reading. The value is
 * at most as old as the work queued before it, never older than the current task.
 */
export function now(): number {
  if (stamp === undefined) {
    stamp = Date.now();
    queueMicrotask(forget);
  }
  return stamp;
}
