/**
 * Non-sticky mode against real memcached: two app processes on one pair of memcached nodes.
 */
import { describe, expect, it } from 'vitest';
import { textCommand, totalStat } from '../helpers/memcached.js';
import { freshClusterPerTest } from '../helpers/app-process.js';
import { Client } from '../helpers/http.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { sealingOf } from '../helpers/sealed.js';

const scope = freshClusterPerTest(2);

async function pair(options: Record<string, unknown>) {
  const all = { sticky: false, operationTimeout: 20_000, ...options };
  return [await scope.start('a', all), await scope.start('b', all)];
}

/** Fires `count` requests at once, alternating between the given servers, all with the same cookie. */
async function concurrently(client: Client, urls: string[], path: string, count: number) {
  const replies = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      fetch(urls[i % urls.length] + path, { headers: { cookie: client.cookie! } }).then(async (r) => ({ status: r.status, body: await r.text() })),
    ),
  );
  return replies;
}

const op = (name: string) => totalStat(scope.cluster.instances, name);

describe('locking: no lost updates under concurrency', () => {
  it("lockingMode 'all': 200 concurrent increments across two processes end at exactly 200", async () => {
    const [a, b] = await pair({ lockingMode: 'all' });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    const replies = await concurrently(client, [a.url, b.url], '/inc', 200);
    expect(replies.filter((r) => r.status !== 200)).toEqual([]);
    expect(JSON.parse((await client.get('/read')).body).data.count).toBe(200);
    client.moveTo(b.url);
    expect(JSON.parse((await client.get('/read')).body).data.count).toBe(200);
  });

  it("lockingMode 'auto': the same, once the increment route is learned", async () => {
    const [a, b] = await pair({ lockingMode: 'auto' });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    // Teach both processes: /read is read-only (locks skipped), /inc modifies (locked).
    for (const url of [a.url, b.url]) {
      client.moveTo(url);
      for (let i = 0; i < 3; i++) await client.get('/read');
      await client.get('/inc');
    }
    const replies = await concurrently(client, [a.url, b.url], '/inc', 200);
    expect(replies.filter((r) => r.status !== 200)).toEqual([]);
    expect(JSON.parse((await client.get('/read')).body).data.count).toBe(202);
    // Learned read-only requests take no lock; modifying ones still do.
    // (read without the cookie, so reading the statistics takes no lock itself)
    const locks = async () => ((await (await fetch(`${b.url}/stats`)).json()) as { counters: { locksAcquired: number } }).counters.locksAcquired;
    const before = await locks();
    for (let i = 0; i < 10; i++) await client.get('/read');
    expect(await locks()).toBe(before);
    await client.get('/inc');
    expect(await locks()).toBe(before + 1);
  });

  it('two concurrent requests on the same process: both updates survive', async () => {
    const [a] = await pair({ lockingMode: 'all' });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    const replies = await concurrently(client, [a.url], '/slow-inc?ms=150', 2);
    expect(replies.map((r) => r.status)).toEqual([200, 200]);
    expect(JSON.parse((await client.get('/read')).body).data.count).toBe(2);
    const stats = JSON.parse((await client.get('/stats')).body);
    expect(stats.counters.lockWaits).toBeGreaterThanOrEqual(1);
  });

  it("lockingMode 'none' loses updates (documented): last writer wins", async () => {
    const [a, b] = await pair({ lockingMode: 'none' });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    await concurrently(client, [a.url, b.url], '/slow-inc?ms=100', 10);
    expect(JSON.parse((await client.get('/read')).body).data.count).toBeLessThan(10);
  });

  it('a lock holder that outlives lockExpiration keeps its lock by renewal', async () => {
    // 3 s: 667 ms renewals leave over a second of slack for a loaded CI machine.
    const [a, b] = await pair({ lockingMode: 'all', lockExpiration: 3 });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    const slow = fetch(`${a.url}/slow-inc?ms=4500`, { headers: { cookie: client.cookie! } });
    await new Promise((r) => setTimeout(r, 100));
    const fast = fetch(`${b.url}/inc`, { headers: { cookie: client.cookie! } });
    const [s, f] = await Promise.all([slow, fast]);
    expect([s.status, f.status]).toEqual([200, 200]);
    expect(JSON.parse((await client.get('/read')).body).data.count).toBe(2);
  });

  it('a request whose lock was lost neither overwrites a newer version nor releases a foreign lock', async () => {
    const [a, b] = await pair({ lockingMode: 'all', lockExpiration: 2 });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    const sid = decodeURIComponent(client.cookie!.split('=')[1]).slice(2).split('.')[0];
    const lockKey = `lock:${sealingOf('test secret').sessionKey(sid)}`;
    const cookie = { cookie: client.cookie! };
    const started = Date.now();
    const at = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, started + ms - Date.now())));
    // A holds the lock, then loses it (as if its TTL ran out unrenewed: we delete it).
    const first = fetch(`${a.url}/slow-inc?ms=4000`, { headers: cookie });
    await at(300);
    for (const m of scope.cluster.instances) await textCommand(m.host, m.port, `delete ${lockKey}\r\n`, '\r\n');
    // B takes the lock and updates; C takes it after B and still holds it when A finishes.
    const second = fetch(`${b.url}/slow-inc?ms=1500`, { headers: cookie });
    await at(2300);
    const third = fetch(`${b.url}/slow-inc?ms=3000`, { headers: cookie });
    const a1 = await first; // ends at ~4 s, while C holds the lock
    expect(a1.status).toBe(409);
    expect((await a1.json()).code).toBe('ESESSIONCONFLICT');
    // C's lock is still there after A's release attempt.
    let held = 0;
    for (const m of scope.cluster.instances) if ((await textCommand(m.host, m.port, `get ${lockKey}\r\n`)).startsWith('VALUE')) held++;
    expect(held).toBe(1);
    expect((await second).status).toBe(200);
    expect((await third).status).toBe(200);
    // Only acknowledged updates count: B's and C's.
    expect(JSON.parse((await client.get('/read')).body).data.count).toBe(2);
  });

  it('a client that goes away releases the lock at once, and its late write cannot roll the session back', async () => {
    const [a, b] = await pair({ lockingMode: 'all' });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    const abort = new AbortController();
    const slow = fetch(`${a.url}/slow-inc?ms=1500`, { headers: { cookie: client.cookie! }, signal: abort.signal }).catch(() => 'aborted');
    await new Promise((r) => setTimeout(r, 200));
    abort.abort();
    expect(await slow).toBe('aborted');
    const started = Date.now();
    client.moveTo(b.url);
    await client.get('/inc');
    await client.get('/inc');
    expect(Date.now() - started).toBeLessThan(1000); // did not wait for the aborted request's handler
    await new Promise((r) => setTimeout(r, 1600)); // the aborted handler finishes and tries to save
    expect(JSON.parse((await client.get('/read')).body).data.count).toBe(2);
    const stats = JSON.parse((await new Client(a.url).get('/stats')).body);
    expect(stats.counters.conflicts).toBe(1);
  });

  it('a response completes only after its lock is released, so an app killed right after leaves no lock', async () => {
    const [a] = await pair({ lockingMode: 'all' });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    const sid = decodeURIComponent(client.cookie!.split('=')[1]).slice(2).split('.')[0];
    const lockHeld = async () => {
      for (const m of scope.cluster.instances) if ((await textCommand(m.host, m.port, `get lock:${sealingOf('test secret').sessionKey(sid)}\r\n`)).startsWith('VALUE')) return true;
      return false;
    };
    for (let i = 0; i < 10; i++) {
      await client.get('/inc');
      expect(await lockHeld()).toBe(false);
    }
    const died = new Promise((resolve) => a.child.once('exit', resolve));
    expect((await client.get('/inc-then-crash')).status).toBe(200);
    await died;
    expect(await lockHeld()).toBe(false);
  });

  it('fails closed with a clear 503 when the lock cannot be had in time', async () => {
    const [a, b] = await pair({ lockingMode: 'all', operationTimeout: 300 });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    const slow = fetch(`${a.url}/slow-inc?ms=1200`, { headers: { cookie: client.cookie! } });
    await new Promise((r) => setTimeout(r, 100));
    const blocked = await fetch(`${b.url}/inc`, { headers: { cookie: client.cookie! } });
    expect(blocked.status).toBe(503);
    expect((await blocked.json()).error).toMatch(/session is locked by another request/);
    expect(JSON.parse((await new Client(b.url).get('/stats')).body).counters.lockFailures).toBe(1);
    expect((await slow).status).toBe(200);
    expect(JSON.parse((await client.get('/read')).body).data.count).toBe(1);
  });
});

