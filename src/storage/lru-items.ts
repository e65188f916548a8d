/** What an in-memory store keeps per key: at least when it expires (ms since epoch; 0: never). */
export interface ExpiringItem {
  expiresAt: number;
}

/**
 * The bookkeeping of an in-memory item store (the embedded memcached, a peer's store): items in
 * least recently used order, dropped when expired as they are looked up, and evicted oldest first
 * when their keys and values exceed a memory budget.
 */
export class LruItems<T extends ExpiringItem> {
  private readonly items = new Map<string, T>();
  private bytesUsed = 0;

  constructor(
    /** The bytes an item's value takes, counted against the budget; fixed while the item is stored. */
    private readonly sizeOf: (item: T) => number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.items.size;
  }

  /** Bytes of the keys and values held. */
  get bytes(): number {
    return this.bytesUsed;
  }

  /** The keys of the items not expired. */
  *keys(): IterableIterator<string> {
    const now = this.now();
    for (const [key, item] of this.items) if (item.expiresAt === 0 || item.expiresAt > now) yield key;
  }

  /** The item unless expired (an expired one is removed), marked most recently used. */
  live(key: string): T | undefined {
    const item = this.items.get(key);
    if (!item) return undefined;
    if (item.expiresAt !== 0 && item.expiresAt <= this.now()) {
      this.remove(key, item);
      return undefined;
    }
    this.items.delete(key);
    this.items.set(key, item);
    return item;
  }

  /** The item as held, expired or not, its recency unchanged. */
  peek(key: string): T | undefined {
    return this.items.get(key);
  }

  remove(key: string, item: T): void {
    this.items.delete(key);
    this.bytesUsed -= this.sizeOf(item) + key.length;
  }

  /** Stores `item` as most recently used (replacing any), then evicts while over `maxBytes`; returns how many went. */
  set(key: string, item: T, maxBytes: number): number {
    const old = this.items.get(key);
    if (old) this.remove(key, old);
    this.items.set(key, item);
    this.bytesUsed += this.sizeOf(item) + key.length;
    let evicted = 0;
    for (const [oldKey, oldest] of this.items) {
      if (this.bytesUsed <= maxBytes) break;
      this.remove(oldKey, oldest);
      evicted++;
    }
    return evicted;
  }

  clear(): void {
    this.items.clear();
    this.bytesUsed = 0;
  }
}
