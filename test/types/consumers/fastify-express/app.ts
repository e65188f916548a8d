// Fastify with @fastify/express: the middleware sets the session on Node's request, which route
// handlers see as `request.raw`; naming the package's request type as Fastify's raw request types it.
import type { Server } from 'node:http';
import Fastify from 'fastify';
import fastifyExpress from '@fastify/express';
import session, { type SessionIncomingMessage } from 'memcached-session-manager';

declare module 'express-session' {
  interface SessionData {
    views: number;
  }
}

const app = Fastify<Server, SessionIncomingMessage>();
await app.register(fastifyExpress);
app.use(session({ secret: 's', resave: false, saveUninitialized: false }));
app.get('/', async (request) => {
  const { session: current, sessionID } = request.raw;
  current.views = (current.views ?? 0) + 1;
  // @ts-expect-error the augmented SessionData types `views` as a number
  current.views = 'many';
  current.save((err: unknown) => request.log.info({ err }));
  return { views: current.views, id: sessionID, maxAge: current.cookie.maxAge };
});

export { app };
