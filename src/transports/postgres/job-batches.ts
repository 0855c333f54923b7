/**
 * The rounds in which a batch of writes goes to PostgreSQL: no job twice in one statement (an
 * `INSERT ... ON CONFLICT DO UPDATE` refuses to touch a row twice, and a second write of a job must
 * see the first), in the order they were asked; within a round, in the order of their ids, so that
 * two statements locking the same rows lock them in the same order instead of deadlocking.
 */
export function rounds<I extends { readonly id: string }>(items: readonly I[]): I[][] {
  const all: I[][] = [];
  let rest = items;
  while (rest.length > 0) {
    const seen = new Set<string>();
    const round: I[] = [];
    const later: I[] = [];
    for (const item of rest) {
      if (seen.has(item.id)) later.push(item);
      else {
        seen.add(item.id);
        round.push(item);
      }
    }
    all.push(round.sort(byId));
    rest = later;
  }
  return all;
}

function byId(a: { readonly id: string }, b: { readonly id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
