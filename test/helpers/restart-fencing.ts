import { expect } from 'vitest';
import type { StorageNode, VersionedValue } from '../../src/storage/storage-node.js';

/**
 * The checks after a node restarted and now holds `key` as "new" under a version equal to
 * `before`'s (the danger): `client`, which read `before` from the old process, has its
 * conditional write and delete refused, and a version it reads now works as before (seen by `other`).
 */
export async function expectVersionFromBeforeRestartRefused(client: StorageNode, other: StorageNode, key: string, before: VersionedValue): Promise<void> {
  expect(await client.storeIf(key, 'overwritten', 0, before.cas)).toBeNull();
  expect(await client.deleteIf(key, before.cas)).toBe(false);
  expect((await client.get(key))?.toString()).toBe('new');
  const fresh = (await client.gets(key))!;
  expect(await client.storeIf(key, 'mine', 0, fresh.cas)).not.toBeNull();
  expect((await other.get(key))?.toString()).toBe('mine');
}
