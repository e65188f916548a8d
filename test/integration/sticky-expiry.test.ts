/**
 * Sticky mode, several app processes: an expired session is served by no path (takeover by
 * another node, or the owner after a restart), and a used session's copy stays fresh.
 */
import { describe, expect, it } from 'vitest';
import { freshClusterPerTest } from '../helpers/app-process.js';
import { Client } from '../helpers/http.js';
import { snapshotItem } from '../helpers/raw-items.js';
import { sealingOf } from '../helpers/sealed.js';

const scope = freshClusterPerTest(2);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const idOf = (cookie: string) => decodeURIComponent(cookie.split('=')[1]).slice(2).replace(/\.[^.]*$/, '');

describe('sticky mode never revives an expired session', () => {
  for (const [name, lifetime] of [
    ['maxInactiveInterval: 4', { maxInactiveInterval: 4 }],
    ['cookie.maxAge: 4000', { cookie: { maxAge: 4000 } }],
  ] as const) {
    it(`${name}: after 5 s idle neither another node nor the restarted owner serves it`, async () => {
      const options = { sessionBackupAsync: false, ...lifetime };
      const a = await scope.start('a', { ...options, route: 'a' });
      const b = await scope.start('b', { ...options, route: 'b' });
      const toB = new Client(a.url);
      const toRestartedA = new Client(a.url);
      await toB.get('/login?user=ada');
      await toRestartedA.get('/login?user=bob');
      // A copy memcached keeps longer than the session lives (written back without expiry) must be refused too.
      const keepForever = await snapshotItem(scope.cluster.instances, sealingOf('test secret').sessionKey(idOf(toB.cookie!)));
      await sleep(5000);
      await keepForever();
      await a.kill('SIGKILL');
      const a2 = await scope.start('a', { ...options, route: 'a' });
      toB.moveTo(b.url);
      toRestartedA.moveTo(a2.url);
      expect(JSON.parse((await toB.get('/read')).body).data.user).toBeUndefined();
      expect(JSON.parse((await toRestartedA.get('/read')).body).data.user).toBeUndefined();
      const stats = JSON.parse((await toB.get('/stats')).body);
      expect(stats.counters.takeovers).toBe(0);
      expect(stats.counters.expiredRemoved).toBe(1);
    });
  }

  it('a session read (not changed) within its lifetime keeps a fresh copy: it survives the owner', async () => {
    const options = { sessionBackupAsync: false, maxInactiveInterval: 4 };
    const a = await scope.start('a', { ...options, route: 'a' });
    const b = await scope.start('b', { ...options, route: 'b' });
    const client = new Client(a.url);
    await client.get('/login?user=ada');
    // 6 s of reads: longer than the lifetime recorded by the login's backup.
    for (let i = 0; i < 6; i++) {
      await sleep(1000);
      expect(JSON.parse((await client.get('/read')).body).data.user).toBe('ada');
    }
    const backups = JSON.parse((await client.get('/stats')).body).counters.backups;
    // Bounded: one refresh per 10% of the lifetime at most, never one per request.
    expect(backups).toBeGreaterThanOrEqual(2);
    expect(backups).toBeLessThanOrEqual(1 + 6);
    await a.kill('SIGKILL');
    client.moveTo(b.url);
    expect(JSON.parse((await client.get('/read')).body).data.user).toBe('ada');
  });

  it('many reads in a short time rewrite an unchanged session at most once', async () => {
    const a = await scope.start('a', { sessionBackupAsync: false, cookie: { maxAge: 60_000 } });
    const client = new Client(a.url);
    await client.get('/login?user=ada');
    for (let i = 0; i < 50; i++) await client.get('/read');
    expect(JSON.parse((await client.get('/stats')).body).counters.backups).toBeLessThanOrEqual(2);
  });
});
