import { describe, expect, it } from 'vitest';
import { inherits } from 'node:util';
import { EventEmitter } from 'node:events';
import cookieSignature from 'cookie-signature';
import { sign, SignedValues, unsign, VerifiedCookies } from '../../src/request/signature.js';
import { Histogram } from '../../src/base/histogram.js';
import { LocalSessions, type LocalSession } from '../../src/modes/sticky/local-sessions.js';
import { Cookie } from '../../src/session/cookie.js';
import { AvailableRing } from '../../src/failover/ring.js';
import { isHomeMajority, isWriteQuorum } from '../../src/failover/write-quorum.js';
import { routeOf, withRoute } from '../../src/modes/sticky/route.js';
import session from '../../src/index.js';

describe('cookie signature', () => {
  it('matches cookie-signature byte for byte', () => {
    expect(sign('abc.route', 'secret')).toBe(cookieSignature.sign('abc.route', 'secret'));
  });
  it('verifies with any listed secret and rejects forgeries', () => {
    const signed = sign('abc', 'old');
    expect(unsign(signed, ['new', 'old'])).toBe('abc');
    expect(unsign(signed, ['new'])).toBe(false);
    expect(unsign(signed.slice(0, -1) + 'A', ['old'])).toBe(false);
    expect(unsign('abc', ['old'])).toBe(false);
    expect(unsign('.sig', ['old'])).toBe(false);
  });
  it('remembers verified cookies only: forgeries are verified every time, the memory is bounded', () => {
    const cookies = new VerifiedCookies(['secret'], 2);
    const signed = sign('abc', 'secret');
    const forged = signed.slice(0, -1) + (signed.endsWith('A') ? 'B' : 'A');
    for (let i = 0; i < 2; i++) {
      expect(cookies.unsign(signed)).toBe('abc');
      expect(cookies.unsign(forged)).toBe(false);
      expect(cookies.unsign(sign('abc', 'other'))).toBe(false);
    }
    // Over capacity it starts over; values stay correct.
    for (const id of ['x', 'y', 'z', 'abc']) expect(cookies.unsign(sign(id, 'secret'))).toBe(id);
  });
  it('signs as sign() does, also from its bounded memory', () => {
    const signer = new SignedValues('secret', 2);
    for (let i = 0; i < 2; i++) {
      for (const id of ['x', 'y', 'z', 'x']) expect(signer.sign(id)).toBe(sign(id, 'secret'));
    }
  });
});

describe('routes in session ids', () => {
  it('appends and reads the route (the last dot field)', () => {
    expect(withRoute('abc', 'n1')).toBe('abc.n1');
    expect(routeOf('abc.n1')).toBe('n1');
    expect(routeOf('abc')).toBeUndefined();
  });
});

describe('latency histogram', () => {
  it('reports percentiles within 5%', () => {
    const h = new Histogram();
    for (let i = 1; i <= 1000; i++) h.record(i);
    const s = h.summary();
    expect(s.count).toBe(1000);
    expect(s.min).toBe(1);
    expect(s.max).toBe(1000);
    expect(s.p50).toBeGreaterThanOrEqual(500);
    expect(s.p50).toBeLessThanOrEqual(525);
    expect(s.p99).toBeGreaterThanOrEqual(990);
    expect(s.p99).toBeLessThanOrEqual(1000);
  });
});

function entry(body: string, backedUp: boolean): LocalSession {
  return { body, stored: body, version: 1, cookie: {}, expiresAt: Infinity, backedUp: backedUp ? body : undefined, backupExpiresAt: 0, backupInFlight: false };
}

