/**
 * Records made per request are class instances, not object literals: V8 may start allocating a
 * literal's objects in the old generation, and an old record keeps its request's young objects
 * alive one collection longer (see LoadedSession in src/manager/mode.ts). Each check fails when
 * the record is built as a literal again.
 */
import { describe, expect, it } from 'vitest';
import { decodeCopy, encodeCopy } from '../../src/memcached/versioned-copy.js';
import { StoreMode } from '../../src/manager/store-mode.js';
import { MemoryStore } from '../../src/manager/memory-store.js';
import { LoadedSession } from '../../src/manager/mode.js';
import type { Store } from '../../src/manager/store.js';

/** Whether `value` was made by an object literal (a value read from memcached: test/unit/embedded-memcached.test.ts). */
const isLiteral = (value: unknown) => typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;

describe('per-request records', () => {
  it('a session a mode loads is a LoadedSession', async () => {
    const store = new (MemoryStore as unknown as new () => Store)();
    await new Promise<void>((resolve, reject) => store.set('s1', { cookie: { originalMaxAge: null } } as never, (err) => (err ? reject(err) : resolve())));
    const loaded = await new StoreMode(store).load('s1');
    expect(loaded).toBeInstanceOf(LoadedSession);
    expect(isLiteral(loaded)).toBe(false);
  });

  it('a decoded copy is not a literal', () => {
    const copy = decodeCopy(encodeCopy({ version: 3, ttl: 60, expiresAt: 1_000, writeId: 'w1', json: '{"a":1}' }));
    expect(copy).toMatchObject({ version: 3, ttl: 60, expiresAt: 1_000, writeId: 'w1', json: '{"a":1}' });
    expect(isLiteral(copy)).toBe(false);
  });
});
