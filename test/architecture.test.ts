import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * ARCHITECTURE.md's import rules and the published package's dependencies, read off the sources: a
 * user installing sluice gets every package its code and its type declarations import.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};

/** The client packages each transport is written against. */
const clients: Record<string, string[]> = {
  redis: ['ioredis'],
  postgres: ['pg'],
  amqp: ['amqplib'],
  nats: ['@nats-io/transport-node', '@nats-io/jetstream', '@nats-io/kv'],
  sqlite: ['better-sqlite3'],
};

/** Which layer folders each layer may import (its own included). */
const allowedLayers: Record<string, string[]> = {
  'errors.ts': [],
  'timer.ts': [],
  middleware: ['middleware', 'errors.ts', 'timer.ts'],
  routing: ['routing', 'middleware', 'errors.ts'],
  queuing: ['queuing', 'middleware', 'errors.ts', 'timer.ts'],
  jobs: ['jobs', 'queuing', 'routing', 'middleware', 'errors.ts', 'timer.ts'],
  'index.ts': ['jobs', 'queuing', 'routing', 'middleware', 'errors.ts'],
  'transports/shared': ['transports/shared', 'jobs', 'queuing', 'errors.ts', 'timer.ts'],
  // Built on public faces only: the operator face of any queue, the job store contract.
  dashboard: ['dashboard', 'jobs', 'queuing', 'errors.ts', 'timer.ts'],
  // Wraps any queue (the Queue contract, its operator face, the pump's hand-off protocol); jobs for types.
  otel: ['otel', 'jobs', 'queuing', 'errors.ts'],
  // The program opens each broker's queue through its public entry (see the test below).
  cli: [
    'cli',
    'dashboard',
    'jobs',
    'queuing',
    'errors.ts',
    ...Object.keys(clients).map((b) => `transports/${b}`),
  ],
};

interface SourceImport {
  file: string;
  specifier: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(file: string): SourceImport[] {
  // Doc comments are left out: their examples import 'sluice' as a user would.
  const text = readFileSync(file, 'utf8').replace(/\/\*\*[\s\S]*?\*\//g, '');
  const found: SourceImport[] = [];
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
    found.push({ file: relative(join(root, 'src'), file), specifier: match[1]! });
  }
  return found;
}

const imports = sourceFiles(join(root, 'src')).flatMap(importsOf);
const isBuiltin = (specifier: string) => specifier.startsWith('node:') || builtinModules.includes(specifier);
const packageOf = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

/** The top folder (or root file) of `src/` a source path belongs to. */
function layerOf(path: string): string {
  const [top, second] = path.split('/');
  return top === 'transports' ? `transports/${second}` : top!;
}

function targetLayer(from: SourceImport): string {
  const target = resolve(join(root, 'src'), dirname(from.file), from.specifier).replace(/\.js$/, '.ts');
  return layerOf(relative(join(root, 'src'), target));
}

describe('layers (ARCHITECTURE.md)', () => {
  it('the core imports only the layers below it; routing and queuing never import each other', () => {
    const wrong = imports
      .filter(
        ({ file, specifier }) =>
          specifier.startsWith('.') &&
          (!file.startsWith('transports/') || layerOf(file) === 'transports/shared'),
      )
      .filter((from) => !allowedLayers[layerOf(from.file)]!.includes(targetLayer(from)))
      .map(({ file, specifier }) => `${file} → ${specifier}`);
    expect(wrong).toEqual([]);
  });

  it('the program reaches a broker only through its public entry, and only it imports the argument parser', () => {
    const wrong = imports
      .filter(({ file, specifier }) =>
        file.startsWith('cli/')
          ? specifier.includes('/transports/') && !/\/transports\/[a-z]+\/index\.js$/.test(specifier)
          : packageOf(specifier) === 'commander',
      )
      .map(({ file, specifier }) => `${file} → ${specifier}`);
    expect(wrong).toEqual([]);
  });

  it('a transport imports only queuing, jobs (for its job store), transports/shared, errors, its own files and its client', () => {
    const wrong = imports
      .filter(({ file }) => file.startsWith('transports/') && layerOf(file) !== 'transports/shared')
      .filter((from) => {
        const own = layerOf(from.file);
        if (isBuiltin(from.specifier)) return false;
        if (!from.specifier.startsWith('.'))
          return !clients[own.split('/')[1]!]!.includes(packageOf(from.specifier));
        return ![own, 'transports/shared', 'queuing', 'jobs', 'errors.ts', 'timer.ts'].includes(
          targetLayer(from),
        );
      })
      .map(({ file, specifier }) => `${file} → ${specifier}`);
    expect(wrong).toEqual([]);
  });
});

describe('layout', () => {
  it('no file in src is over 300 lines: one concept per file', () => {
    const long = sourceFiles(join(root, 'src'))
      .map((file) => ({
        file: relative(root, file),
        lines: readFileSync(file, 'utf8').split('\n').length - 1,
      }))
      .filter(({ lines }) => lines > 300)
      .map(({ file, lines }) => `${file}: ${lines} lines`);
    expect(long).toEqual([]);
  });

  it('every broker folder names each role the same way', () => {
    const roles = ['connection.ts', 'producer.ts', 'consumer.ts', 'delivery.ts', 'index.ts'];
    for (const broker of Object.keys(clients)) {
      const files = readdirSync(join(root, 'src', 'transports', broker));
      const missing = roles.filter((role) => !files.includes(role));
      expect(missing, broker).toEqual([]);
      const queueClass = `${broker[0]!.toUpperCase()}${broker.slice(1)}Queue`;
      const text = files
        .map((file) => readFileSync(join(root, 'src', 'transports', broker, file), 'utf8'))
        .join('\n');
      expect(text, broker).toMatch(new RegExp(`export class ${queueClass}<`));
      expect(text, broker).toMatch(new RegExp(`export class ${queueClass.replace('Queue', 'Consumer')}<`));
      expect(text, broker).toMatch(
        new RegExp(`export class ${queueClass.replace('Queue', 'Delivery')}<T> extends GuardedDelivery<`),
      );
    }
  });

  it('no import cycles, type-only imports included', () => {
    const graph = new Map<string, string[]>();
    for (const { file, specifier } of imports) {
      if (!specifier.startsWith('.')) continue;
      const target = relative(
        join(root, 'src'),
        resolve(join(root, 'src'), dirname(file), specifier),
      ).replace(/\.js$/, '.ts');
      graph.set(file, [...(graph.get(file) ?? []), target]);
    }
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const path: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'visiting');
      path.push(file);
      for (const target of graph.get(file) ?? []) {
        if (state.get(target) === 'visiting')
          cycles.push([...path.slice(path.indexOf(target)), target].join(' → '));
        else if (!state.has(target)) visit(target);
      }
      path.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });
});