describe('bounded local store', () => {
  it('drops least recently used sessions whose backup landed, never the only copy', () => {
    let evicted = 0;
    const local = new LocalSessions({ maxSessions: 2, maxBytes: Infinity }, () => evicted++);
    local.set('a', entry('{"a":1}', false));
    local.set('b', entry('{"b":1}', true));
    local.set('c', entry('{"c":1}', true));
    expect(local.peek('a')).toBeDefined(); // not backed up: kept although oldest
    expect(local.peek('b')).toBeUndefined();
    expect(local.size).toBe(2);
    local.get('c');
    local.set('d', entry('{"d":1}', true));
    expect(local.peek('c')).toBeUndefined();
    expect(evicted).toBe(2);
  });
  it('with no backup landing (memcached down), a new session over the bound costs O(1) work, not a walk over all', () => {
    // Counts every look at a session's backup state: the work eviction does.
    let looks = 0;
    const counted = (body: string): LocalSession => {
      const e = entry(body, false);
      let inFlight = e.backupInFlight;
      let backedUp = e.backedUp;
      return Object.defineProperties(e, {
        backupInFlight: { get: () => (looks++, inFlight), set: (v: boolean) => (inFlight = v) },
        backedUp: { get: () => (looks++, backedUp), set: (v: string | undefined) => (backedUp = v) },
      });
    };
    const local = new LocalSessions({ maxSessions: 500, maxBytes: Infinity }, () => undefined);
    const sessions = 3500;
    for (let i = 0; i < sessions; i++) local.set(`s${i}`, counted(`{"i":${i}}`));
    expect(local.size).toBe(sessions); // nothing may be dropped: memory holds the only copies
    expect(looks).toBeLessThanOrEqual(4 * sessions);
  });
  it('restores the bound once backups land, without another session arriving', () => {
    let evicted = 0;
    const local = new LocalSessions({ maxSessions: 3, maxBytes: Infinity }, () => evicted++);
    const entries = Array.from({ length: 8 }, (_, i) => entry(`{"i":${i}}`, false));
    entries.forEach((e, i) => local.set(`s${i}`, e));
    expect(local.size).toBe(8);
    entries.forEach((e, i) => {
      e.backedUp = e.stored;
      local.settled(`s${i}`);
    });
    expect(local.size).toBe(3);
    expect(evicted).toBe(5);
    // The most recently used are kept.
    expect(['s5', 's6', 's7'].every((id) => local.peek(id))).toBe(true);
  });
  it('never drops a session whose backup started after it was filed as backed up', () => {
    const local = new LocalSessions({ maxSessions: 2, maxBytes: Infinity }, () => undefined);
    const a = entry('{"a":1}', true);
    local.set('a', a);
    a.backupInFlight = true; // a newer state is being backed up
    local.set('b', entry('{"b":1}', true));
    local.set('c', entry('{"c":1}', true));
    expect(local.peek('a')).toBe(a);
    expect(local.peek('b')).toBeUndefined();
    a.backupInFlight = false;
    local.settled('a');
    expect(local.size).toBe(2);
  });
  it('honours a memory budget', () => {
    const local = new LocalSessions({ maxSessions: Infinity, maxBytes: 1000 }, () => undefined);
    for (let i = 0; i < 20; i++) local.set(`s${i}`, entry(`{"v":"${'x'.repeat(100)}"}`, true));
    expect(local.totalBytes).toBeLessThanOrEqual(1000);
    expect(local.peek('s19')).toBeDefined();
  });
});

describe('session cookie', () => {
  it('refuses a maxAge that gives no valid date with a clear error where the app sets it', () => {
    const cookie = new Cookie();
    for (const ms of [NaN, Infinity, 1e300, 36_500e15]) expect(() => (cookie.maxAge = ms)).toThrow(/cookie.maxAge must be a number of milliseconds that gives a valid date/);
    cookie.maxAge = 36_500 * 86_400_000; // 100 years is a valid date (stored capped, see MAX_LIFETIME_SECONDS)
    expect(Math.abs(cookie.originalMaxAge! - 36_500 * 86_400_000)).toBeLessThan(1000);
  });
});

