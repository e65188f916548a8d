import type { RevocationMark } from './revocations.js';

/** One session held in this process: the primary copy in sticky mode. */
export interface LocalSession {
  /** Attributes as JSON (unfiltered), parsed afresh for every request. */
  body: string;
  /** Attributes as backed up: `body` after `sessionAttributeFilter` (the same string without one). */
  stored: string;
  /** Version of the attributes: raised on every change, stored with each backup. */
  version: number;
  /** Cookie in stored form. */
  cookie: unknown;
  /** When the session expires (ms since epoch); Infinity for never. */
  expiresAt: number;
  /** `stored` as last written to memcached (compared as a string: cheaper than hashing); undefined until a backup lands. */
  backedUp?: string;
  /** Node that holds the backup. */
  backupNode?: string;
  /** The node the ring gives the session (`primary`) as of ring generation `primaryAt`: computed once per ring, not per request. */
  primary?: string;
  primaryAt?: number;
  /** The expiry recorded in the memcached copy (ms since epoch); the copy expires then too. */
  backupExpiresAt: number;
  /** A backup is being written (such a session must not be dropped from memory). */
  backupInFlight: boolean;
  /** What the last revocation check that found the id valid saw (undefined: none yet). */
  revocation?: RevocationMark;
}

/** Limits of the local store. */
export interface LocalLimits {
  maxSessions: number;
  maxBytes: number;
}

function sizeOf(entry: LocalSession): number {
  // UTF-16 in memory: two bytes a character, plus a rough fixed overhead per entry.
  return 2 * (entry.body.length + (entry.stored === entry.body ? 0 : entry.stored.length)) + 200;
}

/**
 * Sessions held in memory, least recently used first. Over its bounds it drops the oldest
 * sessions whose backup has landed (they reload from memcached on their next request);
 * sessions without a backup are kept, since memory is then their only copy.
 */
export class LocalSessions {
  private readonly entries = new Map<string, LocalSession>();
  private bytes = 0;

  constructor(
    private readonly limits: LocalLimits,
    private readonly onEvict: (id: string) => void,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  /** The session, marked as most recently used. */
  get(id: string): LocalSession | undefined {
    const entry = this.entries.get(id);
    if (entry) {
      this.entries.delete(id);
      this.entries.set(id, entry);
    }
    return entry;
  }

  /** The session, without changing its recency. */
  peek(id: string): LocalSession | undefined {
    return this.entries.get(id);
  }

  /** Stores (or replaces) a session as most recently used, then enforces the bounds. */
  set(id: string, entry: LocalSession): void {
    this.delete(id);
    this.entries.set(id, entry);
    this.bytes += sizeOf(entry);
    this.enforce();
  }

  delete(id: string): LocalSession | undefined {
    const entry = this.entries.get(id);
    if (entry) {
      this.entries.delete(id);
      this.bytes -= sizeOf(entry);
    }
    return entry;
  }

  /** Sessions in least-recently-used order. */
  [Symbol.iterator](): IterableIterator<[string, LocalSession]> {
    return this.entries.entries();
  }

  /** Drops backed-up sessions from the cold end until within bounds. */
  private enforce(): void {
    if (this.entries.size <= this.limits.maxSessions && this.bytes <= this.limits.maxBytes) return;
    for (const [id, entry] of this.entries) {
      if (this.entries.size <= this.limits.maxSessions && this.bytes <= this.limits.maxBytes) return;
      if (entry.backupInFlight || entry.backedUp !== entry.stored) continue;
      this.delete(id);
      this.onEvict(id);
    }
  }
}
