/**
 * A user's sessions on every backend: two app processes over three memcached or Redis nodes, in
 * both modes, and three app processes replicating to each other (peers, sticky): listed by
 * `sessionsOf`, logged out everywhere but the current device by `revokeSessionsOf`, also with a
 * storage node (or a peer) SIGKILLed during the call.
 */
import { describe, expect, it } from 'vitest';
import { freshServersPerTest, type AppProcess } from '../helpers/app-process.js';
import { startServers, type TestBackend } from '../helpers/backend.js';
import { Client } from '../helpers/http.js';
import { getItem, getRedisItem } from '../helpers/raw-items.js';
import { sealingOf } from '../helpers/sealed.js';
import { peersPerTest } from '../helpers/peer-apps.js';
import { missingPackage } from '../helpers/system-programs.js';
import type { MemcachedInstance } from '../helpers/memcached.js';
import type { StorageServer } from '../helpers/server-process.js';

const modes = [
  { name: 'sticky', options: (route: string) => ({ sessionBackupAsync: false, route }) },
  // A cookie maxAge, so the copy says when it was stored (non-sticky copies record no time of their own).
  { name: 'non-sticky', options: () => ({ sticky: false, cookie: { maxAge: 3_600_000 } }) },
];

/** The session id inside a `connect.sid=s%3A<id>.<signature>` cookie. */
function idOf(cookie: string): string {
  const value = decodeURIComponent(cookie.split('=')[1]).slice(2);
  return value.slice(0, value.lastIndexOf('.'));
}

/**
 * The passport user `url` serves `device` (undefined: not logged in); the device keeps the cookie
 * it is given (a sticky takeover renames the session). A 503 (a node that has not yet marked a
 * killed memcached down) is retried; with `refusal503`, one that lasts (a takeover whose copy may
 * be on the killed node) counts as not logged in: it serves nothing.
 */
async function userAt(url: string, client: Client, refusal503 = false): Promise<unknown> {
  client.moveTo(url);
  let reply = await client.get('/read');
  for (let i = 0; i < (refusal503 ? 4 : 20) && reply.status === 503; i++) {
    await new Promise((r) => setTimeout(r, 250));
    reply = await client.get('/read');
  }
  if (refusal503 && reply.status === 503) return undefined;
  expect(reply.status, reply.body).toBe(200);
  return (JSON.parse(reply.body).data?.passport as { user?: unknown } | undefined)?.user;
}

/** A device (cookie jar) logged in as `user` on `app`. */
async function login(app: AppProcess, user: string): Promise<Client> {
  const device = new Client(app.url);
  const reply = await device.get(`/passport-login?user=${user}`);
  expect(reply.status, reply.body).toBe(200);
  return device;
}

/** Ada logged in on a phone (on a), a laptop (b) and a tablet (a); bob on another device (b). */
async function devicesOn(a: AppProcess, b: AppProcess) {
  const [phone, laptop, tablet, other] = [await login(a, 'ada'), await login(b, 'ada'), await login(a, 'ada'), await login(b, 'bob')];
  return { a, b, phone, laptop, tablet, other };
}

type Devices = Awaited<ReturnType<typeof devicesOn>>;

/**
 * "Log out other devices" from the phone while `fault` happens, acknowledged (a 503, nothing
 * acknowledged, is retried as a user would): then the laptop and the tablet are refused on a and
 * b, and bob and the phone stay logged in on the app node each is balanced to (sticky: a takeover
 * elsewhere may need a copy the fault took; the owner still holds the session).
 */
async function logOutOthersDuring(fault: () => Promise<void>, { a, b, phone, laptop, tablet, other }: Devices): Promise<void> {
  const [first] = await Promise.all([phone.get('/logout-others'), fault()]);
  let reply = first;
  for (let i = 0; i < 40 && reply.status === 503; i++) {
    await new Promise((r) => setTimeout(r, 250));
    reply = await phone.get('/logout-others');
  }
  expect(reply.status, reply.body).toBe(200);
  expect([0, 1, 2]).toContain(JSON.parse(reply.body).revoked);
  for (const url of [a.url, b.url]) {
    expect(await userAt(url, laptop, true)).toBeUndefined();
    expect(await userAt(url, tablet, true)).toBeUndefined();
  }
  expect(await userAt(b.url, other)).toBe('bob');
  expect(await userAt(a.url, phone)).toBe('ada');
}

interface Listed {
  handle: string;
  createdAt: string;
  lastAccess?: string;
  route?: string;
}

// Without redis-server the Redis half is left out (missingPackage says so).
const backends: Array<{ backend: TestBackend }> = [{ backend: 'memcached' }, ...(missingPackage('redis-server') ? [] : [{ backend: 'redis' as const }])];

