import { afterEach, describe, expect, it } from 'vitest';
import expressSession from 'express-session';
import { createSecretKey, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import session, { OptionError } from '../../src/index.js';
import { compatApp, idSequence } from '../helpers/compat-app.js';
import { Client } from '../helpers/http.js';

type Options = Record<string, unknown>;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

/** Runs `paths` (with an optional cookie override per step) through both implementations. */
async function both(options: Options, paths: Array<string | { path: string; cookie?: string; headers?: Record<string, string> }>) {
  const results: Array<Array<{ status: number; body: unknown; setCookie: string[] }>> = [];
  for (const factory of [expressSession, session] as const) {
    const opts: Options = { ...options, genid: idSequence() };
    // Compare like with like: SameSite is only added by default in this package (tested below).
    if (factory === session) opts.cookie = { sameSite: undefined, ...(options.cookie as Options) };
    const server = await compatApp(factory(opts as never) as never);
    closers.push(server.close);
    const client = new Client(server.url);
    const run: Array<{ status: number; body: unknown; setCookie: string[] }> = [];
    for (const step of paths) {
      const { path, cookie, headers } = typeof step === 'string' ? { path: step, cookie: undefined, headers: {} } : step;
      if (cookie !== undefined) client.cookie = cookie;
      const reply = await client.get(path, headers);
      run.push({
        status: reply.status,
        body: JSON.parse(reply.body),
        // Expires differs by the clock between the two runs; compare everything else.
        setCookie: reply.setCookie.map((c) => c.replace(/Expires=[^;]+/, 'Expires=<date>')),
      });
    }
    results.push(run);
  }
  expect(results[1]).toEqual(results[0]);
  return results[1];
}

const base = { secret: 'keyboard cat', resave: false, saveUninitialized: false };

describe('behaves like express-session with a store', () => {
  it('creates, modifies and reads a session; cookie is byte-identical', async () => {
    const run = await both(base, ['/get', '/set?k=a&v=1', '/get', '/set?k=b&v=2', '/get']);
    expect(run[0].setCookie).toEqual([]); // saveUninitialized: false
    expect(run[1].setCookie[0]).toMatch(/^connect\.sid=s%3Aid0002\.[^;]+; Path=\/; HttpOnly$/);
    expect(run[4].body).toMatchObject({ session: { a: '1', b: '2' } });
  });

  it('sees every kind of change to a loaded session, and stores what express-session stores', async () => {
    // A changed value, the same value again, a deleted attribute, a change inside an array, an array replaced.
    const run = await both(base, ['/set?k=a&v=1', '/set?k=a&v=2', '/get', '/set?k=a&v=2', '/set?k=b&v=3', '/del?k=a', '/get', '/push?v=1', '/push?v=2', '/get', '/set?k=list&v=x', '/get']);
    expect(run[2].body).toMatchObject({ session: { a: '2' } });
    expect((run[6].body as { session: unknown }).session).toEqual({ b: '3' });
    expect(run[9].body).toMatchObject({ session: { b: '3', list: ['1', '2'] } });
    expect(run[11].body).toMatchObject({ session: { b: '3', list: 'x' } });
    await both({ ...base, resave: true }, ['/set?k=a&v=1', '/get', '/set?k=a&v=2', '/get']);
  });

  it('saveUninitialized, resave and rolling', async () => {
    await both({ secret: 's', resave: true, saveUninitialized: true }, ['/get', '/get', '/set?v=3', '/get']);
    await both({ ...base, rolling: true, cookie: { maxAge: 60_000 } }, ['/set', '/get', '/get']);
  });

  it('maxAge cookies, cookie changes and expiry', async () => {
    await both({ ...base, cookie: { maxAge: 60_000 } }, ['/set', '/maxage?ms=1000', '/get']);
    await both({ ...base, cookie: { maxAge: 50 } }, ['/set', { path: '/get' }]);
  });

  it('regenerate, destroy, reload and unset', async () => {
    await both(base, ['/set', '/regenerate', '/set?k=y', '/get', '/destroy', '/get', '/set', '/reload']);
    await both({ ...base, unset: 'destroy' }, ['/set', '/unset', '/get']);
    await both({ ...base, unset: 'keep' }, ['/set', '/unset', '/get']);
  });

  it('ignores forged, unsigned, malformed and oversized cookies', async () => {
    const run = await both(base, [
      '/set',
      { path: '/get', cookie: 'connect.sid=s%3Aid0001.forgedsignature' },
      { path: '/get', cookie: 'connect.sid=id0001' },
      { path: '/get', cookie: 'connect.sid=%E0%A4%A' },
      { path: '/get', cookie: `connect.sid=s%3A${'x'.repeat(5000)}` },
    ]);
    for (const step of run.slice(1)) expect(step.body).toMatchObject({ session: {} });
  });

  it('secret rotation: the first secret signs, every secret verifies', async () => {
    const first = await both({ ...base, secret: 'old' }, ['/set?v=1']);
    const cookie = first[0].setCookie[0].split(';')[0];
    // A new server that lists the new secret first still reads the old cookie.
    await both({ ...base, secret: ['new', 'old'] }, [{ path: '/get', cookie }]);
  });

  it('Buffer secrets sign as express-session signs with them, and each reads the other\'s cookies', async () => {
    const key = randomBytes(32);
    const old = randomBytes(32);
    await both({ ...base, secret: key }, ['/set?v=1', '/get']);
    await both({ ...base, secret: [key, 'old string'] }, ['/set?v=1', '/get']);
    // A string and its UTF-8 bytes are the same key; typed arrays and secret KeyObjects are keys too.
    await both({ ...base, secret: Buffer.from('keyboard cat') }, [{ path: '/get', cookie: (await both(base, ['/set']))[0].setCookie[0].split(';')[0] }]);
    await both({ ...base, secret: [new Uint16Array(key.buffer, key.byteOffset, 16)] }, ['/set', '/get']);
    await both({ ...base, secret: createSecretKey(key) }, ['/set', '/get']);

    // One store behind both: a cookie one signs, the other verifies (also as a rotated-out secret).
    const store = new expressSession.MemoryStore();
    const theirs = await compatApp(expressSession({ ...base, store, secret: [key, old] }) as never);
    const ours = await compatApp(session({ ...base, store, secret: [old, key] }));
    closers.push(theirs.close, ours.close);
    const viaTheirs = new Client(theirs.url);
    await viaTheirs.get('/set?k=from&v=theirs');
    const oursReads = new Client(ours.url);
    oursReads.cookie = viaTheirs.cookie;
    expect(JSON.parse((await oursReads.get('/get')).body).session).toEqual({ from: 'theirs' });
    const viaOurs = new Client(ours.url);
    await viaOurs.get('/set?k=from&v=ours');
    const theirsRead = new Client(theirs.url);
    theirsRead.cookie = viaOurs.cookie;
    expect(JSON.parse((await theirsRead.get('/get')).body).session).toEqual({ from: 'ours' });
  });

  it('cookie options: name, path mismatch, secure on plain http, proxy', async () => {
    await both({ ...base, name: 'sid', cookie: { path: '/other' } }, ['/set', '/other/path', '/get']);
    await both({ ...base, cookie: { secure: true } }, ['/set', '/get']);
    await both({ ...base, proxy: true, cookie: { secure: true } }, [
      { path: '/set', headers: { 'x-forwarded-proto': 'https' } },
      { path: '/get', headers: { 'x-forwarded-proto': 'https' } },
    ]);
  });

  it('throws the same errors for bad options', () => {
    const bad: Options[] = [{ genid: 'nope' }, { unset: 'bogus' }, { secret: [] }];
    for (const options of bad) {
      let expected: unknown;
      try {
        expressSession(options as never);
      } catch (err) {
        expected = err;
      }
      expect(() => session(options as never)).toThrow((expected as Error).message);
    }
  });
});

describe('improvements over express-session', () => {
  it('a missing secret is an OptionError at startup (express-session fails each request)', () => {
    expect(() => expressSession({ resave: false, saveUninitialized: false } as never)).not.toThrow();
    expect(() => session({ resave: false, saveUninitialized: false })).toThrow(OptionError);
    expect(() => session({ resave: false, saveUninitialized: false })).toThrow(/option "secret" is required/);
  });

  it('sets SameSite=Lax by default', async () => {
    const server = await compatApp(session({ secret: 's', resave: false, saveUninitialized: true }) as never);
    closers.push(server.close);
    const reply = await new Client(server.url).get('/get');
    expect(reply.setCookie[0]).toMatch(/; HttpOnly; SameSite=Lax$/);
  });

  it('generates ids with at least 128 bits from the CSPRNG', async () => {
    const server = await compatApp(session({ secret: 's', resave: false, saveUninitialized: true }) as never);
    closers.push(server.close);
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) ids.add(JSON.parse((await new Client(server.url).get('/get')).body).id);
    expect(ids.size).toBe(20);
    for (const id of ids) expect(Buffer.from(id, 'base64url').length * 8).toBeGreaterThanOrEqual(128);
  });

  it('writes once for regenerate() then save() (passport login); express-session writes twice', async () => {
    const counts: number[] = [];
    for (const factory of [expressSession, session] as const) {
      const store = new (factory as typeof session).MemoryStore();
      let sets = 0;
      const set = store.set.bind(store);
      store.set = (...args: Parameters<typeof store.set>) => {
        sets++;
        set(...args);
      };
      const server = await compatApp(factory({ ...base, store } as never) as never);
      closers.push(server.close);
      const client = new Client(server.url);
      await client.get('/set');
      sets = 0;
      expect(JSON.parse((await client.get('/login')).body).session.user).toEqual({ name: 'ada' });
      counts.push(sets);
      expect(JSON.parse((await client.get('/get')).body).session.user).toEqual({ name: 'ada' });
    }
    expect(counts).toEqual([2, 1]);
  });
});

