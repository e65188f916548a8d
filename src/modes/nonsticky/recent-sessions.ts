/**
 * Sessions this process served recently, with their lifetime in seconds: the ones whose copies
 * it repairs after a node event, and the lifetime a touch-only request extends them by.
 * Bounded; the oldest are forgotten first, and entries past their lifetime are skipped.
 */
export class RecentSessions {
  private readonly entries = new Map<string, { ttl: number; seenAt: number }>();

  constructor(private readonly capacity: number) {}

  seen(key: string, ttl: number): void {
    this.entries.delete(key);
    this.entries.set(key, { ttl, seenAt: Date.now() });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  ttlOf(key: string): number | undefined {
    return this.entries.get(key)?.ttl;
  }

  forget(key: string): void {
    this.entries.delete(key);
  }

  /** Keys of sessions that may still be alive. */
  *alive(): IterableIterator<string> {
    const now = Date.now();
    for (const [key, { ttl, seenAt }] of this.entries) {
      if (ttl === 0 || seenAt + ttl * 1000 > now) yield key;
    }
  }
}
