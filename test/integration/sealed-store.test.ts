/**
 * Whoever reaches memcached (it has no authentication by default) can list every key and read
 * and write every value. Against real memcached, as such an attacker would: no key reveals a
 * session id, no value reveals a session's content, and a value forged, rewritten or copied
 * under another key is refused like corrupt data (a fresh session, one log line, a metric; never
 * a 500 and never served). Secret rotation keeps sessions; unsealed copies are refused unless
 * the migration option asks for them.
 */
import { describe, expect, it, vi } from 'vitest';
import type { SessionOptions } from '../../src/index.js';
import { textCommand } from '../helpers/memcached.js';
import { Client } from '../helpers/http.js';
import { loggingAppsPerTest } from '../helpers/logging-app.js';
import { getItem, setEverywhere } from '../helpers/raw-items.js';
import { sealingOf } from '../helpers/sealed.js';
import { Sealing } from '../../src/format/sealing.js';

const scope = loggingAppsPerTest(2);
const app = (options: Partial<SessionOptions> & { sticky: boolean }) => scope.start(options);
const instances = () => scope.cluster.instances;

const idOf = (client: Client) => decodeURIComponent(client.cookie!.split('=')[1]).slice(2).replace(/\.[^.]*$/, '');

/** Every key memcached lists (`lru_crawler metadump all`), on every node. */
async function listedKeys(): Promise<string[]> {
  const keys: string[] = [];
  for (const m of instances()) {
    const dump = await textCommand(m.host, m.port, 'lru_crawler metadump all\r\n', 'END\r\n');
    for (const match of dump.matchAll(/^key=(\S+)/gm)) keys.push(decodeURIComponent(match[1]));
  }
  return keys;
}

/** The attacker's view of their own session: the key that appeared when they logged in (found by listing keys). */
async function keyThatAppeared(before: string[]): Promise<string> {
  const added = [...new Set(await listedKeys())].filter((k) => !before.includes(k) && !k.includes('revoked:') && !k.startsWith('lock:'));
  expect(added).toHaveLength(1);
  return added[0];
}

/** A plain copy as versions before sealing stored it, claiming to be admin. */
const forged = (expiresAt = Date.now() + 3_600_000) =>
  `9.3600.${expiresAt}:{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"user":"admin"}`;

/** Values on every node for `key` (bytes as stored). */
async function valuesOf(key: string): Promise<Buffer[]> {
  const values = await Promise.all(instances().map((m) => getItem(m, key)));
  return values.filter((v): v is Buffer => v !== undefined);
}

for (const sticky of [true, false]) {
  const mode = sticky ? 'sticky' : 'non-sticky';
  describe(`what memcached holds (${mode})`, () => {
    it('no listed key contains a session id, and no value its content', async () => {
      const a = await app({ sticky, ...(sticky ? { route: 'a' } : { lockingMode: 'all' }) });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const client = new Client(a.url);
        await client.get('/set?user=ada-the-admin');
        ids.push(idOf(client));
        if (i === 0) await client.get('/logout'); // a tombstone (sticky) or destroy marker (non-sticky)
      }
      const keys = await listedKeys();
      expect(keys.length).toBeGreaterThanOrEqual(5);
      for (const id of ids) {
        const random = id.split('.')[0];
        for (const key of keys) expect(key).not.toContain(random);
      }
      for (const key of keys) for (const value of await valuesOf(key)) expect(value.toString('latin1')).not.toContain('ada-the-admin');
    });

    it('the corrupt_session log line names a fingerprint, not the session id', async () => {
      const a = await app({ sticky, route: sticky ? 'a' : undefined });
      const client = new Client(a.url);
      const before = await listedKeys();
      await client.get('/set?user=eve');
      const key = await keyThatAppeared(before);
      await setEverywhere(instances(), key, 'garbage');
      const reader = sticky ? await app({ sticky, route: 'b' }) : a;
      client.moveTo(reader.url);
      expect((await client.get('/read')).status).toBe(200);
      const [line] = reader.events('corrupt_session');
      expect(line).toBeDefined();
      const random = idOf(client).split('.')[0];
      expect(JSON.stringify(line)).not.toContain(random);
      expect(line.fields.session).toBe(key.slice(0, 12));
    });
  });
}

