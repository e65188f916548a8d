/**
 * One Express app, parameterised by the session middleware, used to run identical request
 * sequences through express-session and through this package and compare the answers.
 */
import express from 'express';
import type { RequestHandler } from 'express';
import { serve } from './http.js';

type Sess = Record<string, unknown> & {
  regenerate(cb: (err?: unknown) => void): void;
  save(cb?: (err?: unknown) => void): void;
  reload(cb: (err?: unknown) => void): void;
  destroy(cb: (err?: unknown) => void): void;
  touch(): void;
  cookie: { maxAge: number | null };
};

export async function compatApp(middleware: RequestHandler) {
  const app = express();
  app.use(middleware);
  const reply = (req: express.Request, res: express.Response) => {
    const session = (req as unknown as { session?: Sess }).session;
    res.json({ id: (req as unknown as { sessionID?: string }).sessionID, session: session ? { ...session, cookie: undefined } : null });
  };
  const sess = (req: express.Request) => (req as unknown as { session: Sess }).session;
  app.get('/get', reply);
  app.get('/set', (req, res) => {
    sess(req)[String(req.query.k ?? 'x')] = req.query.v ?? 1;
    reply(req, res);
  });
  app.get('/del', (req, res) => {
    delete sess(req)[String(req.query.k ?? 'x')];
    reply(req, res);
  });
  // Changes an attribute inside (an array held in the session), not the attribute itself.
  app.get('/push', (req, res) => {
    const session = sess(req);
    if (!Array.isArray(session.list)) session.list = [];
    (session.list as unknown[]).push(req.query.v ?? 1);
    reply(req, res);
  });
  app.get('/login', (req, res, next) => {
    sess(req).regenerate((err) => {
      if (err) return next(err);
      sess(req).user = { name: 'ada' };
      sess(req).save((err2) => (err2 ? next(err2) : reply(req, res)));
    });
  });
  app.get('/regenerate', (req, res, next) => sess(req).regenerate((err) => (err ? next(err) : reply(req, res))));
  app.get('/destroy', (req, res, next) => sess(req).destroy((err) => (err ? next(err) : reply(req, res))));
  app.get('/reload', (req, res, next) => sess(req).reload((err) => (err ? next(err) : reply(req, res))));
  app.get('/unset', (req, res) => {
    (req as unknown as { session: unknown }).session = null;
    reply(req, res);
  });
  app.get('/maxage', (req, res) => {
    sess(req).cookie.maxAge = Number(req.query.ms);
    reply(req, res);
  });
  app.get('/other/path', reply);
  app.use(((err, _req, res, _next) => {
    res.status(500).json({ error: String((err as Error).message) });
  }) as express.ErrorRequestHandler);
  return serve(app);
}

/** Deterministic ids, so both implementations hand out the same ones. */
export function idSequence(prefix = 'id') {
  let n = 0;
  return () => `${prefix}${(++n).toString().padStart(4, '0')}`;
}