describe('package dependencies', () => {
  it('only sluice/otel imports OpenTelemetry, whose API is an optional peer dependency', () => {
    const wrong = imports
      .filter(({ specifier }) => specifier.startsWith('@opentelemetry/'))
      .filter(({ file, specifier }) => !file.startsWith('otel/') || specifier !== '@opentelemetry/api')
      .map(({ file, specifier }) => `${file} → ${specifier}`);
    expect(wrong).toEqual([]);
    expect(manifest.peerDependencies?.['@opentelemetry/api']).toBeDefined();
    expect(manifest.peerDependenciesMeta?.['@opentelemetry/api']?.optional).toBe(true);
    expect(imports.some(({ file }) => file.startsWith('otel/'))).toBe(true);
  });

  it('every package the core imports, for types too, is a dependency (never a broker client)', () => {
    const missing = imports
      .filter(
        ({ file, specifier }) =>
          !file.startsWith('transports/') && !file.startsWith('otel/') && !specifier.startsWith('.'),
      )
      .filter(({ specifier }) => !isBuiltin(specifier))
      .filter(({ specifier }) => manifest.dependencies?.[packageOf(specifier)] === undefined)
      .map(({ file, specifier }) => `${file} → ${specifier}`);
    expect(missing).toEqual([]);
  });

  it('each broker client is an optional peer dependency, with its @types package when it has no types', () => {
    const peers = manifest.peerDependencies ?? {};
    const optional = (name: string) => manifest.peerDependenciesMeta?.[name]?.optional === true;
    for (const client of Object.values(clients).flat()) {
      expect(peers[client], client).toBeDefined();
      expect(optional(client), client).toBe(true);
      const own = JSON.parse(readFileSync(join(root, 'node_modules', client, 'package.json'), 'utf8'));
      const typed =
        own.types !== undefined ||
        own.typings !== undefined ||
        existsSync(join(root, 'node_modules', client, 'index.d.ts'));
      if (!typed) {
        const types = `@types/${client.replace('@', '').replace('/', '__')}`;
        expect(peers[types], types).toBeDefined();
        expect(optional(types), types).toBe(true);
      }
    }
  });
});
