import type { StorageCluster } from './cluster.js';
import type { Statistics } from '../base/statistics.js';
import { isDestroyed } from '../format/versioned-copy.js';
import type { CopyCodec } from '../format/copy-codec.js';
import type { ReadResult } from './copy-read.js';
import { isWriteQuorum } from './write-quorum.js';

/** Brings a session's copies back in agreement after a read found them apart. */
export class CopyRepair {
  constructor(
    private readonly cluster: StorageCluster,
    private readonly stats: Statistics,
    private readonly codec: CopyCodec,
  ) {}

  /**
   * Writes the newest copy of a read where it was missing or old, so the copies agree again;
   * each only over what the read saw there, so a repair never replaces a newer write. Then, with
   * own nodes known to hold it that are two of its home nodes, removes the read's left-over
   * copies (unless changed since).
   * Resolves false when the copies may still disagree: the read was not complete, a node did not
   * answer, or a copy changed since the read.
   */
  async fill(key: string, result: ReadResult): Promise<boolean> {
    const copy = result.copy;
    if (!result.complete) return false;
    if (!copy) return true;
    if (result.stale.length > 0) {
      const value = this.codec.encode(key, copy);
      const answers = await Promise.allSettled(
        result.stale.map((node) => this.cluster.run(node, (client) => client.storeIf(key, value, copy.ttl, result.cas.get(node)))),
      );
      const repaired = answers.filter((a) => a.status === 'fulfilled' && a.value !== null).length;
      this.stats.inc('replicaRepairs', repaired);
      // A copy that changed since the read was usually rewritten by a newer write, but an undone
      // write deletes: only a fresh read can tell, so the repair is not done.
      if (repaired < answers.length) return false;
    }
    // A destroy's marker stays on every node it reached: it must outvote any old copy. A left-over
    // goes only while the own nodes hold two of the home nodes: a process that saw the others down
    // has one own node, and without the left-over a read of the other two would find nothing.
    if (result.failed.length === 0 && !isDestroyed(copy) && result.leftovers.size > 0 && isWriteQuorum(this.cluster.homeNodes(key), result.nodes)) {
      await Promise.allSettled([...result.leftovers].map(([node, cas]) => this.cluster.run(node, (client) => client.deleteIf(key, cas))));
    }
    return true;
  }
}
