import { RELATIVE_EXPIRATION_LIMIT } from '../storage/memcached/expiration.js';
import { LruItems } from '../storage/lru-items.js';

interface Item {
  value: Buffer;
  flags: number;
  /** Expiry in ms since epoch; 0 = never. */
  expiresAt: number;
  cas: bigint;
}

/** Storage limits, as memcached's `-m` and `-I`. */
export interface ItemStoreLimits {
  maxBytes: number;
  itemSizeLimit: number;
}

/**
 * memcached's item semantics: expirations up to 30 days are relative seconds, above that absolute
 * Unix times, 0 never; items over the size limit are refused; least recently used items are
 * evicted when memory is full.
 */
export class ItemStore {
  private readonly items = new LruItems<Item>((item) => item.value.length);
  private casCounter = 0n;
  readonly stats = { cmd_get: 0, cmd_set: 0, cmd_touch: 0, get_hits: 0, get_misses: 0, touch_hits: 0, touch_misses: 0, delete_hits: 0, delete_misses: 0, evictions: 0 };

  constructor(private readonly limits: ItemStoreLimits) {}

  static expiry(exptime: number, now = Date.now()): number {
    if (exptime === 0) return 0;
    if (exptime <= RELATIVE_EXPIRATION_LIMIT) return now + exptime * 1000;
    return exptime * 1000; // absolute Unix time (already past means: expired at once)
  }

  get size(): number {
    return this.items.size;
  }

  get usedBytes(): number {
    return this.items.bytes;
  }

  /** The keys of the items not expired (`lru_crawler metadump all`). */
  keys(): IterableIterator<string> {
    return this.items.keys();
  }

  get(key: string): Item | undefined {
    this.stats.cmd_get++;
    const item = this.items.live(key);
    if (item) this.stats.get_hits++;
    else this.stats.get_misses++;
    return item;
  }

  /**
   * `mode`: set always stores, add only when absent, replace only when present. A non-zero `cas`
   * (set/replace) stores only over the item with that CAS, as memcached's compare-and-swap.
   */
  store(mode: 'set' | 'add' | 'replace', key: string, value: Buffer, flags: number, exptime: number, cas = 0n): 'stored' | 'exists' | 'not-found' | 'too-large' {
    this.stats.cmd_set++;
    if (value.length + key.length + 50 > this.limits.itemSizeLimit) return 'too-large';
    const existing = this.items.live(key);
    if (mode === 'add' && existing) return 'exists';
    if ((mode === 'replace' || cas !== 0n) && !existing) return 'not-found';
    if (cas !== 0n && existing!.cas !== cas) return 'exists';
    if (existing) this.items.remove(key, existing);
    const item: Item = { value, flags, expiresAt: ItemStore.expiry(exptime), cas: ++this.casCounter };
    if (item.expiresAt !== 0 && item.expiresAt <= Date.now()) return 'stored'; // expired on arrival
    this.stats.evictions += this.items.set(key, item, this.limits.maxBytes);
    return 'stored';
  }

  touch(key: string, exptime: number): boolean {
    return this.getAndTouch(key, exptime) !== undefined;
  }

  /** The item, with its expiration set to `exptime` (counted as a touch, as memcached counts GAT). */
  getAndTouch(key: string, exptime: number): Item | undefined {
    this.stats.cmd_touch++;
    const item = this.items.live(key);
    if (!item) {
      this.stats.touch_misses++;
      return undefined;
    }
    this.stats.touch_hits++;
    item.expiresAt = ItemStore.expiry(exptime);
    return item;
  }

  /** Deletes the item (only if its CAS is `cas`, when non-zero); 'exists' when the CAS differs. */
  delete(key: string, cas = 0n): boolean | 'exists' {
    const item = this.items.live(key);
    if (item && cas !== 0n && item.cas !== cas) return 'exists';
    if (item) this.items.remove(key, item);
    if (item) this.stats.delete_hits++;
    else this.stats.delete_misses++;
    return !!item;
  }

  flush(): void {
    this.items.clear();
  }

  casOf(key: string): bigint {
    return this.items.peek(key)?.cas ?? 0n;
  }
}
