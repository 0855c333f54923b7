/**
 * Why `value` would not survive `JSON.stringify` / `JSON.parse` unchanged in meaning (as
 * "args[0].when is an instance of Date"), or `undefined` when it would: so a job that runs
 * in-process today can run over a broker tomorrow. Rejected: functions, symbols, bigints, non-finite
 * numbers, class instances (Date, Map, ...), cycles, `undefined` where JSON would turn it into
 * `null` (array items), nesting deeper than MAX_NESTING, and what the walk cannot get through (a
 * getter that throws). An object property set to `undefined` is accepted: JSON drops it, and
 * reading it back gives `undefined` again. Callers build their error only when there is a problem.
 */
export function serializationProblem(value: unknown, root: string): string | undefined {
  if (value === undefined || isPlainJson(value)) return undefined;
  const path: (string | number)[] = [];
  let problem: string | undefined;
  try {
    problem = check(value, path, visiting);
  } catch (error) {
    // A getter or proxy that throws: the value cannot be serialised, and the check never throws.
    const why = error instanceof Error ? error.message : String(error);
    return `${root} cannot be walked (${why}), so it is not JSON-serialisable`;
  } finally {
    visiting.clear();
  }
  if (problem === undefined) return undefined;
  // The path of a too-deep value is hundreds of steps long: naming the root says as much.
  const where = path.length >= MAX_NESTING ? root : format(root, path);
  return `${where} is ${problem}, not JSON-serialisable`;
}

/**
 * Arrays and objects a message may nest, counted from the message itself. Every receiver refuses a
 * deeper one (see `nestedDeeperThan`), so sluice never sends what it would refuse: JSON.parse takes
 * any depth, but re-encoding a retry, walking a schema or a handler's own recursion would overflow
 * the stack on a hostile payload.
 */
export const MAX_NESTING = 256;

/**
 * Nesting the quick check follows before it leaves the verdict to the full walk (which finds cycles,
 * and nesting too deep for the stack).
 */
const QUICK_DEPTH = 64;

/**
 * The quick check every send pays: true when `value` is certainly plain JSON. It allocates nothing
 * (no path, no set of visited objects); `false` only means "let the full walk look", which then
 * names the problem, or finds none (a value nested deeper than the quick check follows).
 */
function isPlainJson(value: unknown): boolean {
  try {
    return plain(value, 0);
  } catch {
    return false; // a getter or proxy that throws: the full walk reports it
  }
}

function plain(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depth === QUICK_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!plain(value[i], depth + 1)) return false;
    return true;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  // for-in allocates no key array; an inherited enumerable property only sends the value to the full walk.
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    if (item !== undefined && !plain(item, depth + 1)) return false;
  }
  return true;
}

/** Objects on the current path; shared because the walk is synchronous and never re-entered. */
const visiting = new Set<object>();

function check(value: unknown, path: (string | number)[], seen: Set<object>): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : String(value);
    case 'object':
      if (value === null) return undefined;
      break;
    case 'function':
      return `a function (${value.name || 'anonymous'})`;
    default:
      return typeof value === 'undefined' ? 'undefined (it would arrive as null)' : `a ${typeof value}`;
  }
  if (seen.has(value)) return 'a circular reference';
  if (path.length >= MAX_NESTING) return `nested deeper than ${MAX_NESTING} levels`;
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      const problem = check(value[i], path, seen);
      if (problem !== undefined) return problem;
      path.pop();
    }
  } else {
    const prototype = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) {
      return `an instance of ${prototype?.constructor?.name ?? 'a class'} (only plain objects and arrays)`;
    }
    for (const key of Object.keys(value)) {
      const item = (value as Record<string, unknown>)[key];
      if (item === undefined) continue;
      path.push(key);
      const problem = check(item, path, seen);
      if (problem !== undefined) return problem;
      path.pop();
    }
  }
  seen.delete(value); // the same object twice (not a cycle) is fine: JSON copies it
  return undefined;
}

/**
 * Whether `value` (parsed JSON) nests arrays and objects more than `limit` deep. Recursive, but
 * never deeper than `limit`, so it cannot overflow the stack whatever it is given.
 */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (limit === 0) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (nestedDeeperThan(value[i], limit - 1)) return true;
    return false;
  }
  for (const key in value)
    if (nestedDeeperThan((value as Record<string, unknown>)[key], limit - 1)) return true;
  return false;
}

function format(root: string, path: readonly (string | number)[]): string {
  let text = root;
  for (const part of path) {
    text +=
      typeof part === 'number'
        ? `[${part}]`
        : /^[A-Za-z_$][\w$]*$/.test(part)
          ? `.${part}`
          : `[${JSON.stringify(part)}]`;
  }
  return text;
}