describe('a value rewritten in memcached (non-sticky)', () => {
  it('rewritten to user=admin in the old plain format: refused, a fresh session, one log line, a metric, no 500', async () => {
    const a = await app({ sticky: false });
    const attacker = new Client(a.url);
    const before = await listedKeys();
    await attacker.get('/set?user=eve');
    const key = await keyThatAppeared(before);
    await setEverywhere(instances(), key, forged());
    const read = await attacker.get('/read');
    expect(read.status).toBe(200);
    expect(JSON.parse(read.body).user).toBeUndefined();
    expect(a.events('corrupt_session')).toHaveLength(1);
    expect(a.middleware.statistics().counters.corruptSessions).toBe(1);
    // The forged value is gone: the same cookie again reports nothing more.
    expect(JSON.parse((await attacker.get('/read')).body).user).toBeUndefined();
    expect(a.events('corrupt_session')).toHaveLength(1);
  });

  it("a victim's sealed value copied under the attacker's key is refused", async () => {
    const a = await app({ sticky: false });
    const victim = new Client(a.url);
    const attacker = new Client(a.url);
    let before = await listedKeys();
    await victim.get('/set?user=victim');
    const victimKey = await keyThatAppeared(before);
    before = await listedKeys();
    await attacker.get('/set?user=eve');
    const attackerKey = await keyThatAppeared(before);
    const [stolen] = await valuesOf(victimKey);
    await setEverywhere(instances(), attackerKey, stolen);
    const read = await attacker.get('/read');
    expect(read.status).toBe(200);
    expect(JSON.parse(read.body).user).toBeUndefined();
    expect(a.events('corrupt_session')).toHaveLength(1);
    // The victim is untouched.
    expect(JSON.parse((await victim.get('/read')).body).user).toBe('victim');
  });
});

describe('a forged backup (sticky)', () => {
  it('is refused by a takeover on another node', async () => {
    const a = await app({ sticky: true, route: 'a' });
    const b = await app({ sticky: true, route: 'b' });
    const attacker = new Client(a.url);
    const before = await listedKeys();
    await attacker.get('/set?user=eve');
    const key = await keyThatAppeared(before);
    await setEverywhere(instances(), key, forged());
    attacker.moveTo(b.url);
    const read = await attacker.get('/read');
    expect(read.status).toBe(200);
    expect(JSON.parse(read.body).user).toBeUndefined();
    expect(b.events('corrupt_session')).toHaveLength(1);
    expect(b.middleware.statistics().counters.takeovers).toBe(0);
  });

  it('is refused by its owner after a restart', async () => {
    const a = await app({ sticky: true, route: 'a' });
    const attacker = new Client(a.url);
    const before = await listedKeys();
    await attacker.get('/set?user=eve');
    const key = await keyThatAppeared(before);
    // Copied from another session (sealed, but under another key) rather than written plain.
    const other = new Client(a.url);
    const beforeOther = await listedKeys();
    await other.get('/set?user=admin');
    const [sealedAdmin] = await valuesOf(await keyThatAppeared(beforeOther));
    await setEverywhere(instances(), key, sealedAdmin);
    await a.close();
    const restarted = await app({ sticky: true, route: 'a' });
    attacker.moveTo(restarted.url);
    const read = await attacker.get('/read');
    expect(read.status).toBe(200);
    expect(JSON.parse(read.body).user).toBeUndefined();
    expect(restarted.events('corrupt_session')).toHaveLength(1);
  });
});

