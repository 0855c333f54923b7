/**
 * `npm start`: a burst of commands in three priority bands, pushed by a few producers into a bounded
 * priority MemoryQueue and drained by a Pump into a CommandBus whose handlers do small async work.
 *
 * Watch for: the queue never holding more than `maxsize` (producers wait instead), the rate rising
 * when concurrency is re-tuned halfway, and critical commands overtaking bulk ones in the queue.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CommandBus, defineCommand, MemoryQueue, Pump } from 'sluice';

const TOTAL = 240_000;
const PRODUCERS = 4;
const MAXSIZE = 2_000;
const CONCURRENCY = 16;
const TUNED_CONCURRENCY = 64;

/** When the producer called `send`: latency is measured from there to the handler's end. */
interface Stamped {
  sentAt: number;
}

const ChargePayment = defineCommand<Stamped & { orderId: number; cents: number }, string>('payments.charge');
const SendEmail = defineCommand<Stamped & { to: string; template: string }>('emails.send');
const IngestMetric = defineCommand<Stamped & { name: string; value: number }>('analytics.ingest');
type DemoCommand = ReturnType<typeof ChargePayment | typeof SendEmail | typeof IngestMetric>;

const bands = [
  { name: 'critical', type: ChargePayment.type, priority: 100, share: 0.05 },
  { name: 'normal', type: SendEmail.type, priority: 50, share: 0.25 },
  { name: 'bulk', type: IngestMetric.type, priority: 0, share: 0.7 },
].map((band) => ({ ...band, latencies: new Float64Array(TOTAL), count: 0 }));
const bandOf = new Map(bands.map((band) => [band.type, band]));

// Handlers: each stands for ~1 ms of I/O (a provider call, an SMTP hand-off, a metrics write).
const metrics = new Map<string, number>();
const commands = new CommandBus()
  .register(ChargePayment, async ({ payload }) => {
    await sleep(1);
    return `receipt-${payload.orderId}-${payload.cents}`;
  })
  .register(SendEmail, async ({ payload }) => {
    const body = `Hello ${payload.to}, here is your ${payload.template}.`;
    await sleep(1, body);
  })
  .register(IngestMetric, async ({ payload }) => {
    metrics.set(payload.name, (metrics.get(payload.name) ?? 0) + payload.value);
    await sleep(1);
  });

// A generator middleware records queue-to-handled latency once the handler succeeded.
let handled = 0;
let reachedHalfway: () => void;
const halfway = new Promise<void>((resolve) => (reachedHalfway = resolve));
commands.use(async function* recordLatency(message: DemoCommand) {
  yield;
  const band = bandOf.get(message.type)!;
  band.latencies[band.count++] = performance.now() - message.payload.sentAt;
  if (++handled === TOTAL / 2) reachedHalfway();
});

const queue = new MemoryQueue<DemoCommand>({ order: 'priority', maxsize: MAXSIZE });
let maxDepth = 0;

/** One API server: turns requests into commands as fast as the queue lets it (backpressure). */
async function producer(id: number, count: number): Promise<void> {
  let seed = id + 1;
  for (let i = 0; i < count; i++) {
    seed = (seed * 48271) % 2147483647;
    const roll = seed / 2147483647;
    const sentAt = performance.now();
    const n = id * count + i;
    if (roll < bands[0]!.share) {
      await queue.send(ChargePayment({ sentAt, orderId: n, cents: 1999 }), { priority: bands[0]!.priority });
    } else if (roll < bands[0]!.share + bands[1]!.share) {
      await queue.send(SendEmail({ sentAt, to: `user${n}@example.com`, template: 'receipt' }), {
        priority: bands[1]!.priority,
      });
    } else {
      await queue.send(IngestMetric({ sentAt, name: `page.view.${n % 50}`, value: 1 }), {
        priority: bands[2]!.priority,
      });
    }
    if (queue.size > maxDepth) maxDepth = queue.size;
  }
}