describe('ring of available nodes', () => {
  it('moves only a failed node\'s keys, and uses failover nodes only when nothing else is up', () => {
    const ring = new AvailableRing(['n1', 'n2', 'n3'], ['n4']);
    ring.update(() => true);
    const keys = Array.from({ length: 300 }, (_, i) => `key${i}`);
    const before = new Map(keys.map((k) => [k, ring.nodesFor(k, 1)[0]]));
    expect(new Set(before.values())).toEqual(new Set(['n1', 'n2', 'n3']));
    ring.update((id) => id !== 'n2');
    for (const k of keys) {
      const now = ring.nodesFor(k, 1)[0];
      if (before.get(k) !== 'n2') expect(now).toBe(before.get(k));
      else expect(now).not.toBe('n2');
    }
    expect(ring.nodesFor('x', 2)).toHaveLength(2);
    ring.update((id) => id === 'n4');
    expect(ring.nodesFor('x', 2)).toEqual(['n4']);
    ring.update(() => false);
    expect(ring.nodesFor('x', 1)).toEqual([]);
  });
});

describe('express-session store contract', () => {
  it('Store is an ES5 constructor: Store.call(this) + util.inherits, and an EventEmitter', async () => {
    function LegacyStore(this: Record<string, unknown>) {
      session.Store.call(this as never);
      this.data = new Map<string, string>();
    }
    inherits(LegacyStore, session.Store as never);
    Object.assign(LegacyStore.prototype, {
      get(this: { data: Map<string, string> }, sid: string, cb: (e: unknown, s?: unknown) => void) {
        const raw = this.data.get(sid);
        cb(null, raw ? JSON.parse(raw) : null);
      },
      set(this: { data: Map<string, string> }, sid: string, s: unknown, cb: () => void) {
        this.data.set(sid, JSON.stringify(s));
        cb();
      },
      destroy(this: { data: Map<string, string> }, sid: string, cb: () => void) {
        this.data.delete(sid);
        cb();
      },
    });
    const store = new (LegacyStore as unknown as new () => InstanceType<typeof session.Store> & { data: Map<string, string> })();
    expect(store).toBeInstanceOf(EventEmitter);
    expect(store).toBeInstanceOf(session.Store);
    const { compatApp } = await import('../helpers/compat-app.js');
    const { Client } = await import('../helpers/http.js');
    const server = await compatApp(session({ secret: 's', resave: false, saveUninitialized: false, store }) as never);
    const client = new Client(server.url);
    await client.get('/set?k=a&v=1');
    expect(store.data.size).toBe(1);
    expect(JSON.parse((await client.get('/get')).body).session).toEqual({ a: '1' });
    // `store.load` and `createSession` come from the base class.
    const sid = [...store.data.keys()][0];
    const loaded = await new Promise<Record<string, unknown>>((resolve, reject) =>
      store.load(sid, (err, s) => (err ? reject(err) : resolve(s as never))),
    );
    expect(loaded.a).toBe('1');
    expect(loaded.cookie).toBeInstanceOf(session.Cookie);
    await server.close();
  });

  it('store disconnect: requests proceed without a session until it reconnects', async () => {
    const store = new session.MemoryStore();
    const { compatApp } = await import('../helpers/compat-app.js');
    const { Client } = await import('../helpers/http.js');
    const server = await compatApp(session({ secret: 's', resave: false, saveUninitialized: true, store }) as never);
    const client = new Client(server.url);
    store.emit('disconnect');
    expect(JSON.parse((await client.get('/get')).body).session).toBeNull();
    store.emit('connect');
    expect(JSON.parse((await client.get('/get')).body).session).toEqual({});
    await server.close();
  });
});

describe('socket.io pattern', () => {
  it('does not crash when res is not a ServerResponse', async () => {
    const middleware = session({ secret: 's', resave: false, saveUninitialized: false });
    const req = { headers: {}, url: '/', method: 'GET' } as never;
    const err = await new Promise((resolve) => middleware(req, {}, resolve));
    expect(err).toBeUndefined();
    expect((req as { session: unknown }).session).toBeDefined();
  });
});

