import { StorageCluster } from './failover/cluster.js';
import { MemcachedNode } from './storage/memcached/memcached-node.js';
import type { Statistics } from './base/statistics.js';
import type { Logger } from './base/logger.js';
import type { ManagerSettings } from './options.js';

/** The storage cluster the options name: today a memcached node per `memcachedNodes` entry. */
export function storageClusterFor(settings: ManagerSettings, stats: Statistics, logger: Logger): StorageCluster {
  const nodes = settings.nodes.map((address) => new MemcachedNode(address, settings));
  return new StorageCluster(nodes, settings.failoverNodeIds, stats, logger);
}