describe.each(backends)('over $backend', ({ backend }) => {
  const scope = freshServersPerTest(() => startServers(3, backend));
  /** The value stored under `key` on one node, as bytes (undefined: absent). */
  const rawItem = (server: StorageServer, key: string) => (backend === 'redis' ? getRedisItem(server, key) : getItem(server as MemcachedInstance, key));

  describe.each(modes)('a user\'s sessions ($name)', ({ name, options }) => {
    /** Two app nodes a and b, with the devices of devicesOn. */
    const devices = async (options: (route: string) => Record<string, unknown>) => devicesOn(await scope.start('a', options('a')), await scope.start('b', options('b')));

    it('lists the user\'s three devices; "log out other devices" refuses the other two on both app nodes from the next request on', async () => {
      const { a, b, phone, laptop, tablet, other } = await devices(options);
      // The laptop also visits a (sticky: a takeover under a new id, which is recorded too).
      expect(await userAt(a.url, laptop)).toBe('ada');
      if (name === 'sticky') expect(idOf(laptop.cookie!)).toMatch(/\.a$/);

      const listed = (await phone.json<{ sessions: Listed[] }>('/my-sessions')).sessions;
      expect(listed).toHaveLength(3);
      const ids = [phone, laptop, tablet, other].map((device) => idOf(device.cookie!));
      for (const session of listed) {
        // A handle names a session without being one: no session id, nor a prefix of one.
        for (const id of ids) expect(id.startsWith(session.handle) || session.handle.includes(id)).toBe(false);
        expect(Date.now() - new Date(session.createdAt).valueOf()).toBeLessThan(60_000);
        expect(session.lastAccess).toBeDefined();
        if (name === 'sticky') expect(session.route).toBe('a');
      }
      expect(new Set(listed.map((s) => s.handle)).size).toBe(3);

      expect(await phone.json('/logout-others')).toEqual({ revoked: 2 });
      for (const url of [a.url, b.url]) {
        expect(await userAt(url, laptop)).toBeUndefined();
        expect(await userAt(url, tablet)).toBeUndefined();
      }
      for (const url of [a.url, b.url]) {
        expect(await userAt(url, other)).toBe('bob');
      }
      expect(await userAt(a.url, phone)).toBe('ada');
      expect((await phone.json<{ sessions: Listed[] }>('/my-sessions')).sessions).toHaveLength(1);
      // The index is a sealed item under a keyed hash of the user: neither the user nor any session id readable.
      const sealing = sealingOf('test secret');
      const indexKey = sealing.principalKey('ada');
      const stored = (await Promise.all(scope.cluster.instances.map((server) => rawItem(server, indexKey)))).filter((item) => item !== undefined);
      expect(stored.length).toBeGreaterThanOrEqual(2);
      for (const item of stored) {
        const raw = item.toString('latin1');
        expect(raw).not.toContain('ada');
        for (const id of ids) expect(raw).not.toContain(id);
      }
    });

    it('a storage node SIGKILLed during "log out other devices": once acknowledged, no revoked session is served', async () => {
      const found = await devices(options);
      const { a, b, phone, other } = found;
      await logOutOthersDuring(() => scope.cluster.instances[0].signal('SIGKILL'), found);
      if (name === 'non-sticky') {
        expect(await userAt(a.url, other)).toBe('bob');
        expect(await userAt(b.url, phone)).toBe('ada');
      }
    });

    it('a session is logged in only once its user\'s index holds it: with two of three storage nodes down, the save fails (503) and the user is not logged in', async () => {
      const a = await scope.start('a', options('a'));
      const device = new Client(a.url);
      expect((await device.get('/set?visit=1')).status).toBe(200);
      await Promise.all([scope.cluster.instances[0].signal('SIGKILL'), scope.cluster.instances[1].signal('SIGKILL')]);
      const reply = await device.get('/set-user?user=ada');
      expect(reply.status, reply.body).toBe(503);
      const read = await device.get('/read');
      if (read.status === 200) expect(JSON.parse(read.body).data.passport).toBeUndefined();
      else expect(read.status).toBe(503);
    });

    it('with two of three storage nodes down, "log out other devices" answers 503: nothing is acknowledged that the index cannot vouch for', async () => {
      const { phone } = await devices(options);
      await Promise.all([scope.cluster.instances[0].signal('SIGKILL'), scope.cluster.instances[1].signal('SIGKILL')]);
      const reply = await phone.get('/logout-others');
      expect(reply.status, reply.body).toBe(503);
      expect(JSON.parse(reply.body).code).toBe('ESESSIONSTORE');
    });
  });
});

describe('a user\'s sessions over peers (sticky)', () => {
  const scope = peersPerTest(3);

  /** Peers a, b and c, each the others' store, with the devices of devicesOn on a and b. */
  async function devices() {
    const apps = [await scope.start('a', { sessionBackupAsync: false }), await scope.start('b', { sessionBackupAsync: false }), await scope.start('c', { sessionBackupAsync: false })];
    await scope.settle(apps);
    return { ...(await devicesOn(apps[0], apps[1])), c: apps[2] };
  }

  it('lists the user\'s three devices; "log out other devices" refuses the other two on every peer from the next request on', async () => {
    const { a, b, c, phone, laptop, tablet, other } = await devices();
    expect(await userAt(a.url, laptop)).toBe('ada');
    const listed = (await phone.json<{ sessions: Listed[] }>('/my-sessions')).sessions;
    expect(listed).toHaveLength(3);
    expect(new Set(listed.map((s) => s.handle)).size).toBe(3);
    // The index is kept where a session's copies would be: on at least two peers.
    expect((await scope.holdersOfKey(sealingOf('test secret').principalKey('ada'))).length).toBeGreaterThanOrEqual(2);

    expect(await phone.json('/logout-others')).toEqual({ revoked: 2 });
    for (const app of [a, b, c]) {
      expect(await userAt(app.url, laptop)).toBeUndefined();
      expect(await userAt(app.url, tablet)).toBeUndefined();
    }
    expect(await userAt(b.url, other)).toBe('bob');
    expect(await userAt(a.url, phone)).toBe('ada');
    expect((await phone.json<{ sessions: Listed[] }>('/my-sessions')).sessions).toHaveLength(1);
  });

  it('the third peer SIGKILLed during "log out other devices": once acknowledged, no revoked session is served', async () => {
    const found = await devices();
    await logOutOthersDuring(() => found.c.kill('SIGKILL'), found);
  });
});
