/**
 * Replication between app processes (`peers`), with no memcached at all: three app processes,
 * each the backup store of the others. `backup` keeps one copy on another peer, `all` one on every
 * other peer; a session outlives its owner's SIGKILL either way.
 */
import { describe, expect, it } from 'vitest';
import { peersPerTest } from '../helpers/peer-apps.js';
import { Client } from '../helpers/http.js';
import { destroyFrom, pausedThroughDestroy, readsCostNothing, sessionData } from '../helpers/pushed-revocation.js';

const scope = peersPerTest(3);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function cluster(options: Record<string, unknown>) {
  const apps = [await scope.start('a', options), await scope.start('b', options), await scope.start('c', options)];
  await scope.settle(apps);
  return apps;
}

describe('peers, replication: backup', () => {
  it('keeps one copy on another peer, never on the owner; the session outlives the owner\'s SIGKILL', async () => {
    const [a, b] = await cluster({ sessionBackupAsync: false });
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    await client.get('/inc');
    const { id } = await client.json<{ id: string }>('/inc');
    const holders = await scope.holders(id);
    expect(holders).toHaveLength(1);
    expect(holders).not.toContain('a');

    await a.kill('SIGKILL');
    client.moveTo(b.url);
    const reply = await client.json<{ id: string; node: string; data: Record<string, unknown> }>('/read');
    expect(reply.node).toBe('b');
    expect(reply.data).toEqual({ user: 'ada', count: 2 });
    // Taken over under a new id, backed up away from b; the old id's copy is gone.
    expect(reply.id).not.toBe(id);
    await sleep(200);
    expect(await scope.holders(id)).toEqual([]);
    expect(await scope.holders(reply.id)).toEqual(['c']);
    expect((await client.json<{ data: { count: number } }>('/inc')).data.count).toBe(3);
  });

  it('a synchronous backup whose peer hangs goes to the other peer: the owner\'s SIGKILL right after loses no acknowledged update', async () => {
    const apps = await cluster({ sessionBackupAsync: false, operationTimeout: 200, sessionBackupTimeout: 1000 });
    const client = new Client(apps[0].url);
    const { id } = await client.json<{ id: string }>('/inc');
    const [holder] = await scope.holders(id);
    const hung = apps['abc'.indexOf(holder)];
    const otherName = holder === 'b' ? 'c' : 'b';
    const other = apps['abc'.indexOf(otherName)];
    hung.child.kill('SIGSTOP');
    try {
      expect((await client.json<{ data: { count: number } }>('/inc')).data.count).toBe(2);
      await apps[0].kill('SIGKILL');
      client.moveTo(other.url);
      const reply = await client.json<{ node: string; data: { count: number } }>('/read');
      expect(reply).toMatchObject({ node: otherName, data: { count: 2 } });
    } finally {
      hung.child.kill('SIGCONT');
    }
  });

  it('a stale owner never overwrites the newer session: a paused owner coming back serves the old id no more', async () => {
    const [a, b, c] = await cluster({ sessionBackupAsync: false });
    const client = new Client(a.url);
    await client.get('/inc');
    const oldCookie = client.cookie;
    a.child.kill('SIGSTOP');
    client.moveTo(b.url);
    expect((await client.json<{ data: { count: number } }>('/inc')).data.count).toBe(2);
    const newer = await client.json<{ id: string }>('/read');
    a.child.kill('SIGCONT');
    // The paused owner still holds count 1 under the old id: it refuses to serve it (revoked), so
    // the old cookie starts a fresh session instead of continuing from 1.
    const stale = new Client(a.url);
    stale.cookie = oldCookie;
    await scope.settle([a, b, c]);
    const fresh = await stale.json<{ id: string; data: { count: number } }>('/inc');
    expect(fresh.data.count).toBe(1);
    expect(fresh.id).not.toBe(oldCookie);
    await sleep(200);
    client.moveTo(c.url);
    const read = await client.json<{ id: string; data: { count: number } }>('/read');
    expect(read.data.count).toBe(2);
    expect(read.id).not.toBe(newer.id); // c took it over from b's backup: the newest version
  });

  it('a process that shuts down hands its sessions to every other peer: the next restart (of its backup) loses none', async () => {
    const [a, b, c] = await cluster({ sessionBackupAsync: false });
    const clients = Array.from({ length: 6 }, () => new Client(a.url));
    const ids: string[] = [];
    for (const client of clients) ids.push((await client.json<{ id: string }>('/inc')).id);
    await a.kill('SIGTERM');
    for (const id of ids) expect(await scope.holders(id)).toEqual(['b', 'c']);
    // A rolling restart: a is back (empty), then b goes. Each session's backup was on b or c; c
    // still has them all. (With a still away, a third of them would wait for a tombstone peer.)
    const again = await scope.start('a', { sessionBackupAsync: false });
    await scope.settle([again, b, c]);
    await b.kill('SIGKILL');
    for (const client of clients) {
      client.moveTo(c.url);
      expect((await client.json<{ data: { count: number } }>('/read')).data.count).toBe(1);
    }
  });

  it('a restarted process taking back its own session (same route, same id) keeps one copy, its backup', async () => {
    const [a] = await cluster({ sessionBackupAsync: false, route: 'a' });
    const client = new Client(a.url);
    const { id } = await client.json<{ id: string }>('/inc');
    await a.kill('SIGTERM');
    expect(await scope.holders(id)).toEqual(['b', 'c']);
    const again = await scope.start('a', { sessionBackupAsync: false, route: 'a' });
    await scope.settle([again]);
    client.moveTo(again.url);
    const reply = await client.json<{ id: string; data: { count: number } }>('/inc');
    expect(reply).toMatchObject({ id, data: { count: 2 } });
    await sleep(200);
    // The handed-over copy beyond the backup is gone: it would fall behind the backup.
    expect(await scope.holders(id)).toHaveLength(1);
  });

  it('destroy deletes the copy wherever it is', async () => {
    const [a] = await cluster({ sessionBackupAsync: false });
    const client = new Client(a.url);
    const { id } = await client.json<{ id: string }>('/set?user=ada');
    expect(await scope.holders(id)).toHaveLength(1);
    await client.json('/destroy');
    expect(await scope.holders(id)).toEqual([]);
  });
});

