/**
 * Resolves once `work` settled or `ms` passed. While Redis is unreachable, ioredis holds commands
 * until it reconnects (for ever with `maxRetriesPerRequest: null`): `close()` waits on them this
 * way, then carries on.
 */
export async function atMost(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([work.catch(() => {}), timeUp]);
  clearTimeout(timer);
}
