/**
 * The soak (`npm run soak -- [broker …] [--messages N] [--seed N]`): per broker, consumer processes
 * killed at random and a broker restart under a steady load, then a ledger check: every message
 * whose send resolved was handled, and no consumer stopped by itself. Exits with 1 otherwise.
 * Not part of `npm test`: it takes a few minutes and restarts the shared brokers (inside the locks
 * their test files take). See soak-broker.ts for one broker's run.
 */
import { inspect, parseArgs } from 'node:util';
import { brokers } from './brokers.js';
import { type SoakReport, soakBroker } from './soak-broker.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    messages: { type: 'string', default: '3000' },
    seed: { type: 'string', default: String(Math.floor(Math.random() * 2 ** 31)) },
  },
});
const messages = Number(values.messages);
const seed = Number(values.seed);
const names = positionals.length > 0 ? positionals : Object.keys(brokers);
const unknown = names.filter((name) => !(name in brokers));
if (unknown.length > 0 || !(Number.isInteger(messages) && messages > 0) || !Number.isInteger(seed)) {
  console.error(`usage: npm run soak -- [${Object.keys(brokers).join(' ')}] [--messages N] [--seed N]`);
  process.exit(2);
}

const interrupted = new AbortController();
process.on('SIGINT', () => {
  if (interrupted.signal.aborted) process.exit(130); // a second Ctrl-C: leave at once
  console.log('interrupted: stopping and cleaning up (Ctrl-C again to leave at once)');
  interrupted.abort();
});

console.log(
  `soak: ${names.join(', ')}; ${messages} messages each; seed ${seed} (replay with --seed ${seed})`,
);
const reports: SoakReport[] = [];
const crashes: string[] = [];
for (const name of names) {
  if (interrupted.signal.aborted) break;
  const broker = brokers[name]!;
  let release: () => unknown = () => {};
  try {
    release = (await broker.hold?.()) ?? release;
    reports.push(await soakBroker(name, broker, { messages, seed, signal: interrupted.signal }));
  } catch (error) {
    crashes.push(`${name}: the soak itself failed: ${inspect(error)}`);
  } finally {
    await release();
    broker.finish?.();
  }
}

const columns: [string, (report: SoakReport) => string | number][] = [
  ['broker', (report) => report.broker],
  ['sent', (report) => report.sent],
  ['handled', (report) => report.handled],
  ['lost', (report) => report.lost],
  ['duplicates', (report) => report.duplicates],
  ['handler failures', (report) => report.failures],
  ['dead-lettered', (report) => report.deadLettered],
  ['kills', (report) => report.kills],
  ['restarts', (report) => report.restarts],
  ['consumers stopped', (report) => report.stopped.length],
  ['seconds', (report) => report.seconds],
];
const rows = [
  columns.map(([title]) => title),
  ...reports.map((report) => columns.map(([, of]) => String(of(report)))),
];
const widths = columns.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
console.log();
for (const row of rows) console.log(row.map((cell, i) => cell.padStart(widths[i]!)).join('  '));
console.log();
for (const report of reports) {
  const { broker } = report;
  if (report.lost > 0) console.log(`${broker}: lost ${report.lost}, e.g. ${report.lostExamples.join(', ')}`);
  for (const stop of report.stopped) {
    console.log(
      `${broker}: consumer ${stop.pid} stopped (broker ${stop.brokerDown ? 'down' : 'up'}): ${stop.why}`,
    );
  }
  for (const failure of report.sendFailures) console.log(`${broker}: send failed after retries: ${failure}`);
  if (report.restartError !== undefined) console.log(`${broker}: restart failed: ${report.restartError}`);
}
for (const crash of crashes) console.log(crash);
const failed =
  crashes.length > 0 ||
  reports.some(
    (report) =>
      report.lost > 0 ||
      report.stopped.length > 0 ||
      report.deadLettered > 0 ||
      report.restartError !== undefined,
  );
process.exit(failed || interrupted.signal.aborted ? 1 : 0);
