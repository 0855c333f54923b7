/**
 * One consumer process of the soak:
 *   node --import tsx soak-consumer.ts <harness module> <queue name> <options JSON> <seed>
 * It drains the queue through the harness module's `open` with a Pump that fails some first attempts
 * on purpose (so that nacks happen, during the broker's restart too), and prints one JSON line per
 * message handled, `{ "n": …, "attempt": … }`, and per failure on purpose, `{ "failed": n }`.
 * SIGTERM stops it. If its pump ends without being told to, it prints `{ "stopped": "<why>" }` and
 * exits with 1: the soak counts that as a consumer that gave up, which no outage may cause.
 */
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { Pump } from '../../src/queuing/pump/pump.js';
import type { Queue } from '../../src/queuing/types.js';
import { sleep } from '../support/async.js';
import { Random } from '../support/random.js';

interface Numbered {
  n: number;
}

/** Share of first attempts that fail on purpose. */
const FAILURE_RATE = 0.05;
/** Handling takes up to this many milliseconds, so that a kill often lands mid-message. */
const HANDLING_MS = 5;
const CONCURRENCY = 4;

const [modulePath, queueName, optionsJson, seed] = process.argv.slice(2);
if (modulePath === undefined || queueName === undefined || optionsJson === undefined || seed === undefined) {
  throw new Error('usage: soak-consumer.ts <harness module> <queue name> <options JSON> <seed>');
}

const harness = (await import(pathToFileURL(modulePath).href)) as {
  open(name: string, options?: object): Queue<Numbered>;
};
const queue = harness.open(queueName, JSON.parse(optionsJson));
const random = new Random(Number(seed));

const draining = new Pump(
  queue,
  async ({ n }: Numbered, { attempt }) => {
    await sleep(random.int(HANDLING_MS + 1));
    if (attempt === 1 && random.chance(FAILURE_RATE)) {
      print({ failed: n });
      throw new Error(`the soak fails the first attempt at message ${n} on purpose`);
    }
    print({ n, attempt });
  },
  { failSilently: true },
).draining({ concurrency: CONCURRENCY });

let told = false;
process.once('SIGTERM', async () => {
  told = true;
  await draining.stop().catch(() => {});
  await queue.close();
  process.exit(0);
});

draining.done.then(
  () => gaveUp('the pump ended on its own'),
  (error: unknown) => gaveUp(inspect(error, { depth: 3, breakLength: Number.POSITIVE_INFINITY })),
);

function gaveUp(why: string): void {
  if (told) return;
  print({ stopped: why });
  process.exit(1);
}

/** Writes to a pipe are synchronous on Linux: a printed line is out even if a SIGKILL follows. */
function print(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
