import HashRing from 'hashring';

/**
 * Consistent hashing (ketama-compatible) over the nodes that are up. Regular nodes are
 * preferred; `failoverNodes` are used only when no regular node is up. Removing a node
 * moves exactly its keys to their next node.
 */
export class AvailableRing {
  private ring: HashRing | undefined;
  private ids: string[] = [];
  /** The ring of every regular node, up or not: where a key's copies go when nothing fails. */
  private readonly full: HashRing;

  constructor(
    private readonly regular: readonly string[],
    private readonly failover: readonly string[],
  ) {
    this.full = new HashRing([...regular]);
  }

  /** Rebuilds the ring from the current health; call it when a node goes down or up. */
  update(isUp: (nodeId: string) => boolean): void {
    const up = this.regular.filter(isUp);
    this.ids = up.length > 0 ? up : this.failover.filter(isUp);
    this.ring = this.ids.length > 0 ? new HashRing(this.ids) : undefined;
  }

  /** Up to `count` distinct nodes for `key`, primary first; empty when every node is down. */
  nodesFor(key: string, count: number): string[] {
    if (!this.ring) return [];
    if (count === 1 || this.ids.length === 1) return [this.ring.get(key)];
    return this.ring.range(key, Math.min(count, this.ids.length), true);
  }

  /** Every node in the order a key prefers them (regular nodes by the full ring, then failover nodes). */
  preference(key: string): string[] {
    const regular = this.regular.length > 1 ? this.full.range(key, this.regular.length, true) : [...this.regular];
    return [...regular, ...this.failover];
  }

  /** Node ids currently in the ring. */
  members(): readonly string[] {
    return this.ids;
  }
}
