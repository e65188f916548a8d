/**
 * Sticky mode against real memcached: operation counts from memcached's own `stats`.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import session from '../../src/index.js';
import { providerName, startCluster, textCommand, totalStat, type MemcachedInstance } from '../helpers/memcached.js';
import { Client, serve } from '../helpers/http.js';
import { getItem } from '../helpers/raw-items.js';
import { openCopy, sealingOf } from '../helpers/sealed.js';

beforeAll(async () => console.log(`memcached provider: ${await providerName()}`));

// Fresh nodes for every test, so memcached's counters are the test's own.
let cluster: Awaited<ReturnType<typeof startCluster>>;
beforeEach(async () => {
  cluster = await startCluster(2);
});

type Middleware = ReturnType<typeof session>;
const open: Array<{ close(): Promise<void>; middleware: Middleware }> = [];
afterEach(async () => {
  while (open.length) {
    const app = open.pop()!;
    await app.close();
    await app.middleware.close();
  }
  await cluster.stop();
});

/** What the apps logged, as `<level>: <message>`. */
let logs: string[] = [];
beforeEach(() => {
  logs = [];
});
const record = (level: string) => (_fields: unknown, message: string) => logs.push(`${level}: ${message}`);

async function app(options: Record<string, unknown> = {}) {
  const middleware = session({
    secret: 'it',
    resave: false,
    saveUninitialized: false,
    memcachedNodes: cluster.nodes,
    sessionBackupAsync: false,
    logger: { info: record('info'), warn: record('warn'), error: record('error') },
    ...options,
  } as never);
  const server = await serve((req, res) => {
    middleware(req, res, (err) => {
      const r = req as http.IncomingMessage & { session: Record<string, unknown> & { regenerate: Function; save: Function } };
      if (err) {
        res.statusCode = (err as { status?: number }).status ?? 500;
        return res.end(String((err as Error).message));
      }
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/set') for (const [k, v] of url.searchParams) r.session[k] = v;
      if (url.pathname === '/big') r.session.blob = 'x'.repeat(Number(url.searchParams.get('n')));
      if (url.pathname === '/login') {
        return r.session.regenerate(() => {
          r.session.user = 'ada';
          r.session.save(() => res.end(JSON.stringify(r.session)));
        });
      }
      res.end(JSON.stringify(r.session));
    });
  });
  open.push({ close: server.close, middleware });
  return { url: server.url, middleware };
}

const gets = () => totalStat(cluster.instances, 'cmd_get');
const sets = () => totalStat(cluster.instances, 'cmd_set');
const touches = () => totalStat(cluster.instances, 'cmd_touch');
const items = () => totalStat(cluster.instances, 'curr_items');
/** A count once the background work of the last request (a new session's first revocation check) is done. */
async function settled(count: () => Promise<number>, expected: number): Promise<number> {
  for (let i = 0; i < 40 && (await count()) !== expected; i++) await new Promise((r) => setTimeout(r, 25));
  return count();
}

