import { StorageCluster } from './failover/cluster.js';
import { MemcachedNode } from './storage/memcached/memcached-node.js';
import { peerNodes } from './storage/peers/peer-nodes.js';
import { RedisNode } from './storage/redis/redis-node.js';
import type { Statistics } from './base/statistics.js';
import type { Logger } from './base/logger.js';
import type { ManagerSettings } from './options.js';

/**
 * The storage cluster the options name: a memcached node per `memcachedNodes` entry, a Redis node
 * per `redisNodes` entry, or with `peers` every app process's store (this one's in memory, the
 * others' over their endpoints).
 */
export function storageClusterFor(settings: ManagerSettings, stats: Statistics, logger: Logger): StorageCluster {
  const { peers, redis } = settings;
  if (redis) {
    const nodes = settings.nodes.map((address) => new RedisNode(address, { operationTimeout: settings.operationTimeout, ...redis }));
    return new StorageCluster(nodes, settings.failoverNodeIds, stats, logger);
  }
  if (!peers) {
    const nodes = settings.nodes.map((address) => new MemcachedNode(address, settings));
    return new StorageCluster(nodes, settings.failoverNodeIds, stats, logger);
  }
  const nodes = peerNodes({ ...settings, ...peers, logger });
  const copies = peers.replication === 'all' ? nodes.length - 1 : 1;
  return new StorageCluster(nodes, [], stats, logger, { self: peers.self, copies });
}
