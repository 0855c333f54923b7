import { setTimeout as delay } from 'node:timers/promises';
import { inspect } from 'node:util';
import type { Queue, SendOptions } from '../../src/queuing/types.js';
import type { DurableHarness } from '../conformance/durable.js';
import { sleep } from '../support/async.js';
import { sendRetrying } from '../support/deliveries.js';
import { Random } from '../support/random.js';
import type { Leftovers, SoakBroker } from './brokers.js';
import { type ConsumerStop, Consumers } from './consumers.js';
import { Ledger } from './ledger.js';

interface Numbered {
  n: number;
}

export interface SoakSettings {
  messages: number;
  seed: number;
  /** Aborted on Ctrl-C: the run stops where it is and cleans up. */
  signal: AbortSignal;
}

export interface SoakReport {
  broker: string;
  sent: number;
  handled: number;
  lost: number;
  /** A few of the lost messages' numbers. */
  lostExamples: number[];
  duplicates: number;
  /** Handlings that failed on purpose, so were nacked. */
  failures: number;
  deadLettered: number;
  kills: number;
  restarts: number;
  /** Consumers that stopped although nobody stopped them, and whether the broker was down then. */
  stopped: (ConsumerStop & { brokerDown: boolean })[];
  /** Sends that still failed after retrying: not in the ledger. */
  sendFailures: string[];
  /** Why the restart failed, if it did (then the run proves less than it should). */
  restartError?: string;
  seconds: number;
}

const CONSUMERS = 3;
/** Short, so that a killed consumer's messages come back soon; high, so that nothing is dead-lettered. */
const CONSUMER_OPTIONS = {
  visibilityTimeout: 2_000,
  maxAttempts: 1_000,
  backoff: { type: 'fixed', delay: 200 },
  closeTimeout: 1_000,
};
const BACKOFF_DELAY = 200;
const SENDS_PER_SECOND = 100;
/** Few distinct delays: RabbitMQ keeps a queue per delay. */
const DELAYS = [150, 600];
const KILL_EVERY_MS = { least: 2_000, most: 4_000 };
/**
 * How long the broker stays down: longer than a lease, so that heartbeats and settles fail meanwhile,
 * and than a consumer process takes to start, so that one connects for the first time meanwhile.
 */
const OUTAGE_MS = { least: 3_000, most: 6_000 };
/** How long the soak waits, once sending and the restart are over, for every sent message to be handled. */
const DRAIN_TIMEOUT_MS = 120_000;
const PROGRESS_EVERY_MS = 5_000;

/**
 * One broker's soak: a producer here sends numbered messages at a steady pace (some with a priority,
 * a delay or a dedup key) while three consumer processes drain them and one of them is killed every
 * few seconds; once, mid-run, the broker is restarted. Then it waits until every message whose send
 * resolved was handled, and reports.
 */