describe('locking policies', () => {
  const stats = async (url: string) =>
    ((await (await fetch(`${url}/stats`)).json()) as { counters: Record<string, number> }).counters;

  it("lockFailure 'open' runs the request unlocked when the lock cannot be had, and counts it", async () => {
    const [a, b] = await pair({ lockingMode: 'all', operationTimeout: 300, lockFailure: 'open' });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    const slow = fetch(`${a.url}/slow-inc?ms=1000`, { headers: { cookie: client.cookie! } });
    await new Promise((r) => setTimeout(r, 100));
    client.moveTo(b.url);
    const unlocked = await client.get('/read');
    expect(unlocked.status).toBe(200);
    expect(JSON.parse(unlocked.body).data.user).toBe('ada');
    expect((await stats(b.url)).lockFailOpen).toBe(1);
    expect(b.logs).toEqual([expect.stringMatching(/^warn: \[memcached-session-manager\] session is locked by another request; gave up after \d+ ms .*running unlocked \(lockFailure: 'open'\)$/)]);
    expect((await slow).status).toBe(200);
  });

  it("lockingMode 'uriPattern:<regex>' locks only requests whose path matches", async () => {
    const [a] = await pair({ lockingMode: 'uriPattern:^/inc$' });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    const before = (await stats(a.url)).locksAcquired;
    for (let i = 0; i < 3; i++) await client.get('/read?x=1');
    expect((await stats(a.url)).locksAcquired).toBe(before);
    await client.get('/inc?x=1'); // the query string is not part of the match
    expect((await stats(a.url)).locksAcquired).toBe(before + 1);
  });
});

