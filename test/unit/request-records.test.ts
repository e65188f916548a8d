/**
 * Records made per request are class instances, not object literals: V8 may start allocating a
 * literal's objects in the old generation, and an old record keeps its request's young objects
 * alive one collection longer (see LoadedSession in src/modes/session-mode.ts). Each check fails when
 * the record is built as a literal again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCopy, encodeCopy } from '../../src/format/versioned-copy.js';
import { StoreBackedMode } from '../../src/modes/store-backed-mode.js';
import { MemoryStore } from '../../src/session/memory-store.js';
import { LoadedSession } from '../../src/modes/session-mode.js';
import type { SessionData, Store } from '../../src/session/store.js';
import type { SessionRequest } from '../../src/session/session.js';
import { resolveManagerSettings } from '../../src/options.js';
import { Statistics } from '../../src/base/statistics.js';
import { storageClusterFor } from '../../src/backend.js';
import { NonStickyMode } from '../../src/modes/nonsticky/nonsticky-mode.js';
import { StickyMode } from '../../src/modes/sticky/sticky-mode.js';
import { EmbeddedMemcached } from '../../src/embedded-memcached/server.js';
import { sealingOf } from '../helpers/sealed.js';

/** Whether `value` was made by an object literal (a value read from memcached: test/unit/embedded-memcached.test.ts). */
const isLiteral = (value: unknown) => typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;

describe('per-request records', () => {
  it('a session a mode loads is a LoadedSession', async () => {
    const store = new (MemoryStore as unknown as new () => Store)();
    await new Promise<void>((resolve, reject) => store.set('s1', { cookie: { originalMaxAge: null } } as never, (err) => (err ? reject(err) : resolve())));
    const loaded = await new StoreBackedMode(store).load('s1');
    expect(loaded).toBeInstanceOf(LoadedSession);
    expect(isLiteral(loaded)).toBe(false);
  });

  it('a decoded copy is not a literal', () => {
    const copy = decodeCopy(encodeCopy({ version: 3, ttl: 60, expiresAt: 1_000, writeId: 'w1', json: '{"a":1}' }));
    expect(copy).toMatchObject({ version: 3, ttl: 60, expiresAt: 1_000, writeId: 'w1', json: '{"a":1}' });
    expect(isLiteral(copy)).toBe(false);
  });
});

const quiet = { info() {}, warn() {}, error() {} };
const servers: EmbeddedMemcached[] = [];
beforeAll(async () => {
  for (let i = 0; i < 2; i++) {
    const server = new EmbeddedMemcached({ itemSizeLimit: 1024 * 1024 });
    await server.listen();
    servers.push(server);
  }
});
afterAll(async () => {
  for (const s of servers) await s.close();
});

/** A mode of each kind over the two embedded servers, closed after `use`. */
async function withMode<M extends NonStickyMode | StickyMode>(
  Mode: new (...args: ConstructorParameters<typeof NonStickyMode>) => M,
  use: (mode: M) => Promise<void>,
): Promise<void> {
  const settings = resolveManagerSettings({
    secret: 'it',
    memcachedNodes: servers.map((s, i) => `n${i + 1}:127.0.0.1:${s.port}`).join(','),
    sticky: Mode === (StickyMode as unknown),
    sessionBackupAsync: false,
  })!;
  const stats = new Statistics(false);
  const cluster = storageClusterFor(settings, stats, quiet);
  const mode = new Mode(settings, cluster, stats, quiet);
  try {
    await use(mode);
  } finally {
    await mode.close();
    cluster.close();
  }
}

const data = (): SessionData => ({ cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000).toISOString() }, n: 1 }) as never;
const request = () => ({ method: 'GET', url: '/' }) as SessionRequest;

describe('per-request records of the memcached modes', () => {
  it('sticky and non-sticky loads are LoadedSessions', async () => {
    for (const Mode of [NonStickyMode, StickyMode] as const) {
      await withMode(Mode as typeof NonStickyMode, async (mode) => {
        await mode.save('records-1', data());
        const loaded = await mode.load('records-1', request());
        expect(loaded).toBeInstanceOf(LoadedSession);
        expect(isLiteral(loaded)).toBe(false);
      });
    }
  });

  it('non-sticky: the shared copy of a session is dropped when its last request finishes', async () => {
    // See NonStickyMode.release: a record kept past its request would keep the copy's text alive.
    await withMode(NonStickyMode, async (mode) => {
      await mode.save('records-2', data());
      const req = request();
      await mode.load('records-2', req);
      const inUse = (mode as unknown as { inUse: Map<string, { latest?: unknown }> }).inUse;
      const shared = inUse.get(sealingOf('it').sessionKey('records-2'))!;
      expect(shared.latest).toBeDefined();
      mode.finish('records-2', req);
      expect(inUse.size).toBe(0);
      expect(shared.latest).toBeUndefined();
    });
  });
});
