/**
 * Where a sticky session's backup goes (StorageCluster's BackupPlacement): on a shared store the
 * key's first node; with peers never on the owner itself, one other peer ('backup') or every
 * other peer ('all'); reads, deletes and a handover on shutdown reach every peer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StorageCluster, type BackupPlacement } from '../../src/failover/cluster.js';
import { Statistics } from '../../src/base/statistics.js';
import type { StorageNode } from '../../src/storage/storage-node.js';

const quiet = { info() {}, warn() {}, error() {} };
const clusters: StorageCluster[] = [];
afterEach(() => clusters.splice(0).forEach((c) => c.close()));

function cluster(ids: string[], placement?: BackupPlacement): StorageCluster {
  const nodes = ids.map((id) => ({ id, kind: 'peer', instance: async () => 'one', close() {} }) as unknown as StorageNode);
  const made = new StorageCluster(nodes, [], new Statistics(true), quiet, placement);
  clusters.push(made);
  return made;
}

const keys = Array.from({ length: 200 }, (_, i) => `key-${i}`);
const peers = ['a', 'b', 'c', 'd', 'e'];

describe('backup placement', () => {
  it('a shared store: the key\'s first node, and a handover goes nowhere', () => {
    const memcached = cluster(peers);
    for (const key of keys) {
      expect(memcached.backupNodesFor(key)).toEqual(memcached.nodesFor(key, 1));
      expect(memcached.readNodesFor(key, 2)).toEqual(memcached.nodesFor(key, 2));
      expect(memcached.handoverNodesFor(key)).toEqual([]);
    }
  });

  it('peers, backup: one other peer, never the owner; the same one from every peer that is not it', () => {
    const views = peers.map((self) => cluster(peers, { self, copies: 1 }));
    for (const key of keys) {
      const [first, second] = views[0].nodesFor(key, 2);
      for (const [i, view] of views.entries()) {
        expect(view.backupNodesFor(key)).toEqual([peers[i] === first ? second : first]);
        expect(view.readNodesFor(key, 2)).toHaveLength(peers.length);
        expect(view.copyNodesFor(key)).toHaveLength(peers.length);
        expect(view.handoverNodesFor(key).sort()).toEqual(peers.filter((p) => p !== peers[i]));
      }
    }
  });

  it('a spare for a copy its node missed is the next node in ring order, and with peers never the owner', () => {
    const memcached = cluster(peers);
    const views = peers.map((self) => cluster(peers, { self, copies: 1 }));
    for (const key of keys) {
      const order = memcached.nodesFor(key, peers.length);
      expect(memcached.spareNodesFor(key, [order[0]], 1)).toEqual([order[1]]);
      expect(memcached.spareNodesFor(key, order.slice(0, 2), 2)).toEqual(order.slice(2, 4));
      for (const [i, view] of views.entries()) {
        const [target] = view.backupNodesFor(key);
        expect(view.spareNodesFor(key, [target], 1)).toEqual([order.filter((node) => node !== target && node !== peers[i])[0]]);
      }
    }
  });

  it('peers, all: every other peer', () => {
    const view = cluster(peers, { self: 'c', copies: peers.length - 1 });
    for (const key of keys) expect(view.backupNodesFor(key).sort()).toEqual(['a', 'b', 'd', 'e']);
  });
});
