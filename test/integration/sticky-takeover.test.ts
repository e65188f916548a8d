/**
 * App-node failure in sticky mode: a second app process takes the session over from memcached.
 */
import { describe, expect, it } from 'vitest';
import { totalStat } from '../helpers/memcached.js';
import { freshClusterPerTest } from '../helpers/app-process.js';
import { Client } from '../helpers/http.js';

const scope = freshClusterPerTest(2);

const app = (name: string, options: Record<string, unknown>) => scope.start(name, options);

function cookieValue(setCookie: string): string {
  return decodeURIComponent(setCookie.split(';')[0].split('=')[1]);
}

describe('sticky takeover after an app node is killed', () => {
  it('keeps every attribute when the owner dies with SIGKILL (async backup)', async () => {
    const a = await app('a', {});
    const b = await app('b', {});
    const client = new Client(a.url);
    await client.get('/set?user=ada&role=admin');
    await client.get('/inc');
    await client.get('/inc');
    await client.get('/set?cart=book%2Cpen');
    // Asynchronous backups land right after the response; give them a moment before the crash.
    await new Promise((r) => setTimeout(r, 200));
    await a.kill('SIGKILL');
    client.moveTo(b.url);
    const reply = JSON.parse((await client.get('/read')).body);
    expect(reply.node).toBe('b');
    expect(reply.data).toEqual({ user: 'ada', role: 'admin', count: 2, cart: 'book,pen' });
    // b now owns it: further requests are served locally and updates continue.
    await client.get('/inc');
    expect(JSON.parse((await client.get('/read')).body).data.count).toBe(3);
    const stats = JSON.parse((await client.get('/stats')).body);
    expect(stats.counters.takeovers).toBe(1);
    expect(stats.counters.loadsFromMemcached).toBe(1);
  });

  it('rewrites the route in the session id and re-sends the cookie with all its attributes', async () => {
    const cookie = { path: '/', domain: 'example.test', maxAge: 3_600_000, secure: false, sameSite: 'strict' };
    const a = await app('a', { route: 'a', sessionBackupAsync: false, cookie });
    const b = await app('b', { route: 'b', sessionBackupAsync: false, cookie });
    const client = new Client(a.url);
    const first = await client.get('/set?user=ada');
    const original = cookieValue(first.setCookie[0]);
    // Signed cookie: s:<random>.<route>.<signature> -- the route is the second-to-last dot field.
    expect(original).toMatch(/^s:[A-Za-z0-9_-]{32}\.a\.[A-Za-z0-9+/]{43}$/);
    await a.kill('SIGKILL');
    client.moveTo(b.url);
    const reply = await client.get('/read');
    expect(JSON.parse(reply.body).data).toEqual({ user: 'ada' });
    expect(reply.setCookie).toHaveLength(1);
    const moved = cookieValue(reply.setCookie[0]);
    // A fresh random part: an id is never reused once a takeover revoked it.
    expect(moved.split('.')[0]).not.toBe(original.split('.')[0]);
    expect(moved.split('.')[1]).toBe('b');
    expect(reply.setCookie[0]).toMatch(/; Domain=example\.test; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Strict$/);
    expect(JSON.parse(reply.body).id).toMatch(/\.b$/);
    // The copy under the old id is deleted once the renamed one is backed up; the old id's
    // revocation tombstone (on two nodes) and each node's revocation token remain.
    await new Promise((r) => setTimeout(r, 100));
    expect(await totalStat(scope.cluster.instances, 'curr_items')).toBe(1 + 2 + 2);
    // The next request uses the new cookie, served by b without another load.
    expect(JSON.parse((await client.get('/read')).body).data).toEqual({ user: 'ada' });
    const stats = JSON.parse((await client.get('/stats')).body);
    expect(stats.counters.loadsFromMemcached).toBe(1);
  });
});

describe('takeover while the memcached node with the copy is down', () => {
  it('answers 503, never a silently fresh session (async backups, memcached SIGSTOP, then the owner SIGKILL)', async () => {
    const a = await app('a', {});
    const b = await app('b', { operationTimeout: 200 });
    const clients = Array.from({ length: 12 }, () => new Client(a.url));
    for (const c of clients) await c.get('/set?user=ada');
    await new Promise((r) => setTimeout(r, 200)); // the asynchronous backups land
    // The node holding more of the copies is paused: on a loaded machine the owner may have seen
    // one node down for a moment and backed every session up to the other.
    const items = await Promise.all(scope.cluster.instances.map(async (m) => (await m.stats()).curr_items));
    const paused = scope.cluster.instances[items[0] >= items[1] ? 0 : 1];
    await paused.signal('SIGSTOP');
    try {
      await a.kill('SIGKILL');
      const statuses: number[] = [];
      // Two rounds: the first marks the paused node down (reads to it miss their deadline), the
      // second reads only the node that is up, which lacks the copies of the paused node.
      for (let round = 0; round < 2; round++) {
        for (const c of clients) {
          c.moveTo(b.url);
          const reply = await c.get('/read');
          statuses.push(reply.status);
          if (reply.status === 200) expect(JSON.parse(reply.body).data).toEqual({ user: 'ada' });
          else expect(reply.status).toBe(503);
        }
      }
      expect(statuses).toContain(503);
      const stats = JSON.parse((await new Client(b.url).get('/stats')).body);
      expect(stats.counters.nodesMarkedDown).toBe(1);
    } finally {
      await paused.signal('SIGCONT');
    }
  });
});

