// The same application written as CommonJS TypeScript: require() gives the factory and its namespace.
import express = require('express');
import session = require('memcached-session-manager');

declare module 'express-session' {
  interface SessionData {
    user: string;
  }
}

const app = express();
const options: session.SessionOptions = { secret: 's', resave: false, saveUninitialized: false, lockingMode: 'auto' };
app.use(session(options));
app.get('/', (req, res) => {
  req.session.user = 'ada';
  // @ts-expect-error the augmented SessionData types `user` as a string
  req.session.user = 42;
  res.send(req.session.user);
});
const store: session.Store = new session.MemoryStore();
const error: session.OptionError = new session.OptionError('secret', 'is required');
export = [store, error, session.sessionMetrics];
