import { NodeClient } from '../memcached/node-client.js';
import { NodeHealth } from './node-health.js';
import { AvailableRing } from './ring.js';
import type { ManagerSettings } from '../manager/options.js';
import type { Statistics } from '../manager/statistics.js';
import type { Logger } from '../manager/logger.js';

/** A call to a node that is marked down, refused without a network round trip. */
export class NodeDownError extends Error {
  readonly code = 'ENODEDOWN';
  constructor(nodeId: string) {
    super(`memcached node ${nodeId} is marked down`);
    this.name = 'NodeDownError';
  }
}

/** Consecutive failures before a node is marked down. */
const FAILURE_THRESHOLD = 3;

/**
 * The memcached nodes as one unit: a client per node, their health, and the ring of
 * nodes that are up. Both modes route every call through `run`, which feeds the breaker.
 */
export class MemcachedCluster {
  private readonly clients = new Map<string, NodeClient>();
  private readonly health: NodeHealth;
  private readonly ring: AvailableRing;
  private readonly listeners: Array<(nodeId: string, up: boolean) => void> = [];

  constructor(
    settings: ManagerSettings,
    private readonly stats: Statistics,
    private readonly logger: Logger,
  ) {
    for (const node of settings.nodes) {
      this.clients.set(node.id, new NodeClient(node, settings));
    }
    const failover = new Set(settings.failoverNodeIds);
    this.ring = new AvailableRing(
      settings.nodes.map((n) => n.id).filter((id) => !failover.has(id)),
      settings.failoverNodeIds,
    );
    this.health = new NodeHealth(
      { failureThreshold: FAILURE_THRESHOLD, probeInterval: Math.max(250, settings.operationTimeout) },
      (nodeId) => this.clients.get(nodeId)!.ping(),
      (nodeId, up, reason) => this.changed(nodeId, up, reason),
    );
    this.ring.update((id) => this.health.isUp(id));
  }

  private changed(nodeId: string, up: boolean, reason: string): void {
    this.ring.update((id) => this.health.isUp(id));
    this.stats.inc(up ? 'nodesMarkedUp' : 'nodesMarkedDown');
    const message = `memcached node ${nodeId} is ${up ? 'up' : 'down'} (${reason}); ring is now [${this.ring.members().join(', ')}]`;
    if (up) this.logger.info(message);
    else this.logger.warn(message);
    for (const listener of this.listeners) listener(nodeId, up);
  }

  /** Called when a node goes down or comes back. */
  onHealthChange(listener: (nodeId: string, up: boolean) => void): void {
    this.listeners.push(listener);
  }

  /** Up to `count` distinct up nodes for `key`, primary first. */
  nodesFor(key: string, count: number): string[] {
    return this.ring.nodesFor(key, count);
  }

  isUp(nodeId: string): boolean {
    return this.health.isUp(nodeId);
  }

  /** Node ids and whether each is up. */
  nodeStates(): Record<string, boolean> {
    return Object.fromEntries([...this.clients.keys()].map((id) => [id, this.health.isUp(id)]));
  }

  /** Runs `op` against one node, with the breaker's bookkeeping. */
  async run<T>(nodeId: string, op: (client: NodeClient) => Promise<T>): Promise<T> {
    const client = this.clients.get(nodeId);
    if (!client) throw new Error(`unknown memcached node id "${nodeId}"`);
    if (!this.health.isUp(nodeId)) throw new NodeDownError(nodeId);
    try {
      const result = await op(client);
      this.health.succeeded(nodeId);
      return result;
    } catch (err) {
      this.health.failed(nodeId, err);
      throw err;
    }
  }

  close(): void {
    this.health.close();
    for (const client of this.clients.values()) client.close();
  }
}