describe('a session that moves between app nodes again and again', () => {
  it('A → B → A → B keeps the user signed in and every acknowledged update', async () => {
    const a = await app('a', { route: 'a', sessionBackupAsync: false });
    const b = await app('b', { route: 'b', sessionBackupAsync: false });
    const client = new Client(a.url);
    expect((await client.get('/login?user=ada')).status).toBe(200);
    const ids = new Set<string>();
    let count = 0;
    // Both processes stay up: each keeps the session it served before in memory (a load balancer
    // that moved the user while the other node was unreachable).
    for (const [name, url] of [['b', b.url], ['a', a.url], ['b', b.url], ['a', a.url]] as const) {
      client.moveTo(url);
      for (let i = 0; i < 2; i++) {
        const reply = await client.get('/inc');
        expect(reply.status).toBe(200);
        const body = JSON.parse(reply.body);
        expect(body.node).toBe(name);
        expect(body.data).toEqual({ user: 'ada', count: ++count });
        ids.add(body.id);
      }
    }
    // Every move gave the session a fresh id.
    expect(ids.size).toBe(4);
    expect(JSON.parse((await client.get('/read')).body).data).toEqual({ user: 'ada', count });
  });
});

describe('a synchronous backup whose node hangs', () => {
  it('goes to the next node, so a takeover right after the owner dies still finds the acknowledged update', async () => {
    const a = await app('a', { operationTimeout: 200, sessionBackupAsync: false, sessionBackupTimeout: 1000 });
    const b = await app('b', { operationTimeout: 200, sessionBackupAsync: false, sessionBackupTimeout: 1000 });
    // Twelve sessions: about half have their backup on the node about to hang.
    const clients = Array.from({ length: 12 }, () => new Client(a.url));
    for (const c of clients) await c.get('/inc');
    const [hung] = scope.cluster.instances;
    await hung.signal('SIGSTOP');
    try {
      // At once, before the owner marks the hung node down: their backups reach no target.
      const replies = await Promise.all(clients.map((c) => c.get('/inc')));
      for (const reply of replies) expect(JSON.parse(reply.body).data.count).toBe(2);
      const stats = JSON.parse((await clients[0].get('/stats')).body);
      expect(stats.counters.backupFailures).toBeGreaterThan(0);
      await a.kill('SIGKILL');
      for (const c of clients) {
        c.moveTo(b.url);
        const reply = await c.get('/read');
        expect(reply.status).toBe(200);
        expect(JSON.parse(reply.body)).toMatchObject({ node: 'b', data: { count: 2 } });
      }
    } finally {
      await hung.signal('SIGCONT');
    }
  });
});

describe('a slow memcached node never blocks requests', () => {
  it('keeps answering within the deadline while a node is paused with SIGSTOP', async () => {
    const a = await app('a', { operationTimeout: 200 });
    const clients = Array.from({ length: 6 }, () => new Client(a.url));
    for (const c of clients) await c.get('/set?user=ada');
    await Promise.all(scope.cluster.instances.map((m) => m.signal('SIGSTOP')));
    try {
      const started = Date.now();
      for (let round = 0; round < 5; round++) {
        for (const c of clients) {
          const reply = await c.get('/inc');
          expect(reply.status).toBe(200);
        }
      }
      // 30 modifying requests, none waiting on the paused nodes (backups are asynchronous).
      expect(Date.now() - started).toBeLessThan(3000);
      for (const c of clients) expect(JSON.parse((await c.get('/read')).body).data.count).toBe(5);
      // The backups to the paused nodes hit their deadline and are counted as failures.
      await new Promise((r) => setTimeout(r, 400));
      const stats = JSON.parse((await clients[0].get('/stats')).body);
      expect(stats.counters.backupFailures).toBeGreaterThan(0);
      // Reported as warnings: a node going down, or a backup past its deadline.
      const warnings = a.logs.filter((line) => line.startsWith('warn: '));
      expect(warnings.length).toBeGreaterThan(0);
      for (const line of warnings) expect(line).toMatch(/^warn: \[memcached-session-manager\] (memcached node n\d is down \(\d+ consecutive failures, last: memcached n\d \w+ did not complete within 200 ms\)|backup to memcached node n\d failed: memcached n\d \w+ did not complete within 200 ms)/);
    } finally {
      await Promise.all(scope.cluster.instances.map((m) => m.signal('SIGCONT')));
    }
  });
});
