/**
 * A node:http app around the session middleware that records its log lines: `/set?k=v` stores
 * attributes, `/login` regenerates and stores `user: 'ada'`, `/logout` destroys, anything else
 * answers the session as JSON (with `id`). An error answers with its status (500 by default).
 */
import type http from 'node:http';
import { afterEach, beforeEach } from 'vitest';
import session, { type SessionOptions } from '../../src/index.js';
import { serve } from './http.js';
import { startCluster } from './memcached.js';

type Req = http.IncomingMessage & {
  sessionID: string;
  session: Record<string, unknown> & { destroy: Function; regenerate: Function; save: Function };
};

export interface LoggedLine {
  level: 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
}

export async function loggingApp(options: SessionOptions) {
  const lines: LoggedLine[] = [];
  const record = (level: LoggedLine['level']) => (fields: unknown) => lines.push({ level, fields: fields as Record<string, unknown> });
  const middleware = session({
    secret: 'it',
    resave: false,
    saveUninitialized: false,
    sessionBackupAsync: false,
    logger: { info: record('info'), warn: record('warn'), error: record('error') },
    ...options,
  });
  const server = await serve((req, res) => {
    middleware(req, res, (err) => {
      const r = req as Req;
      if (err) {
        res.statusCode = (err as { status?: number }).status ?? 500;
        return res.end(String((err as Error).message));
      }
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/set') for (const [k, v] of url.searchParams) r.session[k] = v;
      if (url.pathname === '/logout') return r.session.destroy(() => res.end('{}'));
      if (url.pathname === '/login') {
        return r.session.regenerate(() => {
          r.session.user = 'ada';
          r.session.save(() => res.end(JSON.stringify(r.session)));
        });
      }
      res.end(JSON.stringify({ id: r.sessionID, ...r.session }));
    });
  });
  const close = async () => {
    await server.close();
    await middleware.close();
  };
  /** The lines logged as event `name`. */
  const events = (name: string) => lines.filter((line) => line.fields?.event === name);
  return { url: server.url, middleware, lines, events, close };
}

/** A fresh memcached cluster of `nodes` per test, and logging apps over it, all stopped after the test. */
export function loggingAppsPerTest(nodes: number) {
  const running: Array<() => Promise<void>> = [];
  const scope = {
    cluster: undefined as unknown as Awaited<ReturnType<typeof startCluster>>,
    async start(options: Partial<SessionOptions>) {
      const app = await loggingApp({ memcachedNodes: scope.cluster.nodes, ...options });
      running.push(app.close);
      return app;
    },
  };
  beforeEach(async () => {
    scope.cluster = await startCluster(nodes);
  });
  afterEach(async () => {
    while (running.length) await running.pop()!();
    await scope.cluster.stop();
  });
  return scope;
}
