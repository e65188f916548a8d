/**
 * The layers of src/ point one way. Each folder has a rank; a file may import from its own folder
 * or from a lower rank, never upward or sideways, and no files import each other in a loop. A
 * storage backend (storage/memcached) is reached only through the storage interface: only the
 * composition root (and the tools beside it) import it.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(__dirname, '../../src');

/** Lowest first. A folder not listed fails the test, so a new folder gets a rank on purpose. */
const RANKS: Record<string, number> = {
  base: 0,
  session: 1,
  format: 2,
  storage: 3,
  'storage/memcached': 3.5,
  'storage/peers': 3.5,
  'storage/redis': 3.5,
  failover: 4,
  locking: 5,
  revocation: 5,
  modes: 6,
  'modes/sticky': 6.5,
  'modes/nonsticky': 6.5,
  request: 7,
  metrics: 8,
  '.': 9,
  demo: 10,
  'embedded-memcached': 10,
};
/** Backends: imported only by these units. */
const BACKENDS = ['storage/memcached', 'storage/peers', 'storage/redis'];
const WIRING = ['.', 'demo', 'embedded-memcached'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

function unitOf(file: string): string {
  return relative(SRC, dirname(file)) || '.';
}

/** Every relative module a file imports (static, type-only, re-exports and dynamic imports). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'(\.{1,2}\/[^']+)'/gm)].map((m) => m[1]);
  return specs.map((spec) => resolve(dirname(file), spec).replace(/\.js$/, '.ts'));
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const name = (file: string) => relative(SRC, file);

/** The imports, as `importer -> imported`, between folders for which `wrong(from, to)` holds. */
function importsWhere(wrong: (from: string, to: string) => boolean): string[] {
  return [...graph].flatMap(([file, targets]) =>
    targets.filter((target) => wrong(unitOf(file), unitOf(target))).map((target) => `${name(file)} -> ${name(target)}`),
  );
}

describe('import graph of src/', () => {
  it('gives every folder a rank', () => {
    expect([...new Set(files.map(unitOf))].filter((unit) => !(unit in RANKS))).toEqual([]);
  });

  it('has no import from a folder to a higher or equal-ranked other folder', () => {
    expect(importsWhere((from, to) => to !== from && !(RANKS[to] < RANKS[from]))).toEqual([]);
  });

  it('reaches a storage backend only from the composition root', () => {
    expect(importsWhere((from, to) => BACKENDS.includes(to) && to !== from && !WIRING.includes(from))).toEqual([]);
  });

  it('has no loop between files', () => {
    const loops: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        loops.push([...path.slice(path.indexOf(file)), file].map(name).join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(loops).toEqual([]);
  });

  it('sees the imports it checks (a sanity check of the parser)', () => {
    expect(graph.get(join(SRC, 'index.ts'))).toContain(join(SRC, 'session-manager.ts'));
  });
});
