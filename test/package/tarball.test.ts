/**
 * What `npm publish` would ship: only the build, README, LICENSE and CHANGELOG; every `exports`
 * target and the `bin` present; source and declaration maps that resolve inside the tarball; and
 * publint and Are the Types Wrong satisfied for every subpath.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, type Packed, pack, repoRoot, run } from './tarball.js';

interface Manifest {
  exports: Record<string, { types: string; import: string }>;
  bin: Record<string, string>;
}

const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as Manifest;
const TOP_LEVEL = ['CHANGELOG.md', 'LICENSE', 'README.md', 'package.json'];

let packed: Packed;
let extracted: string;

beforeAll(async () => {
  packed = await pack();
  await run('tar', ['-xzf', packed.tarball, '-C', packed.dir], { cwd: packed.dir });
  extracted = join(packed.dir, 'package');
}, 60_000);

afterAll(() => packed?.remove());

/** A manifest path ('./dist/index.js') as it appears in the file list ('dist/index.js'). */
const inTarball = (path: string) => normalize(path);

describe('the packed tarball', () => {
  it('holds only dist/, README.md, LICENSE, CHANGELOG.md and package.json', () => {
    const outside = packed.files.filter((file) => !file.startsWith('dist/') && !TOP_LEVEL.includes(file));
    expect(outside).toEqual([]);
    for (const file of TOP_LEVEL) expect(packed.files).toContain(file);
    expect(packed.files.filter((file) => /\.(test|test-d)\.ts$|tsbuildinfo$/.test(file))).toEqual([]);
  });

  it('is ESM only, for Node.js 20 or newer, with types then import for each subpath', () => {
    const shipped = JSON.parse(readFileSync(join(extracted, 'package.json'), 'utf8')) as Manifest & {
      type: string;
      engines: { node: string };
      main?: string;
    };
    expect(shipped.type).toBe('module');
    expect(shipped.engines.node).toBe('>=20');
    expect(shipped.main).toBeUndefined();
    for (const [subpath, entry] of Object.entries(shipped.exports)) {
      expect(Object.keys(entry), subpath).toEqual(['types', 'import']);
    }
  });

  it('holds the target of every exports entry and of the bin', () => {
    const targets = [
      ...Object.values(manifest.exports).flatMap((entry) => [entry.types, entry.import]),
      ...Object.values(manifest.bin),
    ];
    expect(targets.length).toBeGreaterThan(2);
    for (const target of targets) expect(packed.files, target).toContain(inTarball(target));
  });

  it('ships a source map and a declaration map next to every module, each resolving inside the tarball', () => {
    const shipped = new Set(packed.files);
    const modules = packed.files.filter((file) => file.endsWith('.js'));
    const declarations = packed.files.filter((file) => file.endsWith('.d.ts'));
    expect(modules.length).toBeGreaterThan(0);
    const unresolved: string[] = [];
    for (const file of [...modules, ...declarations]) {
      const map = `${file}.map`;
      if (!shipped.has(map)) {
        unresolved.push(`${file}: no ${map}`);
        continue;
      }
      const { sources } = JSON.parse(readFileSync(join(extracted, map), 'utf8')) as { sources: string[] };
      for (const source of sources) {
        const target = normalize(join(dirname(map), source));
        if (!shipped.has(target)) unresolved.push(`${map}: ${source} (${target}) is not in the tarball`);
      }
    }
    expect(unresolved).toEqual([]);
  });

  it('passes publint', async () => {
    const output = await run(bin('publint'), ['run', packed.tarball, '--strict'], { cwd: packed.dir });
    expect(output).toContain('All good');
  }, 30_000);

  // ESM only by design: the esm-only profile ignores resolution from CommonJS and node10, which
  // cannot load an ESM-only package, and checks node16 (from ESM) and bundler for every subpath.
  it('passes Are the Types Wrong for every subpath', async () => {
    const output = await run(bin('attw'), [packed.tarball, '--profile', 'esm-only', '--format', 'json'], {
      cwd: packed.dir,
    });
    const { analysis } = JSON.parse(output) as { analysis: { entrypoints: Record<string, unknown> } };
    expect(Object.keys(analysis.entrypoints).sort()).toEqual(Object.keys(manifest.exports).sort());
  }, 30_000);
});