describe('copies, read-your-writes and expiry', () => {
  it('read-your-writes: a write through A is seen by the next request through B, 1000 times', async () => {
    const [a, b] = await pair({});
    const client = new Client(a.url);
    for (let i = 0; i < 1000; i++) {
      client.moveTo(a.url);
      await client.get(`/set?v=${i}`);
      client.moveTo(b.url);
      const seen = JSON.parse((await client.get('/read')).body).data.v;
      if (seen !== String(i)) expect.fail(`iteration ${i}: B read ${seen}`);
    }
  }, 60_000);

  it('keeps two copies, one on each node', async () => {
    const [a] = await pair({});
    await new Client(a.url).get('/set?user=ada');
    const items = await Promise.all(scope.cluster.instances.map(async (m) => (await m.stats()).curr_items));
    expect(items).toEqual([1, 1]);
  });

  it('expires after the inactivity timeout counted from the last request on any node', async () => {
    const [a, b] = await pair({ maxInactiveInterval: 2 });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    for (const url of [b.url, a.url, b.url, a.url]) {
      await new Promise((r) => setTimeout(r, 900));
      client.moveTo(url);
      expect(JSON.parse((await client.get('/read')).body).data.user).toBe('ada'); // read-only, still alive
    }
    await new Promise((r) => setTimeout(r, 3100));
    expect(JSON.parse((await client.get('/read')).body).data.user).toBeUndefined();
  }, 20_000);
});

