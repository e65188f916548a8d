/**
 * The built package, as users load it: require() and import of the repository root both give
 * the factory, with express-session's exports attached.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
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