const tty = process.stdout.isTTY === true;

/** Prints a line above the live progress line (or just a line when not on a terminal). */
function say(text: string): void {
  process.stdout.write(tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
}

console.log(
  `sluice demo: ${TOTAL.toLocaleString('en-US')} commands from ${PRODUCERS} producers → ` +
    `MemoryQueue({ order: 'priority', maxsize: ${MAXSIZE} }) → Pump (concurrency ${CONCURRENCY}) → CommandBus`,
);
console.log(
  `bands: ${bands.map((b) => `${b.name} = ${b.type} (priority ${b.priority}, ${b.share * 100}%)`).join(', ')}\n`,
);

const started = performance.now();
const draining = new Pump(queue, commands).draining({ concurrency: CONCURRENCY, graceful: true });

let lastCount = 0;
let lastAt = started;
const progress = setInterval(
  () => {
    const now = performance.now();
    const { processed, inFlight } = draining.stats;
    const rate = ((processed - lastCount) * 1000) / (now - lastAt);
    lastCount = processed;
    lastAt = now;
    if (queue.size > maxDepth) maxDepth = queue.size;
    const line =
      `${((now - started) / 1000).toFixed(1).padStart(5)} s  processed ${fmt(processed).padStart(7)}` +
      ` (${String(Math.floor((processed * 100) / TOTAL)).padStart(3)}%)  rate ${fmt(rate).padStart(6)}/s` +
      `  queue ${fmt(queue.size).padStart(5)}/${fmt(MAXSIZE)}  in flight ${String(inFlight).padStart(2)}` +
      `  drains ${draining.concurrency}`;
    process.stdout.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
  },
  tty ? 200 : 1_000,
);

const producing = Promise.all(Array.from({ length: PRODUCERS }, (_, id) => producer(id, TOTAL / PRODUCERS)));

await halfway;
draining.concurrency = TUNED_CONCURRENCY;
say(`→ halfway (${fmt(TOTAL / 2)} handled): re-tuned concurrency ${CONCURRENCY} → ${TUNED_CONCURRENCY}`);

await producing;
say(`→ producers done; closing the queue and draining the ${fmt(queue.size)} commands it still holds`);
await queue.close();
await draining.stop(); // graceful: resolves once the queue is empty and every dispatch settled
clearInterval(progress);
const seconds = (performance.now() - started) / 1000;
say(`→ stopped gracefully after ${seconds.toFixed(1)} s\n`);

const { processed, failed } = draining.stats;
console.log(
  table(
    ['', 'value'],
    [
      ['commands handled', `${fmt(processed)} (${failed} failed)`],
      ['throughput', `${fmt(processed / seconds)} commands/s`],
      ['max queue depth seen', `${fmt(maxDepth)} (maxsize ${fmt(MAXSIZE)})`],
      ['peak RSS', `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`],
    ],
  ),
);
console.log();

const percentiles = bands.map((band) => {
  const sorted = band.latencies.subarray(0, band.count).sort();
  const at = (p: number) => sorted[Math.min(band.count - 1, Math.floor(band.count * p))]!;
  return { band, p50: at(0.5), p99: at(0.99) };
});
console.log(
  table(
    ['band', 'command', 'priority', 'handled', 'p50 send→handled', 'p99 send→handled'],
    percentiles.map(({ band, p50, p99 }) => [
      band.name,
      band.type,
      String(band.priority),
      fmt(band.count),
      ms(p50),
      ms(p99),
    ]),
  ),
);

const critical = percentiles[0]!;
const bulk = percentiles[2]!;
console.log(
  `\nCritical commands waited ${ms(critical.p99)} at p99 against ${ms(bulk.p99)} for bulk: ` +
    `higher priority overtakes what is already queued, while backpressure kept the queue at ≤ ${fmt(maxDepth)}.`,
);

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function ms(milliseconds: number): string {
  return `${milliseconds.toFixed(1)} ms`;
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
