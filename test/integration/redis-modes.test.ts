/**
 * Both modes end to end over real redis-server processes (`redisNodes`): app processes of the
 * built package, two Redis nodes, takeover, locking, node failure and refused credentials.
 */
import { describe, expect, it } from 'vitest';
import { freshServersPerTest, startApp } from '../helpers/app-process.js';
import { startServers } from '../helpers/backend.js';
import { startRedis } from '../helpers/redis.js';
import { Client } from '../helpers/http.js';
import { missingPackage } from '../helpers/system-programs.js';
import { textCommand } from '../helpers/memcached.js';
import type { StorageServer } from '../helpers/server-process.js';
import { destroyFrom, pausedThroughDestroy, readsCostNothing } from '../helpers/pushed-revocation.js';

const noRedis = missingPackage('redis-server');
const scope = freshServersPerTest(() => startServers(2, 'redis'));

/** Fires `count` requests at once, alternating between the given servers, all with the same cookie. */
function concurrently(client: Client, urls: string[], path: string, count: number) {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      fetch(urls[i % urls.length] + path, { headers: { cookie: client.cookie! } }).then(async (r) => ({ status: r.status, body: await r.text() })),
    ),
  );
}

const data = async (client: Client, path = '/read') => JSON.parse((await client.get(path)).body).data;

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.skipIf(noRedis)('sticky mode over Redis', () => {
  it('another app process takes a session over from its Redis backup when its owner is killed', async () => {
    const a = await scope.start('a', { route: 'a', sessionBackupAsync: false });
    const b = await scope.start('b', { route: 'b', sessionBackupAsync: false });
    const client = new Client(a.url);
    await client.get('/set?user=ada&role=admin');
    await client.get('/inc');
    await a.kill('SIGKILL');
    client.moveTo(b.url);
    const reply = JSON.parse((await client.get('/read')).body);
    expect(reply.node).toBe('b');
    expect(reply.data).toEqual({ user: 'ada', role: 'admin', count: 1 });
    await client.get('/inc');
    expect((await data(client)).count).toBe(2);
    const stats = JSON.parse((await client.get('/stats')).body);
    expect(stats.counters.takeovers).toBe(1);
  });

  it('a destroyed session is refused by the process that still holds it in memory', async () => {
    const a = await scope.start('a', { route: 'a', sessionBackupAsync: false });
    const b = await scope.start('b', { route: 'b', sessionBackupAsync: false });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    const sid = decodeURIComponent(client.cookie!.split('=')[1]).slice(2).replace(/\.[^.]*$/, '');
    const destroyed = await fetch(`${b.url}/store-destroy?sid=${encodeURIComponent(sid)}`);
    expect(await destroyed.json()).toEqual({ destroyed: true });
    expect((await data(client)).user).toBeUndefined();
  });
});

/**
 * HGETs a Redis server has served so far: every read of a revocation token or tombstone (copies
 * are read with HMGET, which the heartbeats also use inside their script).
 */
async function itemReads(server: StorageServer): Promise<number> {
  const info = await textCommand(server.host, server.port, 'INFO commandstats\r\n', '\r\n\r\n');
  let reads = 0;
  for (const [, calls] of info.matchAll(/^cmdstat_hget:calls=(\d+)/gm)) reads += Number(calls);
  return reads;
}

const allItemReads = async () => (await Promise.all(scope.cluster.instances.map(itemReads))).reduce((a, b) => a + b, 0);

