import { NodeAuthError } from '../storage/call-fault.js';
import type { NodeMessages, StorageNode } from '../storage/storage-node.js';
import { NodeHealth, type HealthEvent } from './node-health.js';
import { AvailableRing } from './ring.js';
import { TracedNode } from './traced-node.js';
import { isHomeMajority } from './write-quorum.js';
import type { Statistics } from '../base/statistics.js';
import { logEvent, type Logger } from '../base/logger.js';

/** A call to a node that is marked down, refused without a network round trip. */
export class NodeDownError extends Error {
  readonly code = 'ENODEDOWN';
  constructor(kind: string, nodeId: string) {
    super(`${kind} node ${nodeId} is marked down`);
    this.name = 'NodeDownError';
  }
}

/**
 * Where sticky mode puts a session's backup copies. A shared store (memcached) takes one copy on
 * the key's first node; app processes replicating to each other (`peers`) never back up to
 * themselves, and keep one copy (`replication: 'backup'`) or one on every other peer (`'all'`).
 */
export interface BackupPlacement {
  /** This process's own node, which holds no backup of this process's sessions. */
  self?: string;
  /** Backup copies per session. */
  copies: number;
}

/** Consecutive failures before a node is marked down. */
const FAILURE_THRESHOLD = 3;
/** How often nodes are health-checked, in ms. */
const HEALTH_CHECK_INTERVAL = 500;

/**
 * The storage nodes as one unit: the nodes, their health, and the ring of nodes that are up.
 * Both modes, locks and revocation route every call through `run`, which feeds the breaker.
 */
export class StorageCluster {
  private readonly clients = new Map<string, StorageNode>();
  private readonly health: NodeHealth;
  private readonly ring: AvailableRing;
  private readonly listeners: Array<(nodeId: string, event: HealthEvent) => void> = [];
  /** Nodes that refused this app's credentials, until one of their calls succeeds. */
  private readonly refused = new Map<string, NodeAuthError>();
  /** The backend's name for messages and log events ("memcached"). */
  readonly kind: string;
  /** Every node applies copy deltas (StorageNode.patchCopy): peers. */
  readonly patchesCopies: boolean;

  constructor(
    nodes: readonly StorageNode[],
    failoverNodeIds: readonly string[],
    private readonly stats: Statistics,
    private readonly logger: Logger,
    private readonly placement: BackupPlacement = { copies: 1 },
  ) {
    for (const node of nodes) this.clients.set(node.id, new TracedNode(node));
    this.kind = nodes[0].kind;
    this.patchesCopies = nodes.every((node) => node.patchCopy !== undefined);
    const failover = new Set(failoverNodeIds);
    this.ring = new AvailableRing(
      nodes.map((n) => n.id).filter((id) => !failover.has(id)),
      [...failoverNodeIds],
    );
    this.health = new NodeHealth(
      nodes.map((n) => n.id),
      { failureThreshold: FAILURE_THRESHOLD, checkInterval: HEALTH_CHECK_INTERVAL },
      (nodeId) =>
        this.clients
          .get(nodeId)!
          .instance()
          .then(
            (answer) => {
              this.refused.delete(nodeId);
              return answer;
            },
            (err: unknown) => {
              this.noteRefusal(nodeId, err);
              throw err;
            },
          ),
      (nodeId, event, reason) => this.changed(nodeId, event, reason),
    );
    this.ring.update((id) => this.health.isUp(id));
    for (const node of nodes) stats.gauge(`nodeUp.${node.id}`, () => (this.health.isUp(node.id) ? 1 : 0));
  }

  private changed(nodeId: string, event: HealthEvent, reason: string): void {
    this.ring.update((id) => this.health.isUp(id));
    this.stats.inc(event === 'up' ? 'nodesMarkedUp' : event === 'down' ? 'nodesMarkedDown' : 'nodeRestarts');
    const ring = [...this.ring.members()];
    logEvent(
      this.logger,
      event === 'up' ? 'info' : 'warn',
      { event: `${this.kind}_node_${event}`, node: nodeId, reason, ring },
      `${this.kind} node ${nodeId} is ${event} (${reason}); ring is now [${ring.join(', ')}]`,
    );
    for (const listener of this.listeners) listener(nodeId, event);
  }

  /** Logs a node's refusal of the credentials once (at error level), and remembers it. */
  private noteRefusal(nodeId: string, err: unknown): void {
    if (!(err instanceof NodeAuthError) || this.refused.has(nodeId)) return;
    this.refused.set(nodeId, err);
    logEvent(this.logger, 'error', { event: `${this.kind}_auth_failed`, node: nodeId }, `${err.message}; every request fails with 503 until it accepts them`);
  }

  /**
   * A node's refusal of this app's SASL credentials (learnt at startup, by the first health check),
   * while any node refuses them: a configuration error, so requests fail (503) instead of being
   * served with every storage call failing behind them.
   */
  credentialsRefused(): NodeAuthError | undefined {
    return this.refused.size === 0 ? undefined : this.refused.values().next().value;
  }

