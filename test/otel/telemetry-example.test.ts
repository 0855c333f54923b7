import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { within } from '../support/async.js';

const example = fileURLToPath(new URL('../../examples/telemetry.ts', import.meta.url));

/** A printed span: its depth (two spaces a level), name, kind and process, as the example prints them. */
interface Printed {
  depth: number;
  name: string;
  kind: string;
  process: string;
  /** The whole line, durations and outcome included. */
  line: string;
}

function spansIn(output: string): Printed[] {
  return output
    .split('\n')
    .map((line) => /^( +)(\S+(?: \S+)?) +(INTERNAL|PRODUCER|CONSUMER) +(\w+ \d+) /.exec(line))
    .filter((match) => match !== null)
    .map(({ input: line, 1: indent, 2: name, 3: kind, 4: process }) => ({
      depth: indent!.length / 2,
      name: name!,
      kind: kind!,
      process: process!,
      line,
    }));
}

describe('examples/telemetry.ts', () => {
  let directory: string | undefined;
  afterEach(() => {
    if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
  });

  it('prints one trace across the shop and the worker process, then removes its files', async () => {
    directory = mkdtempSync(join(tmpdir(), 'sluice-telemetry-test-'));
    // its own process group, so a hung run is killed with the worker process it started
    const child = spawn(process.execPath, ['--import', 'tsx', example], {
      env: { ...process.env, SLUICE_TELEMETRY_DIR: directory },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    let code: unknown;
    try {
      code = await within(
        new Promise((resolve) => child.once('exit', resolve)),
        45_000,
        () => `the example to finish; output so far:\n${output}`,
      );
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
    expect(code, output).toBe(0);

    expect(output.match(/^trace [0-9a-f]{32}$/gm), output).toHaveLength(1);
    const spans = spansIn(output);
    const [checkout, ...rest] = spans;
    expect(checkout).toMatchObject({ depth: 1, name: 'checkout', kind: 'INTERNAL' });
    const sends = rest.filter((span) => span.name === 'send orders');
    const processings = rest.filter((span) => span.name === 'process orders');
    const charges = rest.filter((span) => span.name.startsWith('charge order-'));
    expect(sends.map((span) => [span.depth, span.kind, span.process])).toEqual(
      Array(3).fill([2, 'PRODUCER', checkout!.process]),
    );
    expect(processings.map((span) => [span.depth, span.kind])).toEqual(Array(4).fill([3, 'CONSUMER']));
    expect(charges.map((span) => [span.depth, span.kind])).toEqual(Array(4).fill([4, 'INTERNAL']));
    const worker = processings[0]!.process;
    expect(worker).not.toBe(checkout!.process);
    expect([...processings, ...charges].every((span) => span.process === worker)).toBe(true);
    // order-2 failed once: a nack in error, then its retry under the same send
    expect(processings.map((span) => /attempt \d, \w+/.exec(span.line)?.[0]).sort()).toEqual([
      'attempt 1, ack',
      'attempt 1, ack',
      'attempt 1, nack',
      'attempt 2, ack',
    ]);
    expect(output).toMatch(/process orders .*attempt 1, nack {2}ERROR: card declined, try again/);
    expect(output).toMatch(/charge order-2 .* ERROR: card declined, try again/);
    expect(readdirSync(directory)).toEqual([]);
  }, 60_000);
});
