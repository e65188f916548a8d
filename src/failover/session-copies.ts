import type { StorageCluster } from './cluster.js';
import type { Statistics } from '../base/statistics.js';
import type { VersionedCopy } from '../format/versioned-copy.js';
import type { CopyCodec } from '../format/copy-codec.js';
import { CopyReader, type DoubtOptions, type ReadResult } from './copy-read.js';
import { CopyWriter, type CopyPatch, type Fence } from './copy-write.js';
import { CopyRepair } from './copy-repair.js';

export { READ_NODES, type ReadResult, type DoubtOptions } from './copy-read.js';
export { LoadedFence, type Fence } from './copy-write.js';

/**
 * Session copies in the storage nodes, shared by both modes: the same key on the first nodes the
 * ring gives for it (sticky mode writes one, non-sticky two). Reads ask the first two at once and
 * keep the highest version, so neither a node that was away nor a relocation in progress can
 * serve an older copy than one that exists. Reading and voting, writing and repairing are each in
 * a file of their own (copy-read, copy-vote, copy-write, copy-repair).
 */
export class SessionCopies {
  private readonly reader: CopyReader;
  private readonly writer: CopyWriter;
  private readonly repairer: CopyRepair;

  /**
   * @param codec how copies are stored (sealed under their key).
   * @param copiesKept copies written of each session (sticky mode 1, non-sticky 2): with two,
   *   reads and fenced writes look one node further when the usual nodes cannot vouch for a copy.
   * @param doubtOptions when a doubtful newest copy may be spread (non-sticky).
   */
  constructor(
    private readonly cluster: StorageCluster,
    private readonly stats: Statistics,
    codec: CopyCodec,
    copiesKept = 1,
    doubtOptions: DoubtOptions = { graceMs: 10_000, now: () => performance.now() },
  ) {
    this.reader = new CopyReader(cluster, stats, codec, copiesKept, doubtOptions);
    this.writer = new CopyWriter(cluster, stats, codec);
    this.repairer = new CopyRepair(cluster, stats, codec);
  }

  nodesFor(key: string, count: number): string[] {
    return this.cluster.nodesFor(key, count);
  }

  /** See CopyReader.read. */
  read(key: string, touchTtl?: number): Promise<ReadResult> {
    return this.reader.read(key, touchTtl);
  }

  /** See CopyWriter.write. */
  write(key: string, copy: VersionedCopy, nodes: string[], patch?: CopyPatch): Promise<string[]> {
    return this.writer.write(key, copy, nodes, patch);
  }

  /** See CopyWriter.writeToHomeMajority. */
  writeToHomeMajority(key: string, copy: VersionedCopy, nodes: string[]): Promise<string[]> {
    return this.writer.writeToHomeMajority(key, copy, nodes);
  }

  /** See CopyWriter.writeFenced. */
  writeFenced(key: string, copy: VersionedCopy, nodes: string[], fence: Fence): Promise<Map<string, bigint>> {
    return this.writer.writeFenced(key, copy, nodes, fence);
  }

  /** See CopyRepair.fill. */
  fill(key: string, result: ReadResult): Promise<boolean> {
    return this.repairer.fill(key, result);
  }

  /** Reads a session and fills in its missing or old copies; false if that may not have worked (try again). */
  async repair(key: string): Promise<boolean> {
    return this.fill(key, await this.read(key));
  }

  /** Extends the copies' lifetime on `nodes`; resolves with the nodes that no longer hold one. */
  async touch(key: string, ttl: number, nodes: string[]): Promise<string[]> {
    const answers = await this.stats.time('touch', () =>
      Promise.allSettled(nodes.map((node) => this.cluster.run(node, (client) => client.touch(key, ttl)))),
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
