import { afterEach, describe, expect, it, vi } from 'vitest';
import session, { OptionError, SessionStoreUnavailableError } from '../../src/index.js';
import { resolveManagerSettings } from '../../src/options.js';
import { passportUser, principalOf, PrincipalIndex, type IndexEntry } from '../../src/revocation/principal-index.js';
import { StorageCluster } from '../../src/failover/cluster.js';
import { Statistics } from '../../src/base/statistics.js';
import { Sealing } from '../../src/format/sealing.js';
import type { StorageNode, VersionedValue } from '../../src/storage/storage-node.js';
import { SessionCopies } from '../../src/failover/session-copies.js';
import { sealedCopies } from '../../src/format/copy-codec.js';
import { SessionCopy } from '../../src/format/versioned-copy.js';
import { UserSessions } from '../../src/revocation/user-sessions.js';

const nodes = 'n1:127.0.0.1:11211,n2:127.0.0.1:11212';
const base = { secret: 'it', resave: false, saveUninitialized: false };

describe('the principal option', () => {
  it('defaults to passport\'s session.passport.user; false turns it off; a function is kept', () => {
    expect(resolveManagerSettings({ ...base, memcachedNodes: nodes })!.principal).toBe(passportUser);
    expect(resolveManagerSettings({ ...base, memcachedNodes: nodes, principal: false })!.principal).toBeUndefined();
    const own = (s: { userId?: string }) => s.userId;
    expect(resolveManagerSettings({ ...base, memcachedNodes: nodes, principal: own as never })!.principal).toBe(own);
  });

  it('refuses anything else at startup, naming the option', () => {
    for (const bad of [true, 'passport.user', 1, {}, null]) {
      expect(() => resolveManagerSettings({ ...base, memcachedNodes: nodes, principal: bad as never })).toThrow(OptionError);
      expect(() => resolveManagerSettings({ ...base, memcachedNodes: nodes, principal: bad as never })).toThrow(/"principal" must be a function of the session/);
    }
  });

  it('needs memcachedNodes', () => {
    expect(() => session({ ...base, principal: false })).toThrow(/"principal" only applies with "memcachedNodes"/);
  });

  it('passport\'s user counts when it is a string or a number; a serialized object is no principal', () => {
    expect(passportUser({ passport: { user: 'ada' } })).toBe('ada');
    expect(passportUser({ passport: { user: 42 } })).toBe('42');
    expect(passportUser({ passport: { user: { id: 1 } } })).toBeUndefined();
    expect(passportUser({ passport: {} })).toBeUndefined();
    expect(passportUser({})).toBeUndefined();
  });

  it('a function returning something other than a string, a number or nothing is a clear TypeError', () => {
    expect(principalOf(() => 7, {})).toBe('7');
    expect(principalOf(() => '', {})).toBeUndefined();
    expect(principalOf(() => null, {})).toBeUndefined();
    expect(() => principalOf(() => ({ id: 1 }), {})).toThrow(/option "principal" must return a string or undefined, got object/);
    expect(() => principalOf(() => 'x'.repeat(2000), {})).toThrow(/at most 1024/);
  });
});

describe('sessionsOf and revokeSessionsOf', () => {
  it('reject without memcachedNodes, with a bad principal or a bad except, and with principal: false', async () => {
    const plain = session(base);
    await expect(plain.sessionsOf('ada')).rejects.toThrow(/need memcachedNodes/);
    await expect(plain.revokeSessionsOf('ada')).rejects.toThrow(/need memcachedNodes/);
    const msm = session({ ...base, memcachedNodes: nodes, operationTimeout: 50 });
    const off = session({ ...base, memcachedNodes: nodes, principal: false, operationTimeout: 50 });
    try {
      await expect(msm.sessionsOf('' as never)).rejects.toThrow(TypeError);
      await expect(msm.sessionsOf(undefined as never)).rejects.toThrow(/a principal must be a non-empty string, got undefined/);
      await expect(msm.revokeSessionsOf('ada', { except: 5 as never })).rejects.toThrow(/"except" must be a session id/);
      await expect(off.sessionsOf('ada')).rejects.toThrow(/option "principal" is false/);
    } finally {
      await Promise.all([msm.close(), off.close()]);
    }
  });
});

/** A storage node in memory, with versions; `down` makes every call fail as a refused connection does. */
class MemoryNode implements StorageNode {
  readonly kind = 'memory';
  down = false;
  private readonly items = new Map<string, VersionedValue>();
  private cas = 0n;
  constructor(readonly id: string) {}
  private async answer<T>(value: () => T): Promise<T> {
    await Promise.resolve();
    if (this.down) throw Object.assign(new Error(`connect ECONNREFUSED (${this.id})`), { code: 'ECONNREFUSED' });
    return value();
  }
  get(key: string) {
    return this.answer(() => this.items.get(key)?.value ?? null);
  }
  getMany(keys: readonly string[]) {
    return this.answer(() => keys.map((key) => this.items.get(key)?.value ?? null));
  }
  gets(key: string) {
    return this.answer(() => this.items.get(key) ?? null);
  }
  getAndTouch(key: string) {
    return this.gets(key);
  }
  storeIf(key: string, value: Buffer | string, _ttl: number, version: bigint | undefined) {
    return this.answer(() => {
      if (this.items.get(key)?.cas !== version) return null;
      this.items.set(key, { value: Buffer.from(value), cas: ++this.cas });
      return this.cas;
    });
  }
  deleteIf(key: string, version: bigint) {
    return this.answer(() => this.items.get(key)?.cas === version && this.items.delete(key));
  }
  set(key: string, value: Buffer | string) {
    return this.answer(() => void this.items.set(key, { value: Buffer.from(value), cas: ++this.cas }));
  }
  add(key: string, value: Buffer | string) {
    return this.storeIf(key, value, 0, undefined).then((cas) => cas !== null);
  }
  touch(key: string) {
    return this.answer(() => this.items.has(key));
  }
  delete(key: string) {
    return this.answer(() => this.items.delete(key));
  }
  instance() {
    return this.answer(() => this.id);
  }
  close(): void {}
}

