/**
 * The built package over Redis, as users load it: `redis` is an optional peer dependency, loaded
 * only when `redisNodes` is set, from the CommonJS and the ES module build alike; without it,
 * startup fails with a message naming the package.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { textCommand } from '../helpers/memcached.js';
import { startRedis } from '../helpers/redis.js';
import { missingPackage } from '../helpers/system-programs.js';
import type { StorageServer } from '../helpers/server-process.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let redis: StorageServer;
const noRedis = missingPackage('redis-server');
beforeAll(async () => {
  if (noRedis) return;
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

/** A script that serves one request through the middleware over Redis and prints its status and body. */
const serveOnce = (load: string) => `${load}
const http = require('node:http');
const middleware = session({ secret: 's', resave: false, saveUninitialized: false, redisNodes: process.env.NODES, sessionBackupAsync: false });
const server = http.createServer((req, res) => middleware(req, res, () => { req.session.user = 'ada'; res.end(req.session.user); }));
server.listen(0, '127.0.0.1', async () => {
  const reply = await fetch('http://127.0.0.1:' + server.address().port + '/');
  console.log(reply.status, await reply.text());
  server.close();
  await middleware.close();
});`;

describe.skipIf(noRedis)('the package over Redis', () => {
  for (const [build, args] of [
    ['require()', ['-e', serveOnce(`const session = require(${JSON.stringify(root)});`)]],
    ['import', ['--input-type=module', '-e', serveOnce(`import session from ${JSON.stringify(`${root}/dist/esm/index.js`)}; import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);`)]],
  ] as const) {
    it(`${build}: loads redis for redisNodes and stores the session in Redis`, async () => {
      const before = Number((await textCommand(redis.host, redis.port, 'DBSIZE\r\n', '\r\n')).slice(1));
      const out = spawnSync(process.execPath, [...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NODES: `n1:${redis.address}` }, timeout: 20_000 });
      expect(out.stderr).toBe('');
      expect(out.stdout.trim()).toBe('200 ada');
      expect(Number((await textCommand(redis.host, redis.port, 'DBSIZE\r\n', '\r\n')).slice(1))).toBeGreaterThan(before);
    });
  }

  it('redisNodes without the redis package installed says what to install, at startup', () => {
    // Run from a directory where redis cannot be resolved (an ES module resolves it from the application).
    const script = `import session from ${JSON.stringify(`${root}/dist/esm/index.js`)};
      try { session({ secret: 's', resave: false, saveUninitialized: false, redisNodes: 'n1:127.0.0.1:6379' }); } catch (err) { console.log(err.message); }`;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: '/', encoding: 'utf8' });
    expect(out.stdout.trim()).toBe('memcached-session-manager: the redisNodes option needs the redis package: npm install redis');
  });

  it('memcachedNodes alone never loads redis', () => {
    const script = `const session = require(${JSON.stringify(root)});
      const m = session({ secret: 's', resave: false, saveUninitialized: false, memcachedNodes: 'n1:127.0.0.1:1' });
      console.log(Object.keys(require.cache).some((file) => file.includes('/node_modules/redis/') || file.includes('/@redis/')));
      m.close();`;
    const out = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 20_000 });
    expect(out.stdout.trim()).toBe('false');
  });
});