for (const sticky of [true, false]) {
  const mode = sticky ? 'sticky' : 'non-sticky';
  describe(`secret rotation (${mode})`, () => {
    it('keeps sessions when a new secret goes first, and after the old one is retired', async () => {
      // A cookie with maxAge is sent again when the session changes: then signed with the new secret.
      const options = { sticky, route: sticky ? 'a' : undefined, cookie: { maxAge: 3_600_000 } };
      const before = await app({ ...options, secret: 'old' });
      const client = new Client(before.url);
      await client.get('/set?user=ada');
      const id = idOf(client);
      await before.close();
      // The new secret signs and seals; the old one still verifies and opens.
      const during = await app({ ...options, secret: ['new', 'old'] });
      client.moveTo(during.url);
      expect(JSON.parse((await client.get('/read')).body).user).toBe('ada');
      await client.get('/set?seen=1'); // re-sends the cookie, signed with the new secret
      expect(during.events('corrupt_session')).toHaveLength(0);
      // Moved under the new secret's key, sealed with it; nothing left under the old one's.
      const newKey = sealingOf('new').sessionKey(id);
      const [value] = await valuesOf(newKey);
      expect(sealingOf('new').open(newKey, value)).toContain('"user":"ada"');
      expect(await valuesOf(sealingOf('old').sessionKey(id))).toHaveLength(0);
      await during.close();
      const after = await app({ ...options, secret: 'new' });
      client.moveTo(after.url);
      expect(JSON.parse((await client.get('/read')).body)).toMatchObject({ user: 'ada', seen: '1' });
    });
  });

  if (sticky) {
    it('during the rollout of a rotation, a takeover on a node with the new first secret revokes the id on a node still on the old one', async () => {
      const a = await app({ sticky, route: 'a', secret: ['old', 'new'] });
      const b = await app({ sticky, route: 'b', secret: ['new', 'old'] });
      const client = new Client(a.url);
      await client.get('/set?user=ada');
      const onA = client.cookie!;
      client.moveTo(b.url);
      expect(JSON.parse((await client.get('/read')).body).user).toBe('ada'); // taken over: a new id on b
      const replay = new Client(a.url);
      replay.cookie = onA;
      expect(JSON.parse((await replay.get('/read')).body).user).toBeUndefined();
      expect(a.middleware.statistics().counters.revokedSessionsRefused).toBe(1);
    });
  }

  describe(`copies stored before sealing (${mode})`, () => {
    it('are refused by default and read once, then sealed, with acceptUnsealedSessions', async () => {
      const options = { sticky, route: sticky ? 'a' : undefined };
      const first = await app(options);
      const client = new Client(first.url);
      await client.get('/set?user=eve');
      const id = idOf(client);
      await first.close();
      // What a version before sealing left: a plain copy under the raw id (any attacker can write one).
      await setEverywhere(instances(), id, forged().replace('"admin"', '"ada"'));
      for (const key of await listedKeys()) if (key !== id) for (const m of instances()) await textCommand(m.host, m.port, `delete ${key}\r\n`, '\r\n');
      const strict = await app(options);
      client.moveTo(strict.url);
      expect(JSON.parse((await client.get('/read')).body).user).toBeUndefined();
      await strict.close();
      const migrating = await app({ ...options, acceptUnsealedSessions: true });
      client.moveTo(migrating.url);
      expect(JSON.parse((await client.get('/read')).body).user).toBe('ada');
      // Sealed now, under the keyed name; the plain copy is gone.
      const key = sealingOf('it').sessionKey(id);
      expect(sealingOf('it').open(key, (await valuesOf(key))[0])).toContain('"user":"ada"');
      for (let i = 0; i < 40 && (await valuesOf(id)).length > 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(await valuesOf(id)).toHaveLength(0);
    });
  });
}

describe('what sealing costs per request', () => {
  it('a sticky read seals and opens nothing; a non-sticky read opens once', async () => {
    const sticky = await app({ sticky: true });
    const nonSticky = await app({ sticky: false });
    const clients = [new Client(sticky.url), new Client(nonSticky.url)];
    for (const client of clients) {
      await client.get('/set?user=ada');
      await client.get('/read'); // the first sticky check gives each node its revocation token
    }
    const seal = vi.spyOn(Sealing.prototype, 'seal');
    const openValue = vi.spyOn(Sealing.prototype, 'open');
    try {
      for (let i = 0; i < 20; i++) expect(JSON.parse((await clients[0].get('/read')).body).user).toBe('ada');
      expect(seal).not.toHaveBeenCalled();
      expect(openValue).not.toHaveBeenCalled();
      for (let i = 0; i < 20; i++) expect(JSON.parse((await clients[1].get('/read')).body).user).toBe('ada');
      expect(seal).not.toHaveBeenCalled();
      expect(openValue).toHaveBeenCalledTimes(20);
    } finally {
      seal.mockRestore();
      openValue.mockRestore();
    }
  });
});