export async function soakBroker(
  name: string,
  broker: SoakBroker,
  settings: SoakSettings,
): Promise<SoakReport> {
  const startedAt = Date.now();
  const log = (line: string) =>
    console.log(`[${name} ${Math.round((Date.now() - startedAt) / 1000)} s] ${line}`);
  const { harness } = broker;
  const queue = `soak-${name}-${process.pid}-${startedAt.toString(36)}`;
  const sending = new Random(settings.seed);
  const ledger = new Ledger(settings.messages);
  const stopped: SoakReport['stopped'] = [];
  let brokerDown = false;
  const consumers = new Consumers(
    { module: harness.childModule, queue, options: CONSUMER_OPTIONS },
    new Random(settings.seed + 1),
    (n) => ledger.recordHandled(n),
    (stop) => {
      stopped.push({ ...stop, brokerDown });
      log(`a consumer stopped by itself (broker ${brokerDown ? 'down' : 'up'}): ${stop.why}`);
    },
  );
  const leftovers: Leftovers = { keys: [], delays: [...DELAYS, BACKOFF_DELAY] };
  const sendFailures: string[] = [];
  const restartAt = Math.floor(settings.messages * (0.3 + 0.3 * sending.next()));
  const outage = OUTAGE_MS.least + sending.int(OUTAGE_MS.most - OUTAGE_MS.least + 1);
  const restart: RestartOutcome = { restarts: 0 };
  let restarting: Promise<void> | undefined;
  let deadLettered = 0;
  const finished = new AbortController();
  const until = AbortSignal.any([settings.signal, finished.signal]);
  const progress = setInterval(() => {
    log(`sent ${ledger.sent}, handled ${ledger.unique}, kills ${consumers.kills}`);
  }, PROGRESS_EVERY_MS);
  const producer = harness.open<Numbered>(queue, { closeTimeout: 1_000 });
  let killing: Promise<void> | undefined;
  try {
    for (let i = 0; i < CONSUMERS; i++) consumers.start();
    killing = killAtRandom(consumers, new Random(settings.seed + 2), until);
    const paceStart = Date.now();
    for (let n = 0; n < settings.messages && !until.aborted; n++) {
      if (n === restartAt && harness.restart !== undefined) {
        restarting = restartOnce(harness.restart, log, restart, async () => {
          brokerDown = true;
          log(`the broker is down, for ${outage} ms`);
          await consumers.killOne(); // so that a consumer starts while the broker is down
          await sleep(outage);
        }).finally(() => {
          brokerDown = false;
        });
      }
      const wait = paceStart + (n * 1000) / SENDS_PER_SECOND - Date.now();
      if (wait > 0) await sleep(wait);
      const options = sendOptions(n, sending);
      if (options?.key !== undefined) leftovers.keys.push(options.key);
      try {
        await sendRetrying({ send: (message: Numbered) => producer.send(message, options) }, { n }, 60_000);
        ledger.recordSent(n);
      } catch (error) {
        sendFailures.push(`${n}: ${inspect(error, { breakLength: Number.POSITIVE_INFINITY })}`);
      }
    }
    await restarting;
    const drainUntil = Date.now() + DRAIN_TIMEOUT_MS;
    while (ledger.lost > 0 && Date.now() < drainUntil && !until.aborted) await sleep(100);
  } finally {
    finished.abort();
    clearInterval(progress);
    await killing;
    await restarting; // the broker must be up again before cleaning up
    await consumers.close();
    await producer.close().catch(() => {});
    deadLettered = await countDeadLetters(harness.open<unknown>(`${queue}.dead`, { closeTimeout: 1_000 }));
    await broker.purge(queue, leftovers);
  }
  return {
    broker: name,
    sent: ledger.sent,
    handled: ledger.unique,
    lost: ledger.lost,
    lostExamples: ledger.owed(10),
    duplicates: ledger.duplicates,
    failures: consumers.failures,
    deadLettered,
    kills: consumers.kills,
    ...restart,
    stopped,
    sendFailures,
    seconds: Math.round((Date.now() - startedAt) / 1000),
  };
}

interface RestartOutcome {
  restarts: number;
  restartError?: string;
}

/** Most messages plainly, some with a priority, a delay or a dedup key, so each adapter's paths see the kills. */
function sendOptions(n: number, random: Random): SendOptions | undefined {
  if (n % 10 === 3) return { key: `soak-${n}` };
  if (n % 10 === 1) return { priority: random.pick([-1, 1, 5]) };
  if (n % 10 === 2) return { delay: random.pick(DELAYS) };
  return undefined;
}

async function restartOnce(
  restart: NonNullable<DurableHarness['restart']>,
  log: (line: string) => void,
  outcome: RestartOutcome,
  whileDown: () => Promise<void>,
): Promise<void> {
  log('restarting the broker');
  try {
    await restart(whileDown);
    outcome.restarts++;
    log('the broker is back');
  } catch (error) {
    outcome.restartError = inspect(error, { breakLength: Number.POSITIVE_INFINITY });
    log(`the restart failed: ${outcome.restartError}`);
  }
}

/** Kills one consumer every few seconds (seeded) until `signal` aborts. */
async function killAtRandom(consumers: Consumers, random: Random, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const pause = KILL_EVERY_MS.least + random.int(KILL_EVERY_MS.most - KILL_EVERY_MS.least + 1);
    await delay(pause, undefined, { signal }).catch(() => {}); // aborted: the run is over
    if (!signal.aborted) await consumers.killOne();
  }
}

/** Empties the dead-letter queue: nothing should be there, so it waits only until a quiet moment. */
async function countDeadLetters(dead: Queue<unknown>): Promise<number> {
  const iterator = dead[Symbol.asyncIterator]();
  let count = 0;
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), sleep(2_000).then(() => undefined)]);
      if (next === undefined || next.done) return count;
      count++;
      await next.value.ack();
    }
  } finally {
    await iterator.return?.();
    await dead.close();
  }
}
