// One app node of the demo: a node:http app with the session middleware, in its own process
// (no web framework, so installing the package does not install one).
// Configured by environment: NODE_NAME, HOST, PORT, MSM_NODES, MSM_BACKEND (memcached | redis), MSM_MODE (sticky | non-sticky),
// SESSION_SECRET; or instead of MSM_NODES, MSM_PEERS (every app node's peer address) and MSM_REPLICATION (backup | all).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import session from '../index.js';
import { demoPage } from './page.js';
import { jsonLineLogger } from './app-events.js';

const name = process.env.NODE_NAME ?? 'app';
const sticky = process.env.MSM_MODE !== 'non-sticky';
const sessions = session({
  secret: process.env.SESSION_SECRET ?? 'demo secret, change me',
  resave: false,
  saveUninitialized: false,
  ...(process.env.MSM_PEERS
    ? { peers: process.env.MSM_PEERS, self: name, replication: process.env.MSM_REPLICATION === 'all' ? ('all' as const) : ('backup' as const) }
    : process.env.MSM_BACKEND === 'redis'
      ? { redisNodes: process.env.MSM_NODES }
      : { memcachedNodes: process.env.MSM_NODES }),
  sticky,
  ...(sticky ? { route: name, sessionBackupAsync: false } : { lockingMode: 'auto' }),
  // Generous: the demo's nodes die by SIGKILL, refused at once whatever the deadline, while a
  // loaded laptop running a dozen Node processes can take a second to answer.
  operationTimeout: 2000,
  cookie: { maxAge: 30 * 60 * 1000 },
  requestUriIgnorePattern: '^/(favicon\\.ico|healthz)$',
  // The demo's sign-in keeps the user's name in the session (a passport app needs no option).
  principal: (s) => (s as DemoSession).user,
  // The demo prints these under this node's name.
  logger: jsonLineLogger((line) => process.stdout.write(line)),
});

type Callback = (err?: unknown) => void;
type DemoSession = { user?: string; cart?: string[]; visits?: number };
type DemoRequest = IncomingMessage & {
  session?: DemoSession & { regenerate(cb: Callback): void; save(cb: Callback): void; destroy(cb: Callback): void };
  sessionID?: string;
  body?: Record<string, unknown>;
};
const data = (req: DemoRequest) => req.session!;

function state(req: DemoRequest) {
  const s = data(req);
  const stats = sessions.statistics();
  const sessionId = req.sessionID;
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

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.end(body);
}
const json = (res: ServerResponse, value: unknown, status = 200) => send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));

/** Reads a small JSON body (the demo's forms send a few fields). */
async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  let raw = '';
  for await (const chunk of req) {
    raw += chunk;
    if (raw.length > 10_240) throw Object.assign(new Error('request body too large'), { status: 413 });
  }
  if (!raw) return {};
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    throw Object.assign(new Error('request body is not JSON'), { status: 400 });
  }
}

type Route = (req: DemoRequest, res: ServerResponse, next: Callback) => void;
const routes: Record<string, Route> = {
  'GET /': (_req, res) => send(res, 200, 'text/html; charset=utf-8', demoPage),
  'GET /api/state': (req, res) => json(res, state(req)),
  'POST /api/login': (req, res, next) => {
    const user = String(req.body?.name ?? '').trim().slice(0, 40) || 'guest';
    const previous = data(req);
    const carry = { cart: previous.cart, visits: previous.visits };
    // Passport-style login: a new session id, then one explicit save.
    data(req).regenerate((err) => {
      if (err) return next(err);
      Object.assign(data(req), carry, { user });
      data(req).save((err2) => (err2 ? next(err2) : json(res, state(req))));
    });
  },
  'POST /api/logout': (req, res, next) => data(req).destroy((err) => (err ? next(err) : json(res, { ok: true }))),
  'GET /api/devices': (req, res, next) => {
    const user = data(req).user;
    if (!user) return json(res, { sessions: [] });
    sessions.sessionsOf(user).then((list) => json(res, { sessions: list }), next);
  },
  'POST /api/logout-others': (req, res, next) => {
    const user = data(req).user;
    if (!user) return json(res, { revoked: 0 });
    sessions.revokeSessionsOf(user, { except: req.sessionID }).then((revoked) => json(res, { revoked }), next);
  },
  'POST /api/cart': (req, res) => {
    const s = data(req);
    s.cart = [...(s.cart ?? []), String(req.body?.item ?? 'item').slice(0, 40)];
    json(res, state(req));
  },
  'POST /api/cart/clear': (req, res) => {
    data(req).cart = [];
    json(res, state(req));
  },
  'POST /api/visit': (req, res) => {
    const s = data(req);
    s.visits = (s.visits ?? 0) + 1;
    json(res, state(req));
  },
};

// Healthy once the session manager is ready (with peers in `all` mode: it holds every session's copy).
let ready = false;
sessions.ready().then(() => (ready = true), () => undefined);

const server = createServer((req: DemoRequest, res) => {
  res.setHeader('X-Served-By', name);
  const fail: Callback = (err) => {
    if (!err) return;
    if (res.headersSent) return void res.destroy();
    json(res, { error: (err as Error).message, servedBy: name }, (err as { status?: number }).status ?? 500);
  };
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/healthz') return ready ? send(res, 200, 'text/plain', 'ok') : send(res, 503, 'text/plain', 'starting');
  // The page names its icon inline; other clients asking for the conventional one get no content.
  if (path === '/favicon.ico') return send(res, 204, 'image/x-icon', '');
  const route = routes[`${req.method} ${path}`];
  if (!route) return json(res, { error: 'not found', servedBy: name }, 404);
  readBody(req).then((body) => {
    req.body = body;
    sessions(req, res, (err) => (err ? fail(err) : route(req, res, fail)));
  }, fail);
});
server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  const address = server.address() as { port: number };
  process.stdout.write(JSON.stringify({ port: address.port, pid: process.pid }) + '\n');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    server.close();
    void sessions.close().then(() => process.exit(0));
  });
}