describe('peers, replication: all', () => {
  it('copies every change to every other peer: after the owner and one more peer die, the last one serves the session', async () => {
    const [a, b, c] = await cluster({ replication: 'all', sessionBackupAsync: false });
    const clients = Array.from({ length: 6 }, () => new Client(a.url));
    const ids: string[] = [];
    for (const client of clients) {
      await client.get('/set?user=ada');
      ids.push((await client.json<{ id: string }>('/inc')).id);
    }
    for (const id of ids) expect(await scope.holders(id)).toEqual(['b', 'c']);
    await a.kill('SIGKILL');
    // Half are read on b, half on c: every peer holds every session.
    for (const [i, client] of clients.entries()) {
      client.moveTo((i % 2 === 0 ? b : c).url);
      const reply = await client.json<{ node: string; data: Record<string, unknown> }>('/read');
      expect(reply.node).toBe(i % 2 === 0 ? 'b' : 'c');
      expect(reply.data).toEqual({ user: 'ada', count: 1 });
    }
  });

  it('a peer that comes back empty gets every session copied to it again, and only it is written', async () => {
    const [a, , c] = await cluster({ replication: 'all', sessionBackupAsync: false });
    const clients = Array.from({ length: 10 }, () => new Client(a.url));
    const ids: string[] = [];
    for (const client of clients) ids.push((await client.json<{ id: string }>('/inc')).id);
    const stats = async () => (await (await fetch(`${a.url}/stats`)).json()) as { counters: Record<string, number>; gauges: Record<string, number> };
    const before = (await stats()).counters.backups;
    await c.kill('SIGKILL');
    await scope.settle([a], ['a', 'b']).catch(() => undefined);
    const again = await scope.start('c', { replication: 'all', sessionBackupAsync: false });
    await scope.settle([a, again]);
    // c pulled copies as it started; a's relocation, once it sees c up, writes its sessions there
    // again (a pulled copy may be older than a's): wait for it (a loaded machine is slow).
    for (let i = 0; i < 100 && (await stats()).counters.backups - before < ids.length; i++) await sleep(100);
    await sleep(200);
    for (const id of ids) expect(await scope.holders(id)).toEqual(['b', 'c']);
    // b kept its copies throughout: only the returning peer was written to.
    expect((await stats()).counters.backups - before).toBe(ids.length);
  });

  it('destroy reaches every copy', async () => {
    const [a] = await cluster({ replication: 'all', sessionBackupAsync: false });
    const client = new Client(a.url);
    const { id } = await client.json<{ id: string }>('/set?user=ada');
    expect(await scope.holders(id)).toEqual(['b', 'c']);
    await client.json('/destroy');
    expect(await scope.holders(id)).toEqual([]);
  });

  it('a process restarted empty pulls every session\'s copy from a peer before it reports ready', async () => {
    const options = { replication: 'all', sessionBackupAsync: false };
    const apps = [];
    for (const id of ['a', 'b', 'c']) apps.push(await scope.start(id, { ...options, route: id }));
    await scope.settle(apps);
    const [a, b, c] = apps;
    const clients = apps.flatMap((app) => Array.from({ length: 4 }, () => new Client(app.url)));
    const ids: string[] = [];
    for (const client of clients) {
      await client.get('/inc');
      ids.push((await client.json<{ id: string }>('/inc')).id);
    }
    await c.kill('SIGKILL');
    const again = await scope.start('c', { ...options, route: 'c' });
    await again.ready;
    // Ready: it holds every copy, its own former sessions' too (no other process writes those).
    for (const id of ids) expect(await scope.holders(id)).toContain('c');
    expect(again.logs.some((line) => /took \d+ session copies from peer\(s\) (a, b|b, a)/.test(line))).toBe(true);
    await a.kill('SIGKILL');
    await b.kill('SIGKILL');
    // The only survivor: its own sessions (same id) are served from the pulled copies. A session
    // a or b served moves to a new id, which needs the old id's tombstone written: refused (503,
    // nothing lost) when both of its tombstone nodes were a and b, served otherwise.
    let moved = 0;
    for (const [i, client] of clients.entries()) {
      client.moveTo(again.url);
      const reply = await client.get('/read');
      if (i >= 8) expect(reply.status).toBe(200);
      if (reply.status === 200) {
        expect((JSON.parse(reply.body) as { data: { count: number } }).data.count).toBe(2);
        if (i < 8) moved++;
      } else {
        expect(reply.body).toMatch(/tombstone/);
      }
    }
    expect(moved).toBeGreaterThan(0);
  });
});