describe('a principal\'s index', () => {
  const logger = { info: () => {}, warn: () => {}, error: () => {} };
  let memory: MemoryNode[] = [];
  let cluster: StorageCluster | undefined;
  afterEach(() => cluster?.close());
  const entry = (n: number): IndexEntry => ({ key: `s${n}`, tombstone: `t${n}`, recordedAt: n, ttl: 60 });

  function index(count = 3): PrincipalIndex {
    memory = ['n1', 'n2', 'n3'].slice(0, count).map((id) => new MemoryNode(id));
    cluster = new StorageCluster(memory, [], new Statistics(false), logger);
    return new PrincipalIndex(cluster, new Sealing(['it'], ''));
  }

  it('records concurrently without losing an entry, and reads them back from a majority', async () => {
    const users = index();
    await Promise.all([1, 2, 3, 4, 5].map((n) => users.record('ada', entry(n))));
    expect((await users.read('ada')).map((e) => e.key).sort()).toEqual(['s1', 's2', 's3', 's4', 's5']);
    await users.remove('ada', new Set(['s2', 's4']));
    expect((await users.read('ada')).map((e) => e.key).sort()).toEqual(['s1', 's3', 's5']);
    expect(await users.read('bob')).toEqual([]);
  });

  it('with one of three nodes down: recorded on the other two, and found by a read that misses either of them', async () => {
    const users = index();
    memory[0].down = true;
    await users.record('ada', entry(1));
    memory[0].down = false;
    // Refused, n1 was marked down: its health check brings it back.
    while (!cluster!.nodeStates().n1) await new Promise((r) => setTimeout(r, 50));
    memory[1].down = true;
    expect((await users.read('ada')).map((e) => e.key)).toEqual(['s1']);
  });

  it('with two of three nodes down: nothing is acknowledged, neither a record nor a read (503)', async () => {
    const users = index();
    await users.record('ada', entry(1));
    memory[0].down = true;
    memory[1].down = true;
    await expect(users.record('ada', entry(2))).rejects.toThrow(SessionStoreUnavailableError);
    await expect(users.read('ada')).rejects.toThrow(SessionStoreUnavailableError);
  });

  it('with two nodes: a login needs one of them, a read both (one down: 503)', async () => {
    const users = index(2);
    memory[0].down = true;
    await users.record('ada', entry(1));
    await expect(users.read('ada')).rejects.toThrow(SessionStoreUnavailableError);
    memory[0].down = false;
    while (!cluster!.nodeStates().n1) await new Promise((r) => setTimeout(r, 50));
    expect((await users.read('ada')).map((e) => e.key)).toEqual(['s1']);
  });

  it('stores neither the principal nor anything but keyed hashes, sealed', async () => {
    const users = index();
    await users.record('ada', entry(1));
    const sealing = new Sealing(['it'], '');
    const raw = (await memory[0].get(sealing.principalKey('ada')))!;
    expect(sealing.principalKey('ada')).not.toContain('ada');
    expect(raw.toString('latin1')).not.toContain('s1');
  });
});

describe('a principal\'s sessions', () => {
  const logger = { info: () => {}, warn: () => {}, error: () => {} };
  let cluster: StorageCluster | undefined;
  afterEach(() => {
    cluster?.close();
    vi.useRealTimers();
  });

  it('a login that makes the index 50 long prunes the entries of sessions that ended long ago', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const memory = ['n1', 'n2', 'n3'].map((id) => new MemoryNode(id));
    cluster = new StorageCluster(memory, [], new Statistics(false), logger);
    const sealing = new Sealing(['it'], '');
    const copies = new SessionCopies(cluster, new Statistics(false), sealedCopies(sealing));
    const users = new UserSessions(cluster, sealing, copies, passportUser, undefined, async () => {});
    // 49 sessions that ended (no copy), then one live session two minutes later.
    for (let n = 0; n < 49; n++) await users.record('ada', `ended-${n}`, 60);
    vi.setSystemTime(Date.now() + 120_000);
    await copies.write(sealing.sessionKey('live'), new SessionCopy(1, 60, '{"cookie":{"originalMaxAge":null},"passport":{"user":"ada"}}'), ['n1']);
    await users.record('ada', 'live', 60);
    const index = new PrincipalIndex(cluster, sealing);
    for (let i = 0; i < 50 && (await index.read('ada')).length > 1; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await index.read('ada')).map((e) => e.key)).toEqual([sealing.sessionKey('live')]);
    expect((await users.list('ada')).map((s) => s.handle)).toEqual([sealing.fingerprint(sealing.sessionKey('live'))]);
  });
});