describe('sticky mode operation counts (memcached stats)', () => {
  it('100 read-only requests cost 0 gets and 0 sets; a modifying request exactly 1 set', async () => {
    // Revocation checks off for this count (they are counted in the next test).
    const { url } = await app({ revocationCheckInterval: 3_600_000 });
    const client = new Client(url);
    await client.get('/set?user=ada');
    // The session, and each node's revocation token: a new session is checked once right away.
    expect(await settled(sets, 1 + 2)).toBe(1 + 2);
    await client.get('/read');
    const [g0, s0] = [await gets(), await sets()];
    for (let i = 0; i < 100; i++) expect(JSON.parse((await client.get('/read')).body).user).toBe('ada');
    expect(await gets()).toBe(g0);
    expect(await sets()).toBe(s0);
    await client.get('/set?cart=3');
    expect(await sets()).toBe(s0 + 1);
    expect(await gets()).toBe(g0);
  });

  it('checks revocation with one get per tombstone node per read (its revocation token), 0 sets', async () => {
    const { url } = await app();
    const client = new Client(url);
    await client.get('/set?user=ada');
    // The first check asks for the tombstone itself, in the same round trip.
    await client.get('/read');
    const [g0, s0] = [await gets(), await sets()];
    for (let i = 0; i < 20; i++) expect(JSON.parse((await client.get('/read')).body).user).toBe('ada');
    expect(await gets()).toBe(g0 + 40);
    expect(await sets()).toBe(s0);
  });

  it('does not rewrite an unchanged session, even with resave: true', async () => {
    const { url, middleware } = await app({ resave: true });
    const client = new Client(url);
    await client.get('/set?user=ada');
    await client.get('/set?user=ada');
    for (let i = 0; i < 20; i++) await client.get('/read');
    expect(await settled(sets, 1 + 2)).toBe(1 + 2); // the session once, and each node's revocation token (first check)
    expect(middleware.statistics().counters.backupsSkippedUnchanged).toBeGreaterThanOrEqual(21);
  });

  it('regenerate() then save() (passport login) writes once', async () => {
    const { url } = await app();
    const client = new Client(url);
    await client.get('/set?visit=1');
    const before = await settled(sets, 1 + 2); // the session, and the tokens of its first check
    const reply = await client.get('/login');
    expect(JSON.parse(reply.body).user).toBe('ada');
    // One session write, plus the old id's revocation tombstone and a new revocation token on its
    // two nodes (the tokens were created by the first session's first check).
    expect(await settled(sets, before + 1 + 2 + 2)).toBe(before + 1 + 2 + 2);
    expect(await totalStat(cluster.instances, 'delete_hits')).toBe(1);
    expect(await settled(items, 1 + 2 + 2)).toBe(1 + 2 + 2); // the old id was deleted; its tombstones and the tokens remain
  });

  it('spreads backups over the nodes by consistent hashing', async () => {
    const { url } = await app();
    for (let i = 0; i < 40; i++) await new Client(url).get('/set?n=' + i);
    const perNode = await Promise.all(cluster.instances.map((m: MemcachedInstance) => m.stats()));
    for (const s of perNode) expect(s.curr_items).toBeGreaterThan(5);
    expect(await settled(items, 40 + 2)).toBe(40 + 2); // and a revocation token per node (created by the first session's check)
  });

  it('handles TTLs over 30 days (absolute time) and timeouts of 0 (never expire)', async () => {
    const days40 = 40 * 24 * 3600 * 1000;
    const long = await app({ cookie: { maxAge: days40 } });
    const a = new Client(long.url);
    await a.get('/set?user=long');
    const never = await app({ maxInactiveInterval: 0 });
    const b = new Client(never.url);
    await b.get('/set?user=never');
    // Both must really be stored: a wrong 40-day TTL would be an absolute time in 1970, i.e. already
    // expired. With a revocation token per node, which a new session's first check (in the
    // background) creates.
    expect(await settled(items, 2 + 2)).toBe(2 + 2);
    // A second app process (empty memory) takes both over from memcached.
    const other = await app({ cookie: { maxAge: days40 } });
    a.moveTo(other.url);
    b.moveTo(other.url);
    expect(JSON.parse((await a.get('/read')).body).user).toBe('long');
    expect(JSON.parse((await b.get('/read')).body).user).toBe('never');
  });

  it('throttles touch: many reads of an unchanged session cause at most one touch', async () => {
    const { url } = await app({ cookie: { maxAge: 60_000 } });
    const client = new Client(url);
    await client.get('/set?user=ada');
    for (let i = 0; i < 50; i++) await client.get('/read');
    expect(await touches()).toBeLessThanOrEqual(1);
  });

  it('gives a clear error for a session over the item size limit', async () => {
    const { url } = await app({ itemSizeLimit: 64 * 1024 });
    const reply = await new Client(url).get('/big?n=100000');
    expect(reply.status).toBe(413);
    expect(reply.body).toMatch(/session is \d+ bytes serialized, over memcached's item size limit of 65536 bytes/);
    expect(await sets()).toBe(0);
  });

  it('serves a fresh session and counts corrupt data in memcached, without crashing', async () => {
    const { url, middleware } = await app();
    const first = await app();
    const client = new Client(first.url);
    await client.get('/set?user=ada');
    const sid = decodeURIComponent(client.cookie!.split('=')[1]).slice(2).split('.')[0];
    // Overwrite the stored copy with garbage on whichever node holds it.
    const key = sealingOf('it').sessionKey(sid);
    for (const m of cluster.instances) {
      const exists = await textCommand(m.host, m.port, `get ${key}\r\n`);
      if (exists.startsWith('VALUE')) await textCommand(m.host, m.port, `set ${key} 0 0 5\r\n{"cok\r\n`, 'STORED\r\n');
    }
    client.moveTo(url);
    const reply = await client.get('/read');
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body).user).toBeUndefined();
    expect(middleware.statistics().counters.corruptSessions).toBe(1);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^warn: \[memcached-session-manager\] stored session (\S+) is corrupt \(not a session copy sealed under its key .* on node\(s\) n\d\); deleted, starting a new session$/);
    // Named by the key's fingerprint, never by the session id.
    expect(logs[0]).toContain(` ${sealingOf('it').fingerprint(key)} `);
    expect(logs[0]).not.toContain(sid);
  });

  it('ignores forged cookies without a memcached lookup', async () => {
    const { url } = await app();
    const client = new Client(url);
    client.cookie = 'connect.sid=s%3Aforged-id.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    await client.get('/read');
    expect(await gets()).toBe(0);
  });

  it('keeps working when the local store bound is reached: dropped sessions reload from memcached', async () => {
    const { url, middleware } = await app({ maxLocalSessions: 5 });
    const clients = Array.from({ length: 12 }, () => new Client(url));
    for (const [i, c] of clients.entries()) await c.get(`/set?n=${i}`);
    expect(middleware.statistics().gauges.localSessions).toBeLessThanOrEqual(5);
    for (const [i, c] of clients.entries()) expect(JSON.parse((await c.get('/read')).body).n).toBe(String(i));
    expect(middleware.statistics().counters.localEvictions).toBeGreaterThan(0);
    expect(await gets()).toBeGreaterThan(0);
  });

  it('memcached down: new sessions beyond maxLocalSessions are all kept, and the bound holds again once their backups land, with no new session', async () => {
    const { url, middleware } = await app({ maxLocalSessions: 5, operationTimeout: 300 });
    for (const m of cluster.instances) await m.signal('SIGKILL');
    const clients = Array.from({ length: 20 }, () => new Client(url));
    for (const [i, c] of clients.entries()) expect((await c.get(`/set?n=${i}`)).status).toBe(200);
    // Memory holds their only copies: none is dropped.
    expect(middleware.statistics().gauges.localSessions).toBe(20);
    for (const m of cluster.instances) await m.restart();
    const deadline = Date.now() + 15_000;
    while (middleware.statistics().gauges.localSessions > 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(middleware.statistics().gauges.localSessions).toBe(5);
    // Every session is still there: dropped ones reload from their backups.
    for (const [i, c] of clients.entries()) expect(JSON.parse((await c.get('/read')).body).n).toBe(String(i));
  });

  it('removes an expired session locally and from memcached', async () => {
    const { url, middleware } = await app({ cookie: { maxAge: 1000 } });
    const client = new Client(url);
    await client.get('/set?user=ada');
    expect(await settled(items, 1 + 2)).toBe(1 + 2); // and a revocation token per node
    await new Promise((r) => setTimeout(r, 1300));
    expect(JSON.parse((await client.get('/read')).body).user).toBeUndefined();
    expect(middleware.statistics().counters.expiredRemoved).toBe(1);
    // The copy is deleted in the background (and its TTL ends with the session anyway): wait
    // for the delete's round trip, which a loaded machine or a container network may slow.
    for (let i = 0; i < 40 && (await items()) > 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await items()).toBe(2);
  });

  it('close() flushes asynchronous backups', async () => {
    const { url, middleware } = await app({ sessionBackupAsync: true });
    const clients = Array.from({ length: 10 }, () => new Client(url));
    await Promise.all(clients.map((c, i) => c.get(`/set?n=${i}`)));
    await middleware.close();
    expect(await settled(items, 10 + 2)).toBe(10 + 2); // and a revocation token per node
  });

  it('applies sessionAttributeFilter and storageKeyPrefix to what is stored', async () => {
    const { url } = await app({ sessionAttributeFilter: '^user$', storageKeyPrefix: 'shop:' });
    const client = new Client(url);
    await client.get('/set?user=ada&tmp=1');
    expect(JSON.parse((await client.get('/read')).body)).toMatchObject({ user: 'ada', tmp: '1' });
    const sid = decodeURIComponent(client.cookie!.split('=')[1]).slice(2).split('.')[0];
    let stored = '';
    const sealing = sealingOf('it', 'shop:');
    const key = sealing.sessionKey(sid);
    expect(key.startsWith('shop:')).toBe(true);
    for (const m of cluster.instances) {
      const raw = await getItem(m, key);
      if (raw) stored = openCopy(sealing, key, raw)!.json;
    }
    expect(stored).toContain('"user":"ada"');
    expect(stored).not.toContain('tmp');
  });

  it('requestUriIgnorePattern: matching paths never load or save a session', async () => {
    const { url, middleware } = await app({ requestUriIgnorePattern: '\\.(css|png)$' });
    const client = new Client(url);
    await client.get('/set?user=ada');
    await client.get('/style.css?v=1');
    await client.get('/set.png?x=1');
    expect(middleware.statistics().counters.requestsIgnored).toBe(2);
    expect(await settled(sets, 1 + 2)).toBe(1 + 2); // and a revocation token per node
  });
});
