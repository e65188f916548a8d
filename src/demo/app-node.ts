// One app node of the demo: an Express app with the session middleware, in its own process.
// Configured by environment: NODE_NAME, HOST, PORT, MSM_NODES, MSM_MODE (sticky | non-sticky), SESSION_SECRET.
import express from 'express';
import session from '../index.js';
import { demoPage } from './page.js';

const name = process.env.NODE_NAME ?? 'app';
const sticky = process.env.MSM_MODE !== 'non-sticky';
const sessions = session({
  secret: process.env.SESSION_SECRET ?? 'demo secret, change me',
  resave: false,
  saveUninitialized: false,
  memcachedNodes: process.env.MSM_NODES,
  sticky,
  ...(sticky ? { route: name, sessionBackupAsync: false } : { lockingMode: 'auto' }),
  operationTimeout: 500,
  cookie: { maxAge: 30 * 60 * 1000 },
  requestUriIgnorePattern: '^/(favicon\\.ico|healthz)$',
});

type DemoSession = { user?: string; cart?: string[]; visits?: number };
const app = express();
app.disable('x-powered-by');
app.use(express.json({ limit: '10kb' }));
app.use((req, res, next) => {
  res.setHeader('X-Served-By', name);
  next();
});
app.get('/healthz', (_req, res) => res.send('ok'));
app.use(sessions);

type Callback = (err?: unknown) => void;
type WithSession = { session?: DemoSession & { regenerate(cb: Callback): void; save(cb: Callback): void; destroy(cb: Callback): void }; sessionID?: string };
const data = (req: express.Request) => (req as unknown as WithSession).session!;

function state(req: express.Request) {
  const s = data(req);
  const stats = sessions.statistics();
  const sessionId = (req as unknown as WithSession).sessionID;
  const id = sessionId && (s.user || s.cart?.length || s.visits) ? sessionId : undefined;
  return {
    servedBy: name,
    pid: process.pid,
    mode: sticky ? 'sticky' : 'non-sticky',
    session: { user: s.user ?? null, cart: s.cart ?? [], visits: s.visits ?? 0, id: id ? `${id.slice(0, 6)}…${id.slice(-8)}` : null },
    copies: id ? sessions.sessionNodes(id) : [],
    memcached: sessions.nodes(),
    stats: {
      counters: stats.counters,
      gauges: stats.gauges,
      backupP99: stats.timings.backup.p99,
      loadP99: stats.timings.load.p99,
    },
  };
}

app.get('/', (_req, res) => res.type('html').send(demoPage));
app.get('/api/state', (req, res) => res.json(state(req)));
app.post('/api/login', (req, res, next) => {
  const user = String(req.body?.name ?? '').trim().slice(0, 40) || 'guest';
  const previous = data(req);
  const carry = { cart: previous.cart, visits: previous.visits };
  // Passport-style login: a new session id, then one explicit save.
  data(req).regenerate((err) => {
    if (err) return next(err);
    Object.assign(data(req), carry, { user });
    data(req).save((err2) => (err2 ? next(err2) : res.json(state(req))));
  });
});
app.post('/api/logout', (req, res, next) => data(req).destroy((err) => (err ? next(err) : res.json({ ok: true }))));
app.post('/api/cart', (req, res) => {
  const s = data(req);
  s.cart = [...(s.cart ?? []), String(req.body?.item ?? 'item').slice(0, 40)];
  res.json(state(req));
});
app.post('/api/cart/clear', (req, res) => {
  data(req).cart = [];
  res.json(state(req));
});
app.post('/api/visit', (req, res) => {
  const s = data(req);
  s.visits = (s.visits ?? 0) + 1;
  res.json(state(req));
});
app.use(((err, _req, res, _next) => {
  res.status((err as { status?: number }).status ?? 500).json({ error: (err as Error).message, servedBy: name });
}) as express.ErrorRequestHandler);

const server = app.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  const address = server.address() as { port: number };
  process.stdout.write(JSON.stringify({ port: address.port, pid: process.pid }) + '\n');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    server.close();
    void sessions.close().then(() => process.exit(0));
  });
}
