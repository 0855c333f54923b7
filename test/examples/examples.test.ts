/**
 * Every program in examples/ runs as its reader would run it (`npx tsx examples/<file>`), as a real
 * child process: it must exit 0 by itself and print what its header promises. An example that talks
 * to a broker runs when that broker is up (a loud skip otherwise, a failure under CI). A few
 * examples are run by the tests of what they show; this file checks that those tests still do.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type BrokerService, brokersOf, repoRoot } from '../docs/extract-blocks.js';
import { runTypeScript } from '../docs/run-blocks.js';
import { brokerAvailable } from '../support/broker.js';

const examplesDir = join(repoRoot, 'examples');

/** What each example must print: every pattern matches its output; `once` lines appear exactly once. */
const expectations: Record<string, { output: RegExp[]; once?: string[]; timeoutMs?: number }> = {
  'demo.ts': { output: [/Critical commands waited .* against .* for bulk/], timeoutMs: 90_000 },
  'jobs.ts': { output: [/# priorities/, /# live tuning/, /workers = 4, maxsize = 16: 12 jobs/] },
  'redis.ts': {
    output: [
      /order-2: charged 450 cents on attempt 2/,
      /pump: 3 charged, 4 failed attempts/,
      /dead letter order-3 after attempt 3: failed 3 of 3 attempts: card reported stolen/,
    ],
  },
  'postgres.ts': {
    output: [/order 3: over the credit limit: rolled back/, /orders table: 1 charged, 2 charged\n/],
  },
  'amqp.ts': {
    output: [/^ *\d+ ms {2}sent "Reset your password"/, /7 emails sent/],
    once: ['sent "Welcome" to grace@example.com'],
  },
  'nats.ts': {
    output: [/web: video-talk success: talk-720p\.mp4/, /web: video-intro success: intro-720p\.mp4/],
    once: ['worker: transcoding intro.mp4'],
  },
  'sqlite.ts': {
    output: [/dead letter order\.paid #8: failed 2 of 2 attempts/, /8 of 8 webhooks delivered/],
  },
};

/** Examples that the tests of what they show already run, and the test file that does. */
const runElsewhere: Record<string, string> = {
  'distributed-jobs.ts': 'test/transports/redis-job-store.test.ts',
  'sqlite-jobs.ts': 'test/transports/sqlite-jobs.test.ts',
  'telemetry.ts': 'test/otel/telemetry-example.test.ts',
};

const examples = readdirSync(examplesDir)
  .filter((name) => name.endsWith('.ts'))
  .sort();
const sources = new Map(examples.map((name) => [name, readFileSync(join(examplesDir, name), 'utf8')]));
const brokersOfExample = (name: string) => brokersOf(sources.get(name) ?? '');

const brokerUp = new Map<BrokerService, boolean>();
for (const service of new Set(examples.filter((name) => !(name in runElsewhere)).flatMap(brokersOfExample))) {
  brokerUp.set(service, await brokerAvailable(service));
}

describe('examples', () => {
  it.each(examples)('%s is run by a test and imports sluice by its public names', (name) => {
    const source = sources.get(name) ?? '';
    expect(source, 'imports from src/: use sluice, sluice/redis, ...').not.toMatch(/from '\.\.\/src\//);
    const elsewhere = runElsewhere[name];
    if (elsewhere === undefined) {
      expect(expectations[name], `no expected output for examples/${name} here`).toBeDefined();
    } else {
      expect(readFileSync(join(repoRoot, elsewhere), 'utf8')).toContain(`examples/${name}`);
    }
  });

  for (const name of examples.filter((example) => expectations[example] !== undefined)) {
    const { output, once = [], timeoutMs = 30_000 } = expectations[name]!;
    const up = brokersOfExample(name).every((service) => brokerUp.get(service) === true);
    it.runIf(up)(`npx tsx examples/${name}`, { timeout: timeoutMs + 5_000 }, async () => {
      const result = await runTypeScript(join(examplesDir, name), timeoutMs);
      expect(result.ok, result.failure).toBe(true);
      for (const pattern of output) expect(result.stdout).toMatch(new RegExp(pattern.source, 'm'));
      for (const line of once) expect(result.stdout.split(line).length - 1, `"${line}" times`).toBe(1);
    });
  }
});
