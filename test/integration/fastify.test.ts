/**
 * Fastify through @fastify/express and @fastify/middie: the middleware runs on Node's request and
 * response, and route handlers find the session on `request.raw`, kept in memcached across two
 * app instances (non-sticky mode).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Server } from 'node:http';
import Fastify from 'fastify';
import fastifyExpress from '@fastify/express';
import fastifyMiddie from '@fastify/middie';
import session, { type SessionIncomingMessage } from '../../src/index.js';
import { startMemcached, type MemcachedInstance } from '../helpers/memcached.js';
import { Client } from '../helpers/http.js';

declare module 'express-session' {
  interface SessionData {
    views: number;
  }
}

let memcached: MemcachedInstance;
beforeAll(async () => {
  memcached = await startMemcached();
});
afterAll(() => memcached?.stop());

async function startApp(plugin: typeof fastifyExpress | typeof fastifyMiddie) {
  const app = Fastify<Server, SessionIncomingMessage>();
  await app.register(plugin);
  app.use(session({ secret: 's', resave: false, saveUninitialized: false, memcachedNodes: `n1:${memcached.address}`, sticky: false }));
  app.get('/views', async (request) => {
    request.raw.session.views = (request.raw.session.views ?? 0) + 1;
    return { views: request.raw.session.views };
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, close: () => app.close() };
}

describe.each([
  ['@fastify/express', fastifyExpress],
  ['@fastify/middie', fastifyMiddie],
] as const)('Fastify with %s', (_name, plugin) => {
  it('keeps the session on request.raw across app instances', async () => {
    const [first, second] = [await startApp(plugin), await startApp(plugin)];
    try {
      const client = new Client(first.url);
      expect(await client.json('/views')).toEqual({ views: 1 });
      client.moveTo(second.url);
      expect(await client.json('/views')).toEqual({ views: 2 });
      client.moveTo(first.url);
      expect(await client.json('/views')).toEqual({ views: 3 });
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });
});
