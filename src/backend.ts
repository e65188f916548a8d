import { StorageCluster } from './failover/cluster.js';
import { MemcachedNode } from './storage/memcached/memcached-node.js';
import { peerNodes } from './storage/peers/peer-nodes.js';
import { RedisNode } from './storage/redis/redis-node.js';
import { sealedCopies } from './format/copy-codec.js';
import type { Statistics } from './base/statistics.js';
import type { Logger } from './base/logger.js';
import type { ManagerSettings } from './options.js';

/**
 * The storage cluster the options name, and when it is ready (see SessionMiddleware.ready): a
 * memcached node per `memcachedNodes` entry, a Redis node per `redisNodes` entry, or with `peers`
 * every app process's store (this one's in memory, the others' over their endpoints).
 */
export function storageFor(settings: ManagerSettings, stats: Statistics, logger: Logger): { cluster: StorageCluster; ready: Promise<void> } {
  const { peers, redis } = settings;
  if (redis) {
    const nodes = settings.nodes.map((address) => new RedisNode(address, { operationTimeout: settings.operationTimeout, ...redis }));
    return { cluster: new StorageCluster(nodes, settings.failoverNodeIds, stats, logger), ready: Promise.resolve() };
  }
  if (!peers) {
    const nodes = settings.nodes.map((address) => new MemcachedNode(address, settings));
    return { cluster: new StorageCluster(nodes, settings.failoverNodeIds, stats, logger), ready: Promise.resolve() };
  }
  const { nodes, ready } = peerNodes({ ...settings, ...peers, logger, isSessionKey: (key) => settings.sealing.isSessionKey(key), copies: sealedCopies(settings.sealing) });
  const copies = peers.replication === 'all' ? nodes.length - 1 : 1;
  return { cluster: new StorageCluster(nodes, [], stats, logger, { self: peers.self, copies }), ready };
}

/** The storage cluster the options name (see storageFor). */
export function storageClusterFor(settings: ManagerSettings, stats: Statistics, logger: Logger): StorageCluster {
  return storageFor(settings, stats, logger).cluster;
}
