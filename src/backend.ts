import { StorageCluster } from './failover/cluster.js';
import { MemcachedNode } from './storage/memcached/memcached-node.js';
import { RedisNode } from './storage/redis/redis-node.js';
import type { StorageNode } from './storage/storage-node.js';
import type { Statistics } from './base/statistics.js';
import type { Logger } from './base/logger.js';
import type { ManagerSettings } from './options.js';

/** The storage cluster the options name: a memcached node per `memcachedNodes` entry, or a Redis node per `redisNodes` entry. */
export function storageClusterFor(settings: ManagerSettings, stats: Statistics, logger: Logger): StorageCluster {
  const nodes = settings.nodes.map(
    (address): StorageNode =>
      settings.backend === 'redis'
        ? new RedisNode(address, { operationTimeout: settings.operationTimeout, username: settings.redisUsername, password: settings.redisPassword, tls: settings.redisTls })
        : new MemcachedNode(address, settings),
  );
  return new StorageCluster(nodes, settings.failoverNodeIds, stats, logger);
}
