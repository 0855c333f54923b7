import { Cron } from 'croner';
import { InvalidCronError } from './errors.js';

/** How the app starts a schedule's timer; not exported from the package entry. */
export const resumeSchedule: unique symbol = Symbol('sluice.cron.resume');

/**
 * A repeating schedule of one task with fixed arguments. Parsing and timing are croner's; this class
 * only names each run and hands it to the app. Made paused; the app resumes it while it runs.
 */
export class CronSchedule {
  readonly id: string;
  readonly expression: string;
  readonly #cron: Cron;
  readonly #onStop: (schedule: CronSchedule) => void;

  /** `run(jobId)` pushes one run; its promise is awaited so a run blocked by backpressure is not stacked. */
  constructor(
    id: string,
    expression: string,
    run: (jobId: string) => Promise<unknown>,
    onStop: (schedule: CronSchedule) => void,
  ) {
    if (typeof expression !== 'string') throw new InvalidCronError(expression, undefined);
    try {
      this.#cron = new Cron(expression, { paused: true, protect: true }, (self) => {
        // Cron times are whole seconds: flooring the trigger time gives every process the same id.
        const time = Math.floor((self.currentRun() ?? new Date()).getTime() / 1000) * 1000;
        return run(`${id}@${new Date(time).toISOString()}`).then(ignore, ignore);
      });
    } catch (error) {
      throw new InvalidCronError(expression, error);
    }
    this.id = id;
    this.expression = expression;
    this.#onStop = onStop;
  }

  /** When the next run is due, or `null` when the expression matches no future time. */
  nextRun(): Date | null {
    return this.#cron.nextRun();
  }

  [resumeSchedule](): void {
    this.#cron.resume();
  }

  /** Stops for good: no more runs. Jobs already pushed are not affected. */
  stop(): void {
    this.#cron.stop();
    this.#onStop(this);
  }
}

/** A run that could not be pushed (the app is stopping) is simply skipped. */
function ignore(): void {}
