import type { MemcachedCluster } from './cluster.js';
import type { Statistics } from '../manager/statistics.js';
import { SessionStoreUnavailableError } from '../manager/errors.js';
import { memcachedExpiration } from '../memcached/expiration.js';
import { decodeCopy, encodeCopy, type VersionedCopy } from '../memcached/versioned-copy.js';

/** Nodes read for a session: a copy is on one of the first two nodes the ring gives for its key. */
export const READ_NODES = 2;

/** The newest copy found, and which of the session's nodes lack it. */
export interface ReadResult {
  copy?: VersionedCopy;
  /** Nodes that answered and hold no copy or an older one. */
  stale: string[];
  /** Nodes that could not be asked. */
  failed: string[];
  /** Nodes that held data which is not a session copy. */
  corrupt: string[];
}

/**
 * Session copies in memcached, shared by both modes: the same key on the first nodes the ring
 * gives for it (sticky mode writes one, non-sticky two). Reads ask the first two at once and
 * keep the highest version, so neither a node that was away nor a relocation in progress can
 * serve an older copy than one that exists.
 */
export class SessionCopies {
  constructor(
    private readonly cluster: MemcachedCluster,
    private readonly stats: Statistics,
  ) {}

  nodesFor(key: string, count: number): string[] {
    return this.cluster.nodesFor(key, count);
  }

  /**
   * Reads the newest copy; rejects with SessionStoreUnavailableError when no node could answer.
   * With `touchTtl`, each read also extends the copy it finds to that lifetime (get-and-touch:
   * still one operation per node).
   */
  async read(key: string, touchTtl?: number): Promise<ReadResult> {
    const nodes = this.nodesFor(key, READ_NODES);
    if (nodes.length === 0) throw new SessionStoreUnavailableError('no memcached node is up');
    const expiration = touchTtl === undefined ? undefined : memcachedExpiration(touchTtl);
    const answers = await this.stats.time('load', () =>
      Promise.allSettled(
        nodes.map((node) =>
          this.cluster.run(node, (client) => (expiration === undefined ? client.get(key) : client.getAndTouch(key, expiration))),
        ),
      ),
    );
    this.stats.inc('loadsFromMemcached');
    const result: ReadResult = { stale: [], failed: [], corrupt: [] };
    const found: Array<{ node: string; copy?: VersionedCopy }> = [];
    answers.forEach((answer, i) => {
      const node = nodes[i];
      if (answer.status === 'rejected') return result.failed.push(node);
      if (answer.value === null) return found.push({ node });
      const copy = decodeCopy(answer.value);
      if (!copy) return result.corrupt.push(node);
      found.push({ node, copy });
    });
    for (const { copy } of found) {
      if (copy && (!result.copy || copy.version > result.copy.version)) result.copy = copy;
    }
    for (const { node, copy } of found) {
      if (result.copy && (!copy || copy.version < result.copy.version)) result.stale.push(node);
    }
    // With no copy found, a node that did not answer may hold the only one: do not guess "no session".
    if (!result.copy && result.failed.length > 0) {
      this.stats.inc('loadFailures');
      throw new SessionStoreUnavailableError(`memcached node(s) ${result.failed.join(', ')} could not be read`);
    }
    if (!result.copy && this.cluster.mayHideCopies(key, nodes)) {
      this.stats.inc('loadFailures');
      throw new SessionStoreUnavailableError('the session\'s copies may be on memcached nodes that are down');
    }
    if (result.failed.length > 0) this.stats.inc('memcachedFailovers');
    return result;
  }

  /** Writes `copy` to `nodes`; resolves with the nodes written, rejects only when none took it. */
  async write(key: string, copy: VersionedCopy, nodes: string[]): Promise<string[]> {
    if (nodes.length === 0) throw new SessionStoreUnavailableError('no memcached node is up');
    const value = encodeCopy(copy);
    const expiration = memcachedExpiration(copy.ttl);
    const answers = await this.stats.time('backup', () =>
      Promise.allSettled(nodes.map((node) => this.cluster.run(node, (client) => client.set(key, value, expiration)))),
    );
    const written = nodes.filter((_, i) => answers[i].status === 'fulfilled');
    this.stats.inc('backups', written.length);
    if (written.length < nodes.length) this.stats.inc('backupFailures', nodes.length - written.length);
    if (written.length === 0) throw (answers[0] as PromiseRejectedResult).reason;
    return written;
  }

  /** Writes the newest copy of a read where it was missing or old, so the copies agree again. */
  async fill(key: string, result: ReadResult): Promise<void> {
    if (!result.copy || result.stale.length === 0) return;
    try {
      await this.write(key, result.copy, result.stale);
      this.stats.inc('replicaRepairs', result.stale.length);
    } catch {
      // The next access or relocation tries again.
    }
  }

  /** Reads a session and fills in its missing or old copies. */
  async repair(key: string): Promise<void> {
    await this.fill(key, await this.read(key));
  }

  /** Extends the copies' lifetime on `nodes`; resolves with the nodes that no longer hold one. */
  async touch(key: string, ttl: number, nodes: string[]): Promise<string[]> {
    const expiration = memcachedExpiration(ttl);
    const answers = await this.stats.time('touch', () =>
      Promise.allSettled(nodes.map((node) => this.cluster.run(node, (client) => client.touch(key, expiration)))),
    );
    this.stats.inc('touches', nodes.length);
    return nodes.filter((_, i) => answers[i].status === 'fulfilled' && !(answers[i] as PromiseFulfilledResult<boolean>).value);
  }

  /** Deletes the copies on `nodes` (best effort: a copy left behind expires, and is older than any later one). */
  async delete(key: string, nodes: string[]): Promise<void> {
    await this.stats.time('delete', () =>
      Promise.allSettled(nodes.map((node) => this.cluster.run(node, (client) => client.delete(key)))),
    );
    this.stats.inc('deletes');
  }
}