describe('full preference order', () => {
  it('lists every regular node in ring order, then the failover nodes', () => {
    const ring = new AvailableRing(['n1', 'n2', 'n3'], ['n4']);
    const order = ring.preference('some-key');
    expect(order.slice(0, 3).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(order[3]).toBe('n4');
    // The available ring's first choices follow the same order.
    ring.update(() => true);
    expect(ring.nodesFor('some-key', 2)).toEqual(order.slice(0, 2));
    ring.update((id) => id !== order[0]);
    expect(ring.nodesFor('some-key', 2)).toEqual(order.slice(1, 3));
  });
});

describe('home nodes and the write quorum', () => {
  it('home nodes are the first three regular nodes of the full ring, whatever is up', () => {
    const ring = new AvailableRing(['n1', 'n2', 'n3', 'n4'], ['n5']);
    const home = ring.home('some-key');
    ring.update((id) => id === 'n5');
    expect(ring.home('some-key')).toEqual(home);
    expect(home).toEqual(ring.preference('some-key').slice(0, 3));
    expect(new AvailableRing(['n1', 'n2'], ['n3']).home('k').sort()).toEqual(['n1', 'n2']);
  });

  it('accepts two of three home nodes, or the first when there are fewer: any two accepted sets share a node', () => {
    const home = ['a', 'b', 'c'];
    expect(isWriteQuorum(home, ['a', 'b'])).toBe(true);
    expect(isWriteQuorum(home, ['b', 'c', 'd'])).toBe(true);
    expect(isWriteQuorum(home, ['c'])).toBe(false); // the case that lost acknowledged updates
    expect(isWriteQuorum(home, ['c', 'd'])).toBe(false);
    expect(isWriteQuorum(['a', 'b'], ['a'])).toBe(true);
    expect(isWriteQuorum(['a', 'b'], ['b'])).toBe(false);
    expect(isWriteQuorum(['a'], ['a'])).toBe(true);
    expect(isWriteQuorum([], ['a'])).toBe(false);
  });

  it('trusts unlocked writes and reads on two of three home nodes; with fewer nodes there is no majority to ask for', () => {
    const home = ['a', 'b', 'c'];
    expect(isHomeMajority(home, ['a', 'c'])).toBe(true);
    expect(isHomeMajority(home, ['b', 'd', 'c'])).toBe(true);
    expect(isHomeMajority(home, ['a', 'd'])).toBe(false);
    expect(isHomeMajority(home, [])).toBe(false);
    expect(isHomeMajority(['a', 'b'], ['b'])).toBe(true);
  });
});

describe('when a miss can be trusted', () => {
  it('only when fewer preferred nodes than a session has copies were skipped ahead of the last one read', async () => {
    const { storageClusterFor } = await import('../../src/backend.js');
    const { Statistics } = await import('../../src/base/statistics.js');
    const { resolveManagerSettings } = await import('../../src/options.js');
    // Ports nobody listens on: nothing is sent by mayHideCopies.
    const settings = resolveManagerSettings({ secret: 'it', memcachedNodes: 'n1:127.0.0.1:1,n2:127.0.0.1:2,n3:127.0.0.1:3' })!;
    const quiet = { info() {}, warn() {}, error() {} };
    const cluster = storageClusterFor(settings, new Statistics(false), quiet);
    try {
      const [a, b, c] = new AvailableRing(['n1', 'n2', 'n3'], []).preference('k');
      // Two copies (non-sticky).
      expect(cluster.mayHideCopies('k', [a, b], 2)).toBe(false); // nothing skipped
      expect(cluster.mayHideCopies('k', [b, c], 2)).toBe(false); // one skipped: its copy's twin is on b
      expect(cluster.mayHideCopies('k', [c], 2)).toBe(true); // both preferred nodes skipped
      expect(cluster.mayHideCopies('k', [], 2)).toBe(true);
      // One copy (sticky): any preferred node skipped may hold it.
      expect(cluster.mayHideCopies('k', [a, b], 1)).toBe(false);
      expect(cluster.mayHideCopies('k', [b, c], 1)).toBe(true);
      expect(cluster.mayHideCopies('k', [a, c], 1)).toBe(true);
    } finally {
      cluster.close();
    }
  });
});
