/**
 * The embedded memcached-compatible server speaks enough of the protocol for this package:
 * checked with the same client the package uses. (The full suite can also run against it,
 * with MSM_TEST_MEMCACHED=embedded.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedMemcached } from '../../src/embedded-memcached/server.js';
import { ItemStore } from '../../src/embedded-memcached/item-store.js';
import { MemcachedNode } from '../../src/storage/memcached/memcached-node.js';
import { memcachedExpiration } from '../../src/storage/memcached/expiration.js';
import { textCommand } from '../helpers/memcached.js';

let server: EmbeddedMemcached;
let client: MemcachedNode;
beforeAll(async () => {
  server = new EmbeddedMemcached({ itemSizeLimit: 64 * 1024 });
  await server.listen();
  client = new MemcachedNode({ id: 'e1', host: '127.0.0.1', port: server.port }, { operationTimeout: 1000 });
});
afterAll(async () => {
  client.close();
  await server.close();
});

describe('embedded memcached', () => {
  it('get, set, add, touch, delete', async () => {
    expect(await client.get('a')).toBeNull();
    await client.set('a', 'one', 0);
    expect((await client.get('a'))?.toString()).toBe('one');
    expect(await client.add('a', 'two', 0)).toBe(false);
    expect(await client.add('b', 'two', 0)).toBe(true);
    expect(await client.touch('a', 100)).toBe(true);
    expect(await client.touch('missing', 100)).toBe(false);
    expect(await client.delete('a')).toBe(true);
    expect(await client.delete('a')).toBe(false);
  });

  it('get-and-touch returns the value and sets its expiration in one operation, counted as a touch', async () => {
    const before = { ...server.store.stats };
    expect(await client.getAndTouch('gat-missing', 100)).toBeNull();
    await client.set('gat', 'value', 0);
    expect((await client.getAndTouch('gat', 100))?.value.toString()).toBe('value');
    // An absolute time in the past (above 30 days means absolute): the touch expires the item at once.
    // (The client sends lifetimes; this expiration field is what a memcached client may send.)
    expect(server.store.getAndTouch('gat', 60 * 60 * 24 * 30 + 1)?.value.toString()).toBe('value');
    expect(await client.get('gat')).toBeNull();
    const after = server.store.stats;
    expect(after.cmd_touch - before.cmd_touch).toBe(3);
    expect(after.touch_hits - before.touch_hits).toBe(2);
    expect(after.touch_misses - before.touch_misses).toBe(1);
    expect(after.cmd_get - before.cmd_get).toBe(1);
  });

  it('a value read with its CAS is a class instance, not an object literal (see test/unit/request-records.test.ts)', async () => {
    await client.set('record', 'v', 0);
    for (const read of [await client.gets('record'), await client.getAndTouch('record', 60)]) {
      expect(read?.value.toString()).toBe('v');
      expect(Object.getPrototypeOf(read)).not.toBe(Object.prototype);
    }
  });

  it('applies memcached expiration rules: relative, absolute above 30 days, 0 never', () => {
    const now = Date.UTC(2026, 0, 1);
    expect(ItemStore.expiry(0, now)).toBe(0);
    expect(ItemStore.expiry(60, now)).toBe(now + 60_000);
    const absolute = now / 1000 + 40 * 86400;
    expect(ItemStore.expiry(absolute, now)).toBe(absolute * 1000);
    // A "40 days" TTL sent as relative seconds would be a time in 1970: expired on arrival.
    const store = new ItemStore({ maxBytes: 1e6, itemSizeLimit: 1e6 });
    store.store('set', 'wrong', Buffer.from('x'), 0, 40 * 86400);
    expect(store.get('wrong')).toBeUndefined();
  });

  it('keeps an item stored with a 40-day expiration sent correctly', async () => {
    await client.set('long', 'kept', memcachedExpiration(40 * 86400));
    expect((await client.get('long'))?.toString()).toBe('kept');
  });

  it('expires items', async () => {
    await client.set('short', 'x', 1);
    expect(await client.get('short')).not.toBeNull();
    await new Promise((r) => setTimeout(r, 1100));
    expect(await client.get('short')).toBeNull();
  });

  it('refuses items over the size limit', async () => {
    await expect(client.set('big', Buffer.alloc(100 * 1024), 0)).rejects.toThrow();
  });

  it('answers stats (pid for restart detection) and the text commands the tests use', async () => {
    expect(await client.instance()).toMatch(new RegExp(`^pid ${process.pid} started at \\d+$`));
    await textCommand('127.0.0.1', server.port, 'set t 0 0 2\r\nhi\r\n', 'STORED\r\n');
    expect(await textCommand('127.0.0.1', server.port, 'get t\r\n')).toBe('VALUE t 0 2\r\nhi\r\nEND\r\n');
    const stats = await textCommand('127.0.0.1', server.port, 'stats\r\n');
    expect(stats).toMatch(/STAT cmd_get \d+/);
    expect(stats).toMatch(/STAT curr_items \d+/);
  });
});
