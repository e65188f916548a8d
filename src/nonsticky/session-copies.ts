import type { MemcachedCluster } from '../failover/cluster.js';
import type { Statistics } from '../manager/statistics.js';
import { decodeCopy, encodeCopy, type VersionedCopy } from './versioned-copy.js';

/** How many nodes hold a copy of each session. */
export const COPIES = 2;

/** The newest copy found, and which of the session's nodes need it written again. */
export interface ReadResult {
  copy?: VersionedCopy;
  /** Nodes that answered and hold no copy or an older one. */
  stale: string[];
  /** Nodes that could not be asked. */
  failed: string[];
  /** Nodes that held data which is not a versioned session copy. */
  corrupt: string[];
}

/**
 * The two copies of a non-sticky session: the same key on the first two distinct nodes the
 * ring gives for it. Reads ask both at once and keep the higher version; writes go to both.
 */
export class SessionCopies {
  constructor(
    private readonly cluster: MemcachedCluster,
    private readonly stats: Statistics,
  ) {}

  nodesFor(key: string): string[] {
    return this.cluster.nodesFor(key, COPIES);
  }

  async read(key: string): Promise<ReadResult> {
    const nodes = this.nodesFor(key);
    const answers = await this.stats.time('load', () =>
      Promise.allSettled(nodes.map((node) => this.cluster.run(node, (client) => client.get(key)))),
    );
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
    return result;
  }

  /**
   * Writes `copy` to the session's nodes (or to `only`). Resolves with the nodes written;
   * rejects only when no node took the write.
   */
  async write(key: string, copy: VersionedCopy, expiration: number, only?: string[]): Promise<string[]> {
    const nodes = only ?? this.nodesFor(key);
    if (nodes.length === 0) throw new Error('no memcached node is up');
    const value = encodeCopy(copy.version, copy.json);
    const answers = await this.stats.time('backup', () =>
      Promise.allSettled(nodes.map((node) => this.cluster.run(node, (client) => client.set(key, value, expiration)))),
    );
    const written = nodes.filter((_, i) => answers[i].status === 'fulfilled');
    this.stats.inc('backups', written.length);
    if (written.length < nodes.length) this.stats.inc('backupFailures', nodes.length - written.length);
    if (written.length === 0) throw (answers[0] as PromiseRejectedResult).reason;
    return written;
  }

  /** Extends both copies' lifetime; resolves with the nodes that no longer hold a copy. */
  async touch(key: string, expiration: number): Promise<string[]> {
    const nodes = this.nodesFor(key);
    const answers = await this.stats.time('touch', () =>
      Promise.allSettled(nodes.map((node) => this.cluster.run(node, (client) => client.touch(key, expiration)))),
    );
    this.stats.inc('touches', nodes.length);
    return nodes.filter((_, i) => answers[i].status === 'fulfilled' && !(answers[i] as PromiseFulfilledResult<boolean>).value);
  }

  async delete(key: string): Promise<void> {
    const nodes = this.nodesFor(key);
    await this.stats.time('delete', () =>
      Promise.allSettled(nodes.map((node) => this.cluster.run(node, (client) => client.delete(key)))),
    );
    this.stats.inc('deletes');
  }
}
