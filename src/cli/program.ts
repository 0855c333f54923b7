/** The `sluice` command line (SPEC § 5): its commands, their arguments and options, and their help. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { dashboard } from './dashboard-command.js';
import { EXIT_USAGE } from './exit.js';
import { job } from './job-command.js';
import { outputOf } from './output.js';
import { dead, declare, pause, purge, redrive, resume, stats } from './queue-commands.js';

const URL_HELP =
  'the broker: redis://…, rediss://…, postgres://…, postgresql://…, amqp://…, amqps://…, nats://…, sqlite:<file>';

export function program(): Command {
  const sluice = new Command('sluice')
    .description("Operate sluice's queues and jobs on a broker, from a shell.")
    .option('--json', 'print machine-readable JSON')
    .showHelpAfterError('(add --help for usage)')
    // Subcommands inherit it: usage errors reach main's exit statuses instead of process.exit.
    .exitOverride();
  const json = (cmd: Command) => outputOf(cmd.optsWithGlobals<{ json?: boolean }>().json === true);

  sluice
    .command('stats')
    .description("a queue's counts: ready, delayed, in flight, dead, and whether it is paused")
    .argument('<url>', URL_HELP)
    .argument('<queue>', 'the queue')
    .option('--json', 'print machine-readable JSON')
    .action((url: string, queue: string, _options, cmd: Command) => stats(url, queue, json(cmd)));

  sluice
    .command('dead')
    .description("a queue's dead letters, oldest first, left where they are")
    .argument('<url>', URL_HELP)
    .argument('<queue>', 'the queue whose dead letters to show')
    .option('--limit <n>', 'at most this many (1 to 1000; default 50)', positiveInteger)
    .option('--after <id>', 'start after this dead letter (the last id of the previous page)')
    .option('--json', 'print machine-readable JSON, messages whole')
    .action((url: string, queue: string, options, cmd: Command) => dead(url, queue, options, json(cmd)));

  sluice
    .command('redrive')
    .description('move dead letters back to the queue, oldest first, as new messages (attempt 1)')
    .argument('<url>', URL_HELP)
    .argument('<queue>', 'the queue whose dead letters to move back')
    .option('--limit <n>', 'at most this many (default: all)', positiveInteger)
    .option('--id <id...>', 'only these dead letters (ids as `sluice dead` shows them)')
    .option('--json', 'print machine-readable JSON')
    .action((url: string, queue: string, options, cmd: Command) => redrive(url, queue, options, json(cmd)));

  sluice
    .command('purge')
    .description('delete the messages waiting in the queue, ready or delayed (not those in flight)')
    .argument('<url>', URL_HELP)
    .argument('<queue>', 'the queue to empty')
    .option('--yes', 'confirm: the messages are deleted for good')
    .option('--json', 'print machine-readable JSON')
    .action((url: string, queue: string, options: { yes?: boolean }, cmd: Command) => {
      if (options.yes !== true) {
        cmd.error(`error: purge deletes every waiting message of ${queue} for good: add --yes to confirm`, {
          exitCode: EXIT_USAGE,
          code: 'sluice.confirmationRequired',
        });
      }
      return purge(url, queue, json(cmd));
    });

  sluice
    .command('pause')
    .description('stop every consumer of the queue, in every process, from taking messages (until resume)')
    .argument('<url>', URL_HELP)
    .argument('<queue>', 'the queue')
    .action((url: string, queue: string, _options, cmd: Command) => pause(url, queue, json(cmd)));

  sluice
    .command('resume')
    .description("let the queue's consumers take messages again")
    .argument('<url>', URL_HELP)
    .argument('<queue>', 'the queue')
    .action((url: string, queue: string, _options, cmd: Command) => resume(url, queue, json(cmd)));

  sluice
    .command('job')
    .description('a stored job: status, attempt, progress, result or error, and times')
    .argument('<url>', URL_HELP)
    .argument('<job-id>', "the job's id")
    .option('--store <name>', "the job store's name (default: the stores' default, jobs)")
    .option('--json', 'print the record as JSON')
    .action((url: string, id: string, options, cmd: Command) => job(url, id, options, json(cmd)));

  sluice
    .command('declare')
    .description(
      "create the queue's topology, so that producers in other languages can send before any sluice process ran",
    )
    .argument('<url>', URL_HELP)
    .argument('<queue>', 'the queue')
    .action((url: string, queue: string, _options, cmd: Command) => declare(url, queue, json(cmd)));

  sluice
    .command('dashboard')
    .description("serve the live dashboard of the broker's queues (and jobs) until Ctrl-C")
    .argument('<url>', URL_HELP)
    .option('--port <port>', 'the port to listen on (0: any free port)', port, 7777)
    .option('--host <host>', 'the address to bind (another than loopback exposes the page)', '127.0.0.1')
    .option('--read-only', 'show only: no action offered or accepted', false)
    .addOption(
      new Option('--token <token>', 'require this token on every request').env('SLUICE_DASHBOARD_TOKEN'),
    )
    .option('--queue <name...>', 'show these queues (default: every queue the broker holds)')
    .option('--store <name>', "the job store's name (default: the stores' default, jobs)")
    .action((url: string, options, cmd: Command) => dashboard(url, options, json(cmd)));

  return sluice;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError('expected a positive integer');
  }
  return n;
}

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65_535) throw new InvalidArgumentError('expected a port from 0 to 65535');
  return n;
}
