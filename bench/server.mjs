// One benchmark server: BENCH_CONFIG picks the session setup, BENCH_PAYLOAD the session size.
// Routes: /init (creates a session), /read (reads it), /write (modifies it).
import express from 'express';
import expressSession from 'express-session';
import { createRequire } from 'node:module';
import session from '../dist/esm/index.js';

const require = createRequire(import.meta.url);
const config = process.env.BENCH_CONFIG;
const nodes = process.env.BENCH_MEMCACHED;
const payload = 'x'.repeat(Number(process.env.BENCH_PAYLOAD ?? 200));
const common = { secret: 'bench secret', resave: false, saveUninitialized: false, cookie: { maxAge: 3_600_000 } };
const quiet = { info() {}, warn() {}, error() {} };

function middleware() {
  switch (config) {
    case 'express':
      return undefined;
    case 'express-session+MemoryStore':
      return expressSession({ ...common });
    case 'express-session+connect-memcached': {
      const MemcachedStore = require('connect-memcached')(expressSession);
      return expressSession({ ...common, store: new MemcachedStore({ hosts: nodes.split(',').map((n) => n.split(':').slice(1).join(':')) }) });
    }
    case 'msm sticky':
      return session({ ...common, memcachedNodes: nodes, maxLocalSessions: Number(process.env.BENCH_MAX_LOCAL ?? 200_000), logger: quiet });
    case 'msm non-sticky (locking none)':
      return session({ ...common, memcachedNodes: nodes, sticky: false, logger: quiet });
    case 'msm non-sticky (locking all)':
      return session({ ...common, memcachedNodes: nodes, sticky: false, lockingMode: 'all', logger: quiet });
    default:
      throw new Error(`unknown BENCH_CONFIG ${config}`);
  }
}

const app = express();
const sessions = middleware();
if (sessions) app.use(sessions);
app.get('/init', (req, res) => {
  if (req.session) {
    req.session.user = 'bench';
    req.session.data = payload;
    req.session.n = 0;
  }
  res.end('ok');
});
app.get('/read', (req, res) => res.end(req.session ? String(req.session.n) : 'none'));
app.get('/write', (req, res) => {
  if (req.session) req.session.n = (req.session.n ?? 0) + 1;
  res.end('ok');
});
app.get('/heap', (_req, res) => {
  globalThis.gc?.();
  res.json({ heapUsed: process.memoryUsage().heapUsed, local: sessions?.statistics?.().gauges.localSessions ?? null });
});
const server = app.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n'));
server.keepAliveTimeout = 60_000;
process.on('SIGINT', () => process.exit(0)); // lets --cpu-prof write its profile
