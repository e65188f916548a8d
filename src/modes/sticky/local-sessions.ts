import { RecencyList } from './recency-list.js';
import type { RevocationMark } from '../../revocation/revocations.js';
import type { DeltaBase } from '../../format/copy-delta.js';

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
  /** Which copy the last backup wrote (peers: the base of the next backup's delta). */
  backedUpBase?: DeltaBase;
  /** Nodes that hold the backup (one; with `replication: 'all'` every other peer). */
  backupNodes?: readonly string[];
  /** The nodes the ring gives the session's backup (`targets`) as of ring generation `targetsAt`: computed once per ring, not per request. */
  targets?: readonly string[];
  targetsAt?: number;
  /** The expiry recorded in the memcached copy (ms since epoch); the copy expires then too. */
  backupExpiresAt: number;
  /** A backup is being written (such a session must not be dropped from memory). */
  backupInFlight: boolean;
  /** What the last revocation check that found the id valid saw (undefined: none yet). */
  revocation?: RevocationMark;
  /** The principal the session was saved with, recorded in the principal's index (undefined: none). */
  principal?: string;
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

/** Whether a session may be dropped from memory: its current state is in memcached and no backup is in flight. */
function droppable(entry: LocalSession): boolean {
  return !entry.backupInFlight && entry.backedUp === entry.stored;
}

/**
 * Sessions held in memory. Over its bounds it drops the least recently used sessions whose
 * backup has landed (they reload from memcached on their next request); sessions without one
 * are kept, since memory is then their only copy. Those are kept apart, so that with memcached
 * down every new session costs O(1), not a walk over all the sessions that cannot be dropped;
 * once their backups land (see `settled`) they become droppable again and the bounds hold again
 * without waiting for another session to arrive.
 */
export class LocalSessions {
  /** Sessions filed as droppable, least recently used first (a backup started since is noticed when reached). */
  private readonly backedUp = new RecencyList<LocalSession>();
  /** Sessions whose backup has not landed (or is in flight): never dropped. */
  private readonly pending = new RecencyList<LocalSession>();
  private bytes = 0;

  constructor(
    private readonly limits: LocalLimits,
    private readonly onEvict: (id: string) => void,
  ) {}

  get size(): number {
    return this.backedUp.size + this.pending.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  /** The session, marked as most recently used. */
  get(id: string): LocalSession | undefined {
    const entry = this.peek(id);
    if (entry) this.listFor(id).set(id, entry);
    return entry;
  }

  /** The session, without changing its recency. */
  peek(id: string): LocalSession | undefined {
    return this.backedUp.get(id) ?? this.pending.get(id);
  }

  /** Stores (or replaces) a session as most recently used, then enforces the bounds. */
  set(id: string, entry: LocalSession): void {
    this.delete(id);
    (droppable(entry) ? this.backedUp : this.pending).set(id, entry);
    this.bytes += sizeOf(entry);
    this.enforce();
  }

  delete(id: string): LocalSession | undefined {
    const entry = this.backedUp.delete(id) ?? this.pending.delete(id);
    if (entry) this.bytes -= sizeOf(entry);
    return entry;
  }

  /** Called when a session's backups settled (landed or failed): a session whose backup landed may be dropped again. */
  settled(id: string): void {
    const entry = this.pending.get(id);
    if (!entry || !droppable(entry)) return;
    this.pending.delete(id);
    this.backedUp.set(id, entry);
    this.enforce();
  }

  /** Every session held (sessions awaiting a backup first); one may be deleted as it is visited. */
  *[Symbol.iterator](): IterableIterator<[string, LocalSession]> {
    yield* this.pending.entries();
    yield* this.backedUp.entries();
  }

  private listFor(id: string): RecencyList<LocalSession> {
    return this.backedUp.get(id) ? this.backedUp : this.pending;
  }

  /**
   * Drops droppable sessions, least recently used first, until within bounds. Each step drops a
   * session or refiles one whose backup started since it was filed: O(1) amortized per session.
   */
  private enforce(): void {
    while (this.size > this.limits.maxSessions || this.bytes > this.limits.maxBytes) {
      const id = this.backedUp.oldest();
      if (id === undefined) return;
      const entry = this.backedUp.delete(id)!;
      if (droppable(entry)) {
        this.bytes -= sizeOf(entry);
        this.onEvict(id);
      } else {
        this.pending.set(id, entry);
      }
    }
  }
}
