// A plain Node server without prom-client installed: the package's types (metrics included) need
// nothing from it, with skipLibCheck off.
import { createServer } from 'node:http';
import session, { sessionMetrics, type SessionMiddleware } from 'memcached-session-manager';

const sessions: SessionMiddleware = session({ secret: 's', resave: false, saveUninitialized: false });
const server = createServer((req, res) => sessions(req, res, () => res.end('ok')));

export { server, sessionMetrics };