describe.each(['backup', 'all'])('peers, deltas (replication: %s)', (replication) => {
  it('a change to a 20 KB session reaches the peers as a delta, and a takeover reads every change', async () => {
    const [a, b, c] = await cluster({ replication, sessionBackupAsync: false });
    const stats = async () => (await (await fetch(`${a.url}/stats`)).json()) as { counters: Record<string, number> };
    const client = new Client(a.url);
    await client.get('/big?kb=20');
    await client.get('/set?user=ada');
    const before = (await stats()).counters;
    for (let i = 0; i < 10; i++) await client.get('/inc');
    await client.get('/set?user=grace&note=added');
    const after = (await stats()).counters;
    const copies = replication === 'all' ? 2 : 1;
    // Every change went to every copy as a delta: none had to be sent whole.
    expect(after.backupDeltas - before.backupDeltas).toBe(11 * copies);
    expect(after.backups - before.backups).toBe(11 * copies);
    const { id } = await client.json<{ id: string }>('/read');
    const holders = await scope.holders(id);
    expect(holders).toHaveLength(copies);

    // The patched copies are whole sessions: a takeover after the owner's SIGKILL serves the last state.
    await a.kill('SIGKILL');
    client.moveTo((holders[0] === 'b' ? b : c).url);
    const reply = await client.json<{ id: string; data: Record<string, unknown> }>('/read');
    expect(reply.data).toMatchObject({ user: 'grace', note: 'added', count: 10 });
    expect(reply.data.big).toBe('x'.repeat(20 * 1024));
  });
});

describe('peers, revocation tokens pushed between processes', () => {
  const statsOf = (url: string) => new Client(url).json<{ counters: Record<string, number>; gauges: Record<string, number> }>('/stats');
  /** Calls `app` made to storage nodes (its own store included), counted by the fixture from its first ask on. */
  const storageCalls = (url: string) => async () => (await new Client(url).json<{ calls: number }>('/storage-calls')).calls;

  /** Three peers, once `a` gets every peer's revocation token by push. */
  async function pushing() {
    const apps = await cluster({ sessionBackupAsync: false });
    const current = async () => (await statsOf(apps[0].url)).gauges.revocationPushCurrent;
    for (let i = 0; i < 100 && (await current()) !== 3; i++) await sleep(50);
    expect(await current()).toBe(3);
    return apps;
  }

  it('reads of a held session make no storage call with the strict bound; a destroy on another peer is refused on the next request', async () => {
    const [a, b] = await pushing();
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    await sessionData(client);
    await sleep(200); // its first check (in the background) has recorded the tokens
    expect(await readsCostNothing(storageCalls(a.url), client, 'ada', 20)).toBe(true);
    await destroyFrom(b.url, client);
    expect((await sessionData(client)).user).toBeUndefined();
    expect((await statsOf(a.url)).counters.revokedSessionsRefused).toBe(1);
  });

  it('a peer paused through a revocation refuses the session when it resumes', async () => {
    const [a, b] = await pushing();
    await pausedThroughDestroy(a, b);
  });

  it('a peer killed and restarted: the others read its token until its pushes are current again, then reads are free', async () => {
    const [a, , c] = await pushing();
    const client = new Client(a.url);
    await client.get('/set?user=ada');
    await sessionData(client);
    await c.kill('SIGKILL');
    const before = await statsOf(a.url);
    await sleep(1200); // longer than the operation timeout: a's feed from c is stale
    expect((await statsOf(a.url)).gauges.revocationPushCurrent).toBe(2);
    const restarted = await scope.start('c', { sessionBackupAsync: false });
    for (let i = 0; i < 240 && (await statsOf(a.url)).gauges.revocationPushCurrent !== 3; i++) await sleep(50);
    expect((await statsOf(a.url)).gauges.revocationPushCurrent).toBe(3);
    // Its pushes can be current before a's health check marks it up; until then a's checks read.
    await scope.settle([a, restarted]);
    expect((await sessionData(client)).user).toBe('ada');
    await client.get('/set?user=grace');
    await sessionData(client);
    await sleep(200);
    expect(await readsCostNothing(storageCalls(a.url), client, 'grace', 10)).toBe(true);
    // And a destroy made on the restarted peer still reaches a.
    await destroyFrom(restarted.url, client);
    expect((await sessionData(client)).user).toBeUndefined();
    expect((await statsOf(a.url)).counters.revokedSessionsRefused).toBeGreaterThan(before.counters.revokedSessionsRefused ?? 0);
  });
});
