// Fastify with @fastify/middie instead: the same request type, the middleware mounted by middie.
import type { Server } from 'node:http';
import Fastify from 'fastify';
import fastifyMiddie from '@fastify/middie';
import session, { type SessionIncomingMessage } from 'memcached-session-manager';

declare module 'express-session' {
  interface SessionData {
    views: number;
  }
}

const app = Fastify<Server, SessionIncomingMessage>();
await app.register(fastifyMiddie);
app.use(session({ secret: 's', resave: false, saveUninitialized: false }));
app.get('/', async (request) => {
  const views: number | undefined = request.raw.session.views;
  // @ts-expect-error the augmented SessionData types `views` as a number
  const wrong: string | undefined = request.raw.session.views;
  return { views, wrong, id: request.raw.sessionID };
});

export { app };
