/**
 * A request that changes its session serializes it once: the JSON the end-of-request change
 * detection computed is what both modes store (a 20 KB session costs tens of µs a serialization).
 * Checked against the embedded memcached server, with the middleware over node:http.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import session, { type SessionOptions } from '../../src/index.js';
import { EmbeddedMemcached } from '../../src/embedded-memcached/server.js';
import { openCopy, sealingOf } from '../helpers/sealed.js';
import { MAX_SESSION_DEPTH } from '../../src/format/session-codec.js';
import { Client, serve } from '../helpers/http.js';

const BIG = 'x'.repeat(20_000);
const quiet = { info() {}, warn() {}, error() {} };
const servers: EmbeddedMemcached[] = [];
let nodes = '';

beforeAll(async () => {
  for (let i = 0; i < 2; i++) {
    const server = new EmbeddedMemcached({ itemSizeLimit: 1024 * 1024 });
    await server.listen();
    servers.push(server);
  }
  nodes = servers.map((s, i) => `n${i + 1}:127.0.0.1:${s.port}`).join(',');
});
afterAll(async () => {
  for (const s of servers) await s.close();
});

type Req = IncomingMessage & { session: Record<string, unknown> };

/** An app whose /init stores a large session and /write changes it; `deep` stores nested arrays. */
async function app(options: Partial<SessionOptions>) {
  const middleware = session({ secret: 's', resave: false, saveUninitialized: false, memcachedNodes: nodes, logger: quiet, ...options });
  const server = await serve((req, res: ServerResponse) => {
    middleware(req as never, res as never, (err?: unknown) => {
      if (err) {
        res.statusCode = 500;
        return res.end(String((err as Error).message));
      }
      const s = (req as Req).session;
      if (req.url === '/init') Object.assign(s, { big: BIG, secret: 'kept here', n: 0 });
      if (req.url === '/write') s.n = (s.n as number) + 1;
      if (req.url === '/deep') {
        let deep: unknown = [];
        for (let i = 0; i <= MAX_SESSION_DEPTH; i++) deep = [deep];
        s.deep = deep;
      }
      res.end(String(s.n));
    });
  });
  return { server, middleware };
}

/** Serializations of a session holding BIG during `during` (JSON.stringify calls whose text holds it). */
async function serializations(during: () => Promise<unknown>): Promise<number> {
  const stringify = vi.spyOn(JSON, 'stringify');
  try {
    await during();
    return stringify.mock.results.filter((r) => typeof r.value === 'string' && r.value.includes(BIG)).length;
  } finally {
    stringify.mockRestore();
  }
}

/** The copies of the session held by the embedded servers, decoded. */
function storedCopies() {
  // Read from the server's store directly, with no client in between.
  const items = (s: EmbeddedMemcached) => [...s.store.keys()].map((key) => [key, s.store.get(key)!] as const);
  const sealing = sealingOf('s');
  return servers.flatMap((s) => items(s)).flatMap(([key, { value }]) => {
    const copy = openCopy(sealing, key, value);
    return copy && copy.json.includes('"n":') ? [copy] : [];
  });
}

describe.each([
  ['non-sticky', { sticky: false }],
  ['sticky', { sticky: true, sessionBackupAsync: false }],
] as const)('%s mode', (_mode, options) => {
  it('serializes a changed session once per request, and stores that JSON', async () => {
    const { server, middleware } = await app(options);
    try {
      const client = new Client(server.url);
      await client.get('/init');
      expect(await serializations(() => client.get('/write'))).toBe(1);
      expect((await client.get('/read')).body).toBe('1');
      const stored = storedCopies().map((c) => JSON.parse(c.json).n);
      expect(stored.length).toBeGreaterThan(0);
      expect(stored).toContain(1);
    } finally {
      await server.close();
      await middleware.close();
      for (const s of servers) s.store.flush();
    }
  });

  it('still applies sessionAttributeFilter to what it stores', async () => {
    const { server, middleware } = await app({ ...options, sessionAttributeFilter: '^(big|n)$' });
    try {
      const client = new Client(server.url);
      await client.get('/init');
      await client.get('/write');
      const copies = storedCopies();
      expect(copies.length).toBeGreaterThan(0);
      for (const copy of copies) expect(copy.json).not.toContain('kept here');
    } finally {
      await server.close();
      await middleware.close();
      for (const s of servers) s.store.flush();
    }
  });

  it(`refuses a session nested deeper than ${MAX_SESSION_DEPTH} levels with an error, storing nothing of it`, async () => {
    const { server, middleware } = await app(options);
    try {
      const client = new Client(server.url);
      await client.get('/init');
      const reply = await client.get('/deep');
      expect(reply.status).toBe(500);
      expect(reply.body).toMatch(/nested deeper than 500 levels/);
      for (const copy of storedCopies()) expect(copy.json).not.toContain('"deep"');
    } finally {
      await server.close();
      await middleware.close();
      for (const s of servers) s.store.flush();
    }
  });
});
