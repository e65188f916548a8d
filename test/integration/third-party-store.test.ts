/**
 * Without memcachedNodes the middleware takes any express-session store: here connect-memcached
 * against a real memcached, used exactly as with express-session.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import session from '../../src/index.js';
import { startMemcached, type MemcachedInstance } from '../helpers/memcached.js';
import { compatApp } from '../helpers/compat-app.js';
import { Client } from '../helpers/http.js';

const require = createRequire(import.meta.url);
let memcached: MemcachedInstance;
beforeAll(async () => {
  memcached = await startMemcached();
});
afterAll(() => memcached?.stop());

it('connect-memcached plugs in as the store option', async () => {
  const MemcachedStore = require('connect-memcached')(session);
  const store = new MemcachedStore({ hosts: [memcached.address] });
  expect(store).toBeInstanceOf(session.Store);
  const server = await compatApp(session({ secret: 's', resave: false, saveUninitialized: false, store }) as never);
  const client = new Client(server.url);
  await client.get('/set?k=user&v=ada');
  expect((await memcached.stats()).cmd_set).toBe(1);
  expect(JSON.parse((await client.get('/get')).body).session).toEqual({ user: 'ada' });
  expect((await memcached.stats()).get_hits).toBeGreaterThanOrEqual(1);
  await server.close();
  store.client.end();
});
