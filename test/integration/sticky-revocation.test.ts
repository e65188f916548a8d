/**
 * Sticky mode, several app processes: a session destroyed, regenerated (login/logout) or taken
 * over anywhere is served by no process afterwards, from the next request on.
 */
import { describe, expect, it } from 'vitest';
import { AvailableRing } from '../../src/failover/ring.js';
import { snapshotItem } from '../helpers/raw-items.js';
import { freshClusterPerTest } from '../helpers/app-process.js';
import { Client } from '../helpers/http.js';
import { sealingOf } from '../helpers/sealed.js';

const scope = freshClusterPerTest(3);
const options = { sessionBackupAsync: false };

/** The session id inside a `connect.sid=s%3A<id>.<signature>` cookie. */
function idOf(cookie: string): string {
  const value = decodeURIComponent(cookie.split('=')[1]).slice(2);
  return value.slice(0, value.lastIndexOf('.'));
}

/** The memcached instances that hold `id`'s tombstone (with 3 nodes: the two its copy's key does not prefer first). */
function tombstoneNodes(id: string) {
  const ids = scope.cluster.instances.map((_, i) => `n${i + 1}`);
  return new AvailableRing(ids, []).preference(sealingOf('test secret').sessionKey(id)).slice(1, 3).map((node) => scope.cluster.instances[ids.indexOf(node)]);
}

/**
 * The user `url` serves for `cookie`. A node that has not yet seen a paused or restarted node answer
 * again refuses with 503 (it never serves unchecked): that is retried until its health check caught up.
 */
async function userWith(url: string, cookie: string): Promise<unknown> {
  const client = new Client(url);
  client.cookie = cookie;
  let reply = await client.get('/read');
  for (let i = 0; i < 40 && reply.status === 503; i++) {
    await new Promise((r) => setTimeout(r, 250));
    reply = await client.get('/read');
  }
  expect(reply.status, reply.body).toBe(200);
  return JSON.parse(reply.body).data?.user;
}

