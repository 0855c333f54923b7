import { Cron } from 'croner';
import { InvalidCronError } from './errors.js';

/** How the app starts a schedule's timer; not exported from the package entry. */
/** @internal */
export const startSchedule: unique symbol = Symbol('sluice.cron.start');

/**
 * A repeating schedule of one task with fixed arguments. Parsing and timing are croner's; this class
 * only names each run and hands it to the app. Made idle: its timer is armed only once the app runs
 * (croner arms one even for a paused job, which would keep a never-started app's process alive).
 */
export class CronSchedule {
  /** The schedule's id: each run's job id is `id@<ISO time>`. */
  readonly id: string;
  /** The cron expression, as given. */
  readonly expression: string;
  readonly #cron: Cron;
  readonly #run: (self: Cron) => Promise<void>;
  readonly #onStop: (schedule: CronSchedule) => void;

  /**
   * @internal `run(jobId)` pushes one run; its promise is awaited so a run blocked by backpressure is
   * not stacked.
   */
  constructor(
    id: string,
    expression: string,
    run: (jobId: string) => Promise<unknown>,
    onStop: (schedule: CronSchedule) => void,
  ) {
    // croner also takes an ISO date-time (any string with a ':') as a one-off run, and nicknames
    // such as '@daily': neither is the cron expression this API promises.
    if (typeof expression !== 'string') throw new InvalidCronError(expression, undefined);
    const fields = expression.trim().split(/\s+/).length;
    if (fields !== 5 && fields !== 6) {
      const why = new Error(`${fields} field(s), not 5 (or 6 with seconds first)`);
      throw new InvalidCronError(expression, why);
    }
    try {
      this.#cron = new Cron(expression, { protect: true });
    } catch (error) {
      throw new InvalidCronError(expression, error);
    }
    this.#run = (self) => {
      // Cron times are whole seconds: flooring the trigger time gives every process the same id.
      const time = Math.floor((self.currentRun() ?? new Date()).getTime() / 1000) * 1000;
      return run(`${id}@${new Date(time).toISOString()}`).then(ignore, ignore);
    };
    this.id = id;
    this.expression = expression;
    this.#onStop = onStop;
  }

  /** When the next run is due, or `null` when the expression matches no future time. */
  nextRun(): Date | null {
    return this.#cron.nextRun();
  }

  /** @internal Arms the timer; called once, when the app runs. */
  [startSchedule](): void {
    this.#cron.schedule(this.#run);
  }

  /** Stops for good: no more runs. Jobs already pushed are not affected. */
  stop(): void {
    this.#cron.stop();
    this.#onStop(this);
  }
}

/** A run that could not be pushed (the app is stopping) is simply skipped. */
function ignore(): void {}
