interface Link<V> {
  readonly key: string;
  value: V;
  older: Link<V> | undefined;
  newer: Link<V> | undefined;
}

/**
 * Entries in recency order, oldest first, with every operation O(1): a linked list indexed by a
 * map. (A Map used as such a list is not: V8 leaves a hole at its front for each entry deleted
 * there, and every look-up of the oldest entry walks over them until the table is rebuilt.)
 */
export class RecencyList<V> {
  private readonly links = new Map<string, Link<V>>();
  private oldestLink: Link<V> | undefined;
  private newestLink: Link<V> | undefined;

  get size(): number {
    return this.links.size;
  }

  get(key: string): V | undefined {
    return this.links.get(key)?.value;
  }

  /** Stores `value` under `key` as the newest entry (moving it there if it was held). */
  set(key: string, value: V): void {
    this.delete(key);
    const link: Link<V> = { key, value, older: this.newestLink, newer: undefined };
    if (this.newestLink) this.newestLink.newer = link;
    else this.oldestLink = link;
    this.newestLink = link;
    this.links.set(key, link);
  }

  /** Removes `key`; its value, or undefined when it was not held. */
  delete(key: string): V | undefined {
    const link = this.links.get(key);
    if (!link) return undefined;
    this.links.delete(key);
    if (link.older) link.older.newer = link.newer;
    else this.oldestLink = link.newer;
    if (link.newer) link.newer.older = link.older;
    else this.newestLink = link.older;
    return link.value;
  }

  /** The oldest entry's key, or undefined when empty. */
  oldest(): string | undefined {
    return this.oldestLink?.key;
  }

  /** Entries oldest first; the entry just yielded may be deleted meanwhile. */
  *entries(): IterableIterator<[string, V]> {
    for (let link = this.oldestLink; link; ) {
      const next = link.newer;
      yield [link.key, link.value];
      link = next;
    }
  }
}