describe('destroy reaches every copy', () => {
  it('a session destroyed while one node is unreachable stays gone when that node returns with its copy', async () => {
    const [first, second] = scope.cluster.instances;
    const proxy = new TcpProxy(first.host, first.port);
    await proxy.start();
    try {
      const [a, b] = await pair({ operationTimeout: 300, memcachedNodes: `n1:127.0.0.1:${proxy.port},n2:${second.address}` });
      const client = new Client(a.url);
      await client.get('/set?user=ada');
      const before = client.cookie;
      proxy.block();
      expect((await client.get('/destroy')).status).toBe(200);
      proxy.unblock();
      client.cookie = before;
      for (const url of [a.url, b.url, a.url]) {
        client.moveTo(url);
        const reply = await client.get('/read');
        expect(reply.status).toBe(200);
        expect(JSON.parse(reply.body).data.user).toBeUndefined();
      }
    } finally {
      await proxy.stop();
    }
  });
});

describe('operation counts (memcached stats)', () => {
  it('read-only, modifying, touch-only and ignored requests', async () => {
    const [a] = await pair({ touchOnlyUriPattern: '^/ping$', requestUriIgnorePattern: '^/static/' });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    const snapshot = async () => ({ get: await op('cmd_get'), set: await op('cmd_set'), touch: await op('cmd_touch') });
    const diff = async (before: Awaited<ReturnType<typeof snapshot>>) => {
      const after = await snapshot();
      return { get: after.get - before.get, set: after.set - before.set, touch: after.touch - before.touch };
    };
    // A read is one get-and-touch per copy (memcached counts GAT as a touch): 2 operations, no separate touch.
    let before = await snapshot();
    await client.get('/read');
    expect(await diff(before)).toEqual({ get: 0, set: 0, touch: 2 });
    before = await snapshot();
    await client.get('/set?cart=1');
    expect(await diff(before)).toEqual({ get: 0, set: 2, touch: 2 });
    before = await snapshot();
    const ping = JSON.parse((await client.get('/ping')).body);
    expect(ping.session).toBeNull();
    expect(await diff(before)).toEqual({ get: 0, set: 0, touch: 2 });
    before = await snapshot();
    await client.get('/static/app.css');
    expect(await diff(before)).toEqual({ get: 0, set: 0, touch: 0 });
  });

  it("locking 'all' adds an add, a get and a delete of the lock", async () => {
    const [a] = await pair({ lockingMode: 'all' });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    await new Promise((r) => setTimeout(r, 50));
    const before = { get: await op('cmd_get'), set: await op('cmd_set'), del: await op('delete_hits') };
    await client.get('/set?cart=1');
    await new Promise((r) => setTimeout(r, 50));
    // add counts as a set in memcached's stats
    expect(await op('cmd_set')).toBe(before.set + 3);
    expect(await op('cmd_get')).toBe(before.get + 1); // the copies are read by get-and-touch
    expect(await op('delete_hits')).toBe(before.del + 1);
  });

  it('a process that has not seen a session touches once more, for the lifetime its cookie gives', async () => {
    const [a, b] = await pair({ cookie: { maxAge: 60_000 } });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    client.moveTo(b.url);
    const snapshot = async () => ({ get: await op('cmd_get'), set: await op('cmd_set'), touch: await op('cmd_touch') });
    // B guesses maxInactiveInterval (1800 s) for its get-and-touch, then touches both copies for 60 s.
    let before = await snapshot();
    await client.get('/read');
    let after = await snapshot();
    expect({ get: after.get - before.get, set: after.set - before.set, touch: after.touch - before.touch }).toEqual({ get: 0, set: 0, touch: 4 });
    before = after;
    await client.get('/read');
    after = await snapshot();
    expect({ get: after.get - before.get, set: after.set - before.set, touch: after.touch - before.touch }).toEqual({ get: 0, set: 0, touch: 2 });
  });
});
