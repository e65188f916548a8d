import HashRing from 'hashring';

/** Keys whose node lists each ring remembers; when full it starts over (cheaper than LRU bookkeeping). */
const MEMO_CAPACITY = 10_000;

/**
 * Node lists already computed, per key and count. hashring hashes the key (MD5) on every
 * `range` call (its own cache covers only `get`), and a request asks for the same key's nodes
 * several times; the lists depend only on the key and the ring, so a new ring starts a new memo.
 */
class RangeMemo {
  private readonly lists = new Map<number, Map<string, readonly string[]>>();

  constructor(private readonly compute: (key: string, count: number) => string[]) {}

  /** A fresh array each time: callers own what they are given. */
  get(key: string, count: number): string[] {
    let byKey = this.lists.get(count);
    if (!byKey) this.lists.set(count, (byKey = new Map()));
    let list = byKey.get(key);
    if (!list) {
      list = this.compute(key, count);
      if (byKey.size >= MEMO_CAPACITY) byKey.clear();
      byKey.set(key, list);
    }
    return list.slice();
  }
}

/**
 * Consistent hashing (ketama-compatible) over the nodes that are up. Regular nodes are
 * preferred; `failoverNodes` are used only when no regular node is up. Removing a node
 * moves exactly its keys to their next node.
 */
export class AvailableRing {
  private ring: HashRing | undefined;
  private ranges: RangeMemo | undefined;
  private ids: string[] = [];
  private rebuilt = 0;
  private everyRegularUp = false;
  /** The ring of every regular node, up or not: where a key's copies go when nothing fails. */
  private readonly full: HashRing;
  private readonly fullOrder: RangeMemo;

  constructor(
    private readonly regular: readonly string[],
    private readonly failover: readonly string[],
  ) {
    this.full = new HashRing([...regular]);
    this.fullOrder = new RangeMemo((key, count) => this.full.range(key, count, true));
  }

  /** Rebuilds the ring from the current health; call it when a node goes down or up. */
  update(isUp: (nodeId: string) => boolean): void {
    const up = this.regular.filter(isUp);
    this.everyRegularUp = up.length === this.regular.length;
    this.ids = up.length > 0 ? up : this.failover.filter(isUp);
    const ring = (this.ring = this.ids.length > 0 ? new HashRing(this.ids) : undefined);
    this.ranges = ring && new RangeMemo((key, count) => ring.range(key, count, true));
    this.rebuilt++;
  }

  /** Changes whenever the ring is rebuilt: node lists computed under an equal value still hold. */
  get generation(): number {
    return this.rebuilt;
  }

  /** Up to `count` distinct nodes for `key`, primary first; empty when every node is down. */
  nodesFor(key: string, count: number): string[] {
    if (!this.ring || !this.ranges) return [];
    // hashring caches `get` itself.
    if (count === 1 || this.ids.length === 1) return [this.ring.get(key)];
    return this.ranges.get(key, Math.min(count, this.ids.length));
  }

  /** Every node in the order a key prefers them (regular nodes by the full ring, then failover nodes unless `regularOnly`). */
  preference(key: string, regularOnly = false): string[] {
    const regular = this.regular.length > 1 ? this.fullOrder.get(key, this.regular.length) : [...this.regular];
    return regularOnly ? regular : [...regular, ...this.failover];
  }

  /**
   * A key's first three regular nodes on the full ring, whatever their health (see isWriteQuorum).
   * Every unlocked non-sticky save asks for them: one array (preference's own), not three.
   */
  home(key: string): string[] {
    const order = this.preference(key, true);
    if (order.length > 3) order.length = 3;
    return order;
  }

  /** Whether every regular node is up: then a key's first up nodes are its first home nodes. */
  get allUp(): boolean {
    return this.everyRegularUp;
  }

  /** Node ids currently in the ring. */
  members(): readonly string[] {
    return this.ids;
  }
}
