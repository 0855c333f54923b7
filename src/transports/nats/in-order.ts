/** A band or group: what it fetched is buffered in the order it arrived, though a check may answer later. */
export interface Ordered {
  /** Pending asynchronous schema checks, chained so the order holds. */
  tail: Promise<void> | undefined;
}

/**
 * Calls `accept` with an admitted delivery (undefined: it was dead-lettered instead) in the order
 * the messages arrived at `holder`: at once when no check is pending there, else after those are.
 */
export function inOrder<D>(
  holder: Ordered,
  admitted: D | Promise<D | undefined> | undefined,
  accept: (delivery: D | undefined) => void,
): void {
  if (!(admitted instanceof Promise) && holder.tail === undefined) {
    accept(admitted);
    return;
  }
  const tail = (holder.tail ?? Promise.resolve()).then(async () => accept(await admitted));
  holder.tail = tail;
  void tail.finally(() => {
    if (holder.tail === tail) holder.tail = undefined;
  });
}