  /** Called when a node goes down, comes back, or restarted empty. */
  onHealthChange(listener: (nodeId: string, event: HealthEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Up to `count` distinct up nodes for `key`, primary first. */
  nodesFor(key: string, count: number): string[] {
    return this.ring.nodesFor(key, count);
  }

  /** The up nodes that take a sticky session's backup, in ring order (see BackupPlacement). */
  backupNodesFor(key: string): string[] {
    const { self, copies } = this.placement;
    if (self === undefined) return this.ring.nodesFor(key, copies);
    return this.ring.nodesFor(key, copies + 1).filter((node) => node !== self).slice(0, copies);
  }

  /**
   * Up to `missing` up nodes that follow `tried` in `key`'s ring order: where the copies a write
   * missed go. A write that missed one of its nodes (not yet marked down, restarting, hung) would
   * leave the newest version in one place only: if that node is lost next, an older copy would
   * win; and two processes that disagree about which nodes are up could each land the same
   * version on a different single node. So the missed copies go to the next nodes of the ring
   * (destroy deletes there too; reads look there too), never to this process's own node (see
   * BackupPlacement): a backup there dies with the session it backs up.
   */
  spareNodesFor(key: string, tried: readonly string[], missing: number): string[] {
    const { self } = this.placement;
    return this.ring
      .nodesFor(key, tried.length + missing + (self === undefined ? 1 : 2))
      .filter((node) => node !== self && !tried.includes(node))
      .slice(0, missing);
  }

  /**
   * The up nodes where any process's backup of `key` may be, to delete it: its first `copies`; with
   * peers every one (see readNodesFor).
   */
  copyNodesFor(key: string): string[] {
    return this.readNodesFor(key, this.placement.copies);
  }

  /**
   * The up nodes a read of `key` asks: its first `count`; with peers every one, since a copy may
   * be on any peer but its owner's (placed by the owner's view of health, or handed over), and a
   * handful of peers is cheap to ask at once.
   */
  readNodesFor(key: string, count: number): string[] {
    return this.ring.nodesFor(key, this.placement.self === undefined ? count : Number.MAX_SAFE_INTEGER);
  }

  /**
   * Where a sticky session goes when this process leaves (see StickyMode.close): with peers every
   * other up peer, since the peer holding its backup may be the next to restart (a rolling
   * restart) before the session is taken over; with a shared store nowhere (its copy stays).
   */
  handoverNodesFor(key: string): string[] {
    const { self } = this.placement;
    return self === undefined ? [] : this.ring.nodesFor(key, Number.MAX_SAFE_INTEGER).filter((node) => node !== self);
  }

  /** Changes whenever the nodes that are up change: what `nodesFor` gave under an equal value still holds. */
  ringGeneration(): number {
    return this.ring.generation;
  }

  /**
   * Every configured node in the order `key` prefers them, whatever their health (the same in
   * every process), failover nodes last; without them with `regularOnly` (each app server may
   * name its own failover nodes).
   */
  preference(key: string, regularOnly = false): string[] {
    return this.ring.preference(key, regularOnly);
  }

  /** A key's home nodes: its first three regular nodes on the full ring, the same in every process (see isWriteQuorum). */
  homeNodes(key: string): string[] {
    return this.ring.home(key);
  }

  /**
   * Whether `answered` (nodes a read of `key` asked that answered) hold a majority of its home
   * nodes (see isHomeMajority). `firstUp`: they include the first two up nodes the ring gave for
   * it and the ring has not changed since; with every node up those are its first two home nodes
   * (no ring walk needed).
   */
  readsHomeMajority(key: string, answered: readonly string[], firstUp: boolean): boolean {
    return (firstUp && this.ring.allUp) || isHomeMajority(this.ring.home(key), answered);
  }

  /**
   * Whether a key's copies could all be on nodes that were down, when reading `readNodes` found
   * none. Copies always go to the first up nodes of the key's preference order (`copies` of
   * them: sticky mode keeps one, non-sticky two); they can all be out of reach only if at least
   * `copies` nodes ranked before the last node read were skipped. Judged from the nodes the read
   * chose, not from health now: nodes may have come back while it ran.
   */
  mayHideCopies(key: string, readNodes: readonly string[], copies: number): boolean {
    const order = this.ring.preference(key);
    const last = readNodes.length ? Math.max(...readNodes.map((n) => order.indexOf(n))) : order.length;
    return order.slice(0, last).filter((id) => !readNodes.includes(id)).length >= copies;
  }

  /** Pub/sub of every node, or undefined when the backend has none (see NodeMessages). */
  messages(): Map<string, NodeMessages> | undefined {
    const all = new Map<string, NodeMessages>();
    for (const [id, client] of this.clients) {
      if (!client.messages) return undefined;
      all.set(id, client.messages);
    }
    return all;
  }

  /** Node ids and whether each is up. */
  nodeStates(): Record<string, boolean> {
    return Object.fromEntries([...this.clients.keys()].map((id) => [id, this.health.isUp(id)]));
  }

  /**
   * Runs `op` against one node, with the breaker's bookkeeping: only connection failures and
   * missed deadlines count against the node (see faultOf); an error answer or an exception
   * thrown while building the request is the request's fault.
   */
  run<T>(nodeId: string, op: (client: StorageNode) => Promise<T>): Promise<T> {
    // Plain promise chaining rather than async/await: every storage operation passes here.
    const client = this.clients.get(nodeId);
    if (!client) return Promise.reject(new Error(`unknown ${this.kind} node id "${nodeId}"`));
    if (!this.health.isUp(nodeId)) return Promise.reject(new NodeDownError(this.kind, nodeId));
    const startedAt = performance.now();
    let pending: Promise<T>;
    try {
      pending = op(client);
    } catch (err) {
      pending = Promise.reject(err);
    }
    return pending.then(
      (result) => {
        this.health.succeeded(nodeId);
        if (this.refused.size > 0) this.refused.delete(nodeId);
        return result;
      },
      (err: unknown) => {
        this.noteRefusal(nodeId, err);
        this.health.failed(nodeId, err, startedAt);
        throw err;
      },
    );
  }

  close(): void {
    this.health.close();
    for (const client of this.clients.values()) client.close();
  }
}
