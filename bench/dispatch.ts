/**
 * What a CommandBus dispatch costs, with and without middlewares, next to calling the handler
 * directly. Each variant runs in its own child process (no JIT state shared), three runs, medians.
 *
 *   npx tsx bench/dispatch.ts
 */
import { type ClassicMiddleware, CommandBus, defineCommand, type Middleware } from '../src/index.js';
import { childArgs, reportToParent, runInChild } from './support/child.js';
import { printTable } from './support/publish.js';
import { formatRate, formatRatio, machineLine, median } from './support/report.js';

const DISPATCHES = 1_000_000;
const WARMUP = 100_000;
const RUNS = 3;

const Add = defineCommand<{ n: number }, number>('math.add');
const add = async (message: ReturnType<typeof Add>) => message.payload.n + 1;

const classic: ClassicMiddleware = (_message, next) => next();
async function* generator(): AsyncGenerator<undefined, void, unknown> {
  yield;
}

function busWith(...middlewares: Middleware[]): CommandBus {
  return new CommandBus().register(Add, add).use(...middlewares);
}

/** Each variant returns one dispatch; the loop around it is the same for all. */
const variants: Record<string, () => (message: ReturnType<typeof Add>) => Promise<number>> = {
  'direct async call': () => (message) => add(message),
  'CommandBus, no middleware': () => {
    const bus = busWith();
    return (message) => bus.dispatch(message);
  },
  'CommandBus, 3 classic middlewares': () => {
    const bus = busWith(classic, classic, classic);
    return (message) => bus.dispatch(message);
  },
  'CommandBus, 3 middlewares (classic, generator, classic)': () => {
    const bus = busWith(classic, generator, classic);
    return (message) => bus.dispatch(message);
  },
};

async function loop(dispatch: (message: ReturnType<typeof Add>) => Promise<number>, count: number) {
  let sum = 0;
  for (let i = 0; i < count; i++) sum += await dispatch(Add({ n: i }));
  if (sum !== (count * (count + 1)) / 2) throw new Error(`wrong results: sum ${sum}`);
}

async function measure(variant: string): Promise<number> {
  const dispatch = variants[variant]!();
  await loop(dispatch, WARMUP);
  const started = process.hrtime.bigint();
  await loop(dispatch, DISPATCHES);
  return Number(process.hrtime.bigint() - started) / DISPATCHES;
}

async function main(): Promise<void> {
  const nanos = new Map<string, number[]>();
  for (let run = 1; run <= RUNS; run++) {
    for (const variant of Object.keys(variants)) {
      const ns = await runInChild<number>(import.meta.url, [variant]);
      nanos.set(variant, [...(nanos.get(variant) ?? []), ns]);
      console.error(`run ${run}/${RUNS}  ${variant}: ${ns.toFixed(0)} ns/dispatch`);
    }
  }
  const direct = median(nanos.get('direct async call')!);
  const rows = [...nanos].map(([variant, runs]) => {
    const ns = median(runs);
    return [variant, ns.toFixed(0), formatRate(1e9 / ns), formatRatio(ns / direct)];
  });
  console.log(
    `\n## CommandBus dispatch (median of ${RUNS} runs, ${formatRate(DISPATCHES)} awaited dispatches)\n`,
  );
  console.log(`${machineLine()}. Command: \`npx tsx bench/dispatch.ts\`\n`);
  printTable(
    `CommandBus dispatch, median of ${RUNS} runs of ${formatRate(DISPATCHES)} awaited dispatches`,
    ['variant', 'ns/dispatch', 'dispatches/s', '× direct call'],
    rows,
  );
}

const args = childArgs();
if (args) reportToParent(await measure(args[0]!));
else await main();
