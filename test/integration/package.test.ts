/**
 * The built package, as users load it: require() and import of the repository root both give
 * the factory, with express-session's exports attached.
 */
import { describe, expect, it } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = (args: string[]) => spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });

describe('package entry points', () => {
  it('require() gives the factory', () => {
    const out = run(['-e', `const s = require(${JSON.stringify(root)}); console.log(typeof s, typeof s.Store, typeof s.MemoryStore, typeof s.Session, typeof s.Cookie, typeof s.sessionMetrics, typeof s(({ secret: 'x', resave: false, saveUninitialized: false })))`]);
    expect(out.stderr).toBe('');
    expect(out.stdout.trim()).toBe('function function function function function function function');
  });

  it('import gives the factory as the default export', () => {
    const out = run(['--input-type=module', '-e', `import session, { Store } from ${JSON.stringify(root + '/dist/esm/index.js')}; import * as viaExports from 'memcached-session-manager'; console.log(typeof session, typeof Store, viaExports.default === session)`]);
    expect(out.stderr).toBe('');
    expect(out.stdout.trim()).toBe('function function true');
  });

  it('sessionMetrics without prom-client installed says what to install', () => {
    // Run from a directory where prom-client cannot be resolved (an ES module resolves it from the application).
    const script = `import session, { sessionMetrics } from ${JSON.stringify(root + '/dist/esm/index.js')};
      try { sessionMetrics(session({ secret: 's', resave: false, saveUninitialized: false })); } catch (err) { console.log(err.message); }`;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: '/', encoding: 'utf8' });
    expect(out.stdout.trim()).toBe('memcached-session-manager: sessionMetrics() needs the prom-client package: npm install prom-client');
  });

  it('the bin prints its usage', () => {
    const out = run(['dist/esm/demo/cli.js', '--help']);
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/usage: memcached-session-manager demo/);
  });
});

describe('a clean clone', () => {
  const exec = promisify(execFile);
  const npm = (args: string[], cwd: string) =>
    exec('npm', [...args, '--no-audit', '--no-fund'], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  /** Loads the installed package by name and calls its factory; prints what a middleware looks like. */
  const probe = `typeof middleware + ' ' + middleware.length + ' ' + typeof middleware.statistics`;
  const factoryCall = `session({ secret: 's', resave: false, saveUninitialized: false })`;

  // The committed HEAD, as a user clones it: no dist/ until npm builds it.
  it('builds on npm ci and on npm pack, and its tarball imports and requires in a new project', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'msm-clone-'));
    try {
      const clone = join(dir, 'clone');
      await exec('git', ['clone', '--quiet', root, clone]);
      expect(existsSync(join(clone, 'dist'))).toBe(false);

      await npm(['ci'], clone);
      expect(existsSync(join(clone, 'dist/cjs/index.cjs'))).toBe(true);

      // npm pack alone builds too.
      rmSync(join(clone, 'dist'), { recursive: true });
      const packed = JSON.parse((await npm(['pack', '--json', '--pack-destination', dir], clone)).stdout);
      const files = (packed[0].files as { path: string }[]).map((file) => file.path);
      expect(files).toEqual(expect.arrayContaining(['dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/cjs/index.cjs', 'dist/cjs/index.d.cts', 'package.json']));

      const app = join(dir, 'app');
      mkdirSync(app);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
      await npm(['install', join(dir, packed[0].filename)], app);
      // A JavaScript project gets no type packages (TypeScript users add @types/express-session).
      expect(existsSync(join(app, 'node_modules/@types'))).toBe(false);

      const required = await exec(process.execPath, ['-e', `const session = require('memcached-session-manager'); const middleware = ${factoryCall}; console.log(${probe})`], { cwd: app });
      expect(required.stdout.trim()).toBe('function 3 function');
      const imported = await exec(process.execPath, ['--input-type=module', '-e', `import session from 'memcached-session-manager'; const middleware = ${factoryCall}; console.log(${probe})`], { cwd: app });
      expect(imported.stdout.trim()).toBe('function 3 function');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