const statsOf = async (url: string) => JSON.parse((await new Client(url).get('/stats')).body) as { counters: Record<string, number>; gauges: Record<string, number> };
describe.skipIf(noRedis)('sticky revocation pushed over Redis', () => {
  /** Starts two app processes and waits until `a` gets both nodes' revocation tokens by push. */
  async function twoApps() {
    const a = await scope.start('a', { route: 'a', sessionBackupAsync: false });
    const b = await scope.start('b', { route: 'b', sessionBackupAsync: false });
    const current = async () => (await statsOf(a.url)).gauges.revocationPushCurrent;
    for (let i = 0; i < 100 && (await current()) !== 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await current()).toBe(2);
    return { a, b };
  }

  it('reads of a held session cost no Redis read with the strict bound; a destroy elsewhere is refused on the next request', async () => {
    const { a, b } = await twoApps();
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    await data(client);
    await new Promise((r) => setTimeout(r, 200)); // its first check (in the background) has recorded the tokens
    expect(await readsCostNothing(allItemReads, client, 'ada', 20)).toBe(true);
    await destroyFrom(b.url, client);
    expect((await data(client)).user).toBeUndefined();
    expect((await statsOf(a.url)).counters.revokedSessionsRefused).toBe(1);
  });

  it('an app process paused through a revocation refuses the session when it resumes', async () => {
    const { a, b } = await twoApps();
    await pausedThroughDestroy(a, b);
  });

  it('with its subscription cut, a process reads the tokens instead (and says so), then goes back to pushes', async () => {
    const { a, b } = await twoApps();
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    await data(client);
    // Subscriptions cut, and refused while they try to come back (PUBLISH stays allowed).
    const onEvery = (command: string) => Promise.all(scope.cluster.instances.map((r) => textCommand(r.host, r.port, `${command}\r\n`, '\r\n')));
    await onEvery('ACL SETUSER default -subscribe');
    await onEvery('CLIENT KILL TYPE pubsub');
    try {
      await new Promise((r) => setTimeout(r, 1200)); // longer than the operation timeout: a's feed is stale
      const before = await statsOf(a.url);
      expect(before.gauges.revocationPushCurrent).toBe(0);
      await destroyFrom(b.url, client);
      expect((await data(client)).user).toBeUndefined();
      expect((await statsOf(a.url)).counters.revocationPushFallbacks).toBeGreaterThan(before.counters.revocationPushFallbacks);
    } finally {
      await onEvery('ACL SETUSER default +subscribe');
    }
    // Subscribed again (its retries back off, up to 5 s apart) and caught up: reads are free again.
    for (let i = 0; i < 240 && (await statsOf(a.url)).gauges.revocationPushCurrent !== 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await statsOf(a.url)).gauges.revocationPushCurrent).toBe(2);
    await client.get('/set?user=grace');
    await data(client);
    await new Promise((r) => setTimeout(r, 200));
    expect(await readsCostNothing(allItemReads, client, 'grace', 10)).toBe(true);
  });
});

describe.skipIf(noRedis)('non-sticky mode over Redis', () => {
  it("lockingMode 'all': 200 concurrent increments across two processes end at exactly 200", async () => {
    const options = { sticky: false, lockingMode: 'all', operationTimeout: 20_000 };
    const a = await scope.start('a', options);
    const b = await scope.start('b', options);
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    const replies = await concurrently(client, [a.url, b.url], '/inc', 200);
    expect(replies.filter((r) => r.status !== 200)).toEqual([]);
    expect((await data(client)).count).toBe(200);
    client.moveTo(b.url);
    expect((await data(client)).count).toBe(200);
  });

  it('read-your-writes across processes, and every session survives a Redis node SIGKILLed (two copies)', async () => {
    const options = { sticky: false, operationTimeout: 300 };
    const a = await scope.start('a', options);
    const b = await scope.start('b', options);
    const clients = Array.from({ length: 20 }, () => new Client(a.url));
    for (const [i, client] of clients.entries()) {
      await client.get(`/set?user=u${i}`);
      client.moveTo(b.url);
      expect((await data(client, '/inc')).count).toBe(1);
    }
    await scope.cluster.instances[0].signal('SIGKILL');
    for (const [i, client] of clients.entries()) {
      client.moveTo(i % 2 ? a.url : b.url);
      // The first call to the dead node may fail the request; the next ones skip it.
      let reply = await client.get('/inc');
      if (reply.status !== 200) reply = await client.get('/inc');
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body).data).toMatchObject({ user: `u${i}` });
      expect(JSON.parse(reply.body).data.count).toBeGreaterThanOrEqual(2);
    }
  });
});

describe.skipIf(noRedis)('Redis credentials', () => {
  for (const sticky of [true, false]) {
    it(`${sticky ? 'sticky' : 'non-sticky'}: the right ACL user works; a wrong password is an error-level log line and 503 for every request`, async () => {
      const server = await startRedis(['--user', 'app', 'on', '>right horse', '~*', '+@all', '--user', 'default', 'off']);
      const apps = [];
      try {
        const redisNodes = `n1:${server.address}`;
        const good = await startApp('good', { redisNodes, sticky, redisUsername: 'app', redisPassword: 'right horse', sessionBackupAsync: false });
        const bad = await startApp('bad', { redisNodes, sticky, redisUsername: 'app', redisPassword: 'wrong' });
        apps.push(good, bad);
        const client = new Client(good.url);
        expect((await client.get('/set?user=ada')).status).toBe(200);
        expect((await data(client)).user).toBe('ada');
        // Redis 7 gives a user no channels unless its rules say so: revocation reads its tokens instead of subscribing.
        const loggedOut = await client.get('/logout');
        expect(loggedOut.status).toBe(200);
        expect((await data(client)).user).toBeUndefined();
        await until(() => bad.logs.some((line) => /^error: .*redis n1 rejected the credentials of user "app" \(WRONGPASS/.test(line)));
        const refused = await new Client(bad.url).get('/set?user=eve');
        expect(refused.status).toBe(503);
        expect(refused.body).toMatch(/check the redisUsername and redisPassword options/);
      } finally {
        for (const app of apps) await app.kill();
        await server.stop();
      }
    });
  }
});