describe('sticky revocation across app processes', () => {
  it('login on A, takeover on B, logout on B: neither pre-logout cookie authenticates on A or B', async () => {
    const a = await scope.start('a', { ...options, route: 'a' });
    const b = await scope.start('b', { ...options, route: 'b' });
    const client = new Client(a.url);
    await client.get('/set?visit=1');
    expect(JSON.parse((await client.get('/login?user=ada')).body).data.user).toBe('ada');
    const onA = client.cookie!;
    expect(await userWith(a.url, onA)).toBe('ada');
    client.moveTo(b.url);
    expect(JSON.parse((await client.get('/read')).body).data.user).toBe('ada');
    const onB = client.cookie!;
    expect(idOf(onB)).toMatch(/\.b$/);
    const logout = await client.get('/logout');
    expect(JSON.parse(logout.body).data.user).toBeUndefined();
    expect(client.cookie).not.toBe(onB);
    for (const url of [a.url, b.url]) {
      expect(await userWith(url, onA)).toBeUndefined();
      expect(await userWith(url, onB)).toBeUndefined();
    }
    // The new, logged-out session still works.
    expect(JSON.parse((await client.get('/set?visit=2')).body).data).toEqual({ visit: '2' });
  });

  it('req.sessionStore.destroy(sid) on B stops A serving the session it holds', async () => {
    const a = await scope.start('a', options);
    const b = await scope.start('b', options);
    const client = new Client(a.url);
    await client.get('/login?user=ada');
    expect(JSON.parse((await client.get('/read')).body).data.user).toBe('ada');
    const sid = idOf(client.cookie!);
    const admin = new Client(b.url);
    expect(JSON.parse((await admin.get(`/store-destroy?sid=${encodeURIComponent(sid)}`)).body).destroyed).toBe(true);
    expect(JSON.parse((await client.get('/read')).body).data.user).toBeUndefined();
    const stats = JSON.parse((await client.get('/stats')).body);
    expect(stats.counters.revokedSessionsRefused).toBe(1);
  });

  it('destroy on A: a copy that reappears in memcached (late backup) is not revived by another node', async () => {
    const a = await scope.start('a', { ...options, route: 'a' });
    const b = await scope.start('b', { ...options, route: 'b' });
    const client = new Client(a.url);
    await client.get('/login?user=ada');
    const cookie = client.cookie!;
    const sid = idOf(cookie);
    const restore = await snapshotItem(scope.cluster.instances, sealingOf('test secret').sessionKey(sid));
    await client.get('/destroy');
    // Put the copy back where it was, as a backup that was in flight during the delete would.
    await restore();
    expect(await userWith(b.url, cookie)).toBeUndefined();
    expect(await userWith(a.url, cookie)).toBeUndefined();
  });

  it('a session A dropped from its bounded memory and destroyed on B is not reloaded by A', async () => {
    const a = await scope.start('a', { ...options, maxLocalSessions: 1 });
    const b = await scope.start('b', options);
    const client = new Client(a.url);
    await client.get('/login?user=ada');
    const sid = idOf(client.cookie!);
    await new Client(a.url).get('/set?other=1'); // pushes the first session out of A's memory
    const restore = await snapshotItem(scope.cluster.instances, sealingOf('test secret').sessionKey(sid));
    await new Client(b.url).get(`/store-destroy?sid=${encodeURIComponent(sid)}`);
    await restore();
    expect(JSON.parse((await client.get('/read')).body).data.user).toBeUndefined();
    expect(JSON.parse((await client.get('/stats')).body).counters.localEvictions).toBeGreaterThan(0);
  });

  it('revocationCheckInterval: a held session is checked at most once per interval, and revoked after it', async () => {
    const a = await scope.start('a', { ...options, revocationCheckInterval: 1000 });
    const b = await scope.start('b', options);
    const client = new Client(a.url);
    await client.get('/login?user=ada');
    for (let i = 0; i < 10; i++) await client.get('/read');
    const checks = JSON.parse((await client.get('/stats')).body).counters.revocationChecks;
    expect(checks).toBeLessThanOrEqual(2);
    await new Client(b.url).get(`/store-destroy?sid=${encodeURIComponent(idOf(client.cookie!))}`);
    await new Promise((r) => setTimeout(r, 1100));
    expect(JSON.parse((await client.get('/read')).body).data.user).toBeUndefined();
  });

  it('a logout no tombstone node took fails with 503; once recorded, the cookie is served nowhere', async () => {
    const a = await scope.start('a', { ...options, route: 'a', operationTimeout: 300 });
    const b = await scope.start('b', { ...options, route: 'b', operationTimeout: 300 });
    const client = new Client(a.url);
    await client.get('/login?user=ada');
    const onA = client.cookie!;
    client.moveTo(b.url);
    expect(JSON.parse((await client.get('/read')).body).data.user).toBe('ada');
    const onB = client.cookie!;
    const paused = tombstoneNodes(idOf(onB));
    await Promise.all(paused.map((m) => m.signal('SIGSTOP')));
    try {
      const logout = await client.get('/logout');
      expect(logout.status).toBe(503);
    } finally {
      await Promise.all(paused.map((m) => m.signal('SIGCONT')));
    }
    // The old session is still the user's (as express-session, regenerate made a new one anyway).
    client.cookie = onB;
    // The nodes marked down come back after a health check; the logout then goes through.
    let logout = await client.get('/logout');
    for (let i = 0; i < 40 && logout.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 250));
      // Each refused logout hands out a new session's cookie too: the retry is of the old one.
      client.cookie = onB;
      logout = await client.get('/logout');
    }
    expect(logout.status, logout.body).toBe(200);
    expect(JSON.parse(logout.body).data.user).toBeUndefined();
    for (const url of [a.url, b.url]) {
      expect(await userWith(url, onA)).toBeUndefined();
      expect(await userWith(url, onB)).toBeUndefined();
    }
  });

  it('both tombstone nodes restart empty: a taken-over or destroyed session held on A is not served again', async () => {
    const a = await scope.start('a', { ...options, route: 'a' });
    const b = await scope.start('b', { ...options, route: 'b' });
    // Taken over by B while A still holds it.
    const moved = new Client(a.url);
    await moved.get('/login?user=ada');
    const movedOnA = moved.cookie!;
    moved.moveTo(b.url);
    expect(JSON.parse((await moved.get('/read')).body).data.user).toBe('ada');
    // Destroyed from B (req.sessionStore.destroy) while A holds it.
    const destroyed = new Client(a.url);
    await destroyed.get('/login?user=bob');
    const destroyedOnA = destroyed.cookie!;
    expect(JSON.parse((await new Client(b.url).get(`/store-destroy?sid=${encodeURIComponent(idOf(destroyedOnA))}`)).body).destroyed).toBe(true);
    for (const [cookie, user] of [[movedOnA, 'ada'], [destroyedOnA, 'bob']] as const) {
      // (Not asked before the restarts: a refused session is dropped from A's memory.)
      // Every tombstone of the id gone; a health check notices the restarts meanwhile.
      for (const node of tombstoneNodes(idOf(cookie))) await node.restart();
      await new Promise((r) => setTimeout(r, 700));
      for (let i = 0; i < 3; i++) expect(await userWith(a.url, cookie), `${user}'s revoked cookie on A`).toBeUndefined();
      expect(await userWith(b.url, cookie)).toBeUndefined();
    }
  });
});
