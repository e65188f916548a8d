// A TypeScript application using the built package with Express, as users write it (ESM).
import express from 'express';
import expressSession from 'express-session';
import session, { OptionError, sessionMetrics, type SessionOptions } from 'memcached-session-manager';
import { Registry } from 'prom-client';

declare module 'express-session' {
  interface SessionData {
    user: string;
    cart: string[];
  }
}

const options: session.SessionOptions = {
  secret: 'keyboard cat',
  resave: false,
  saveUninitialized: false,
  memcachedNodes: 'n1:127.0.0.1:11211,n2:127.0.0.1:11212',
  sticky: false,
  lockingMode: 'uriPattern:^/api/',
};
const named: SessionOptions = options;
const middleware = session(named);

const app = express();
app.use(middleware);
app.get('/', (req, res) => {
  req.session.user = 'ada';
  const cart: string[] | undefined = req.session.cart;
  // @ts-expect-error the augmented SessionData types `user` as a string
  req.session.user = 42;
  req.session.regenerate((err) => res.send(String(err ?? cart)));
});

// The namespace's classes work as types and values, like @types/express-session's.
const store: session.Store = new session.MemoryStore();
const memoryStore: session.MemoryStore = new session.MemoryStore();
const data: Partial<session.SessionData> = { user: 'ada' };
session({ secret: 's', store });
session({ secret: 's', store: memoryStore });
// express-session's own stores are accepted too (connect-redis, connect-memcached derive from it).
session({ secret: 's', store: new expressSession.MemoryStore() });
// @ts-expect-error lockingMode is one of MSM's values
session({ secret: 's', lockingMode: 'sometimes' });

// The metrics exporter takes the application's own prom-client registry.
sessionMetrics(middleware, new Registry());

export const checks = [data, OptionError, session.sessionMetrics, middleware.statistics().counters.backups];
