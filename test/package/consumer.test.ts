/**
 * A project that installs the packed tarball as users do: `import 'sluice'` type-checks (NodeNext,
 * strict, library declarations checked too) and runs with no broker client installed, as does the
 * `sluice` command; then `sluice/redis` with only its peer, ioredis, added, against the live Redis.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerAvailable } from '../support/broker.js';
import { CORE_ROUND_TRIP, REDIS_ROUND_TRIP } from './consumer-sources.js';
import { bin, npmEnvironment, type Packed, pack, repoRoot, run } from './tarball.js';

const redisUp = await brokerAvailable('redis');

/** The version this repository installed, so npm finds it in the cache `npm ci` filled. */
function installedVersion(name: string): string {
  const manifest = join(repoRoot, 'node_modules', name, 'package.json');
  return `${name}@${(JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version}`;
}

const BROKER_CLIENTS = ['ioredis', 'pg', 'amqplib', 'better-sqlite3', '@nats-io/transport-node'];
const INSTALL_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'];
const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    skipLibCheck: false,
    types: ['node'],
    outDir: 'out',
  },
  include: ['*.ts'],
};

let packed: Packed;
let project: string;

beforeAll(async () => {
  packed = await pack();
  project = await mkdtemp(join(tmpdir(), 'sluice-consumer-'));
  await writeFile(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2),
  );
  await writeFile(join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
  await run('npm', ['install', packed.tarball, installedVersion('@types/node'), ...INSTALL_FLAGS], {
    cwd: project,
    env: npmEnvironment(),
  });
}, 120_000);

afterAll(async () => {
  await packed?.remove();
  if (project) await rm(project, { recursive: true, force: true });
});

const typecheckAndBuild = () => run(bin('tsc'), ['-p', project], { cwd: project });

describe('a project installing the packed tarball', () => {
  it('gets no broker client with it', () => {
    const installed = BROKER_CLIENTS.filter((name) => existsSync(join(project, 'node_modules', name)));
    expect(installed).toEqual([]);
  });

  it("type-checks and runs a MemoryQueue and Pump round trip from 'sluice'", async () => {
    await writeFile(join(project, 'core.ts'), CORE_ROUND_TRIP);
    await typecheckAndBuild();
    const output = await run(process.execPath, [join(project, 'out', 'core.js')], { cwd: project });
    expect(output.trim()).toBe('round trip: 10 messages');
  }, 60_000);

  it('runs the sluice command', async () => {
    const output = await run(join(project, 'node_modules', '.bin', 'sluice'), ['--help'], { cwd: project });
    expect(output).toContain('sluice');
  }, 30_000);

  describe.runIf(redisUp)('with ioredis added', () => {
    it("type-checks and runs a RedisQueue round trip from 'sluice/redis'", async () => {
      await run('npm', ['install', installedVersion('ioredis'), ...INSTALL_FLAGS], {
        cwd: project,
        env: npmEnvironment(),
      });
      await writeFile(join(project, 'redis.ts'), REDIS_ROUND_TRIP);
      await typecheckAndBuild();
      const output = await run(process.execPath, [join(project, 'out', 'redis.js')], { cwd: project });
      expect(output.trim()).toBe('redis round trip: 5 messages');
    }, 90_000);
  });
});