describe('response and store edge cases, compared on a bare node:http server', () => {
  type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
  /** Serves `handler` behind `middleware`; records what reaches `next(err)`. */
  async function bare(middleware: Middleware, handler: (req: IncomingMessage & { session?: Record<string, unknown> }, res: ServerResponse) => void) {
    const errors: string[] = [];
    const server = createServer((req, res) =>
      middleware(req, res, (err) => {
        if (!err) return handler(req, res);
        errors.push(`${(err as Error).message}; response finished: ${res.writableEnded}`);
        if (!res.headersSent) res.writeHead(500).end('error handler');
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, errors };
  }
  const none: Middleware = (_req, _res, next) => next();
  const factories = { none: undefined, 'express-session': expressSession, 'memcached-session-manager': session } as const;

  it('a failing store.touch completes the response, then reaches next(err), as express-session', async () => {
    const results: unknown[] = [];
    for (const factory of [expressSession, session] as const) {
      const store = new (factory as typeof session).MemoryStore();
      store.touch = (_sid: string, _sess: unknown, callback?: (err?: unknown) => void) => callback?.(new Error('touch failed'));
      const { url, errors } = await bare(factory({ ...base, store, genid: idSequence() } as never) as never, (req, res) => {
        if (req.url === '/set') req.session!.n = 1;
        res.end('ok');
      });
      const cookie = (await fetch(`${url}/set`)).headers.get('set-cookie')!.split(';')[0];
      const reply = await fetch(`${url}/get`, { headers: { cookie } });
      const body = await reply.text();
      await new Promise((resolve) => setTimeout(resolve, 20));
      results.push({ status: reply.status, body, errors });
    }
    expect(results[0]).toEqual({ status: 200, body: 'ok', errors: ['touch failed; response finished: true'] });
    expect(results[1]).toEqual(results[0]);
  });

  it('a second res.end is reported by Node as without the middleware, after the response is complete', async () => {
    const results: Record<string, unknown> = {};
    for (const [name, factory] of Object.entries(factories)) {
      const middleware = factory ? (factory({ secret: 's', resave: true, saveUninitialized: true } as never) as never) : none;
      const events: string[] = [];
      const { url } = await bare(middleware, (_req, res) => {
        res.on('error', (err: NodeJS.ErrnoException) => events.push(`error event ${err.code}`));
        res.setHeader('Content-Type', 'text/plain');
        res.end('Hello, world!');
        res.end((err?: NodeJS.ErrnoException) => events.push(`callback ${err?.code}`));
        res.end('again');
        res.write('more', (err?: NodeJS.ErrnoException | null) => events.push(`write callback ${err?.code}`));
      });
      const reply = await fetch(url);
      const body = await reply.text();
      await new Promise((resolve) => setTimeout(resolve, 20));
      results[name] = { status: reply.status, body, events: events.sort() };
    }
    // Whether an end without a body gets ERR_STREAM_ALREADY_FINISHED or waits for 'finish' depends
    // on the Node version and on whether the socket has flushed; the write after end is an error either way.
    expect(results.none).toMatchObject({ status: 200, body: 'Hello, world!' });
    expect((results.none as { events: string[] }).events).toContain('error event ERR_STREAM_WRITE_AFTER_END');
    expect((results.none as { events: string[] }).events).toContain('write callback ERR_STREAM_WRITE_AFTER_END');
    expect(results['memcached-session-manager']).toEqual(results.none);
  });

  // express-session's own test "should error when res.end is called twice".
  it('after res.end, changing a header throws as without the middleware, and the response is unchanged', async () => {
    const results: Record<string, unknown> = {};
    for (const [name, factory] of Object.entries(factories)) {
      for (const saving of [true, false]) {
        const middleware = factory ? (factory({ secret: 's', resave: saving, saveUninitialized: saving } as never) as never) : none;
        const thrown: string[] = [];
        const { url } = await bare(middleware, (_req, res) => {
          res.end();
          for (const change of [
            () => res.setHeader('Content-Length', '3'),
            () => res.appendHeader('X-Late', '1'),
            () => res.removeHeader('Date'),
            () => res.setHeaders(new Map([['X-Late', '1']])),
            () => res.writeHead(404),
          ]) {
            try {
              change();
            } catch (err) {
              thrown.push(`${(err as NodeJS.ErrnoException).code}: ${(err as Error).message}`);
            }
          }
          res.flushHeaders();
        });
        const reply = await fetch(url);
        results[`${name}, saving: ${saving}`] = { status: reply.status, body: await reply.text(), late: reply.headers.get('x-late'), thrown };
      }
    }
    const expected = {
      status: 200,
      body: '',
      late: null,
      thrown: [
        'ERR_HTTP_HEADERS_SENT: Cannot set headers after they are sent to the client',
        'ERR_HTTP_HEADERS_SENT: Cannot append headers after they are sent to the client',
        'ERR_HTTP_HEADERS_SENT: Cannot remove headers after they are sent to the client',
        'ERR_HTTP_HEADERS_SENT: Cannot set headers after they are sent to the client',
        'ERR_HTTP_HEADERS_SENT: Cannot write headers after they are sent to the client',
      ],
    };
    for (const result of Object.values(results)) expect(result).toEqual(expected);
  });
});

describe('a stored cookie comes back as express-session builds it', () => {
  const stored = [
    { originalMaxAge: 3_600_000, expires: new Date(Date.now() + 1_800_000).toISOString(), httpOnly: true, path: '/' },
    { originalMaxAge: null, expires: null, httpOnly: true, path: '/', secure: true, sameSite: 'lax' },
    { originalMaxAge: 60_000, expires: new Date(Date.now() - 5_000).toISOString(), httpOnly: false, path: '/app', domain: 'example.com', sameSite: 'strict', priority: 'high', partitioned: true },
    { originalMaxAge: 1000, httpOnly: true, path: '/' },
    { httpOnly: true, path: '/' },
  ];
  for (const cookie of stored) {
    it(JSON.stringify(cookie), () => {
      const theirs = new expressSession.MemoryStore();
      const ours = new session.MemoryStore();
      const req = (store: object) => ({ sessionID: 'id', sessionStore: store }) as never;
      const a = theirs.createSession(req(theirs), { cookie: structuredClone(cookie) } as never).cookie;
      const b = ours.createSession(req(ours), { cookie: structuredClone(cookie) } as never).cookie;
      expect(JSON.parse(JSON.stringify(b))).toEqual(JSON.parse(JSON.stringify(a)));
      expect(b.originalMaxAge).toEqual(a.originalMaxAge);
      expect(b.expires?.valueOf()).toEqual(a.expires?.valueOf());
      expect(b.serialize('sid', 'v')).toEqual((a as unknown as { serialize(n: string, v: string): string }).serialize('sid', 'v'));
    });
  }
});
