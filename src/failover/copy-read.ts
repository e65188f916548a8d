import { createHash } from 'node:crypto';
import type { StorageCluster } from './cluster.js';
import type { Statistics } from '../base/statistics.js';
import { SessionStoreUnavailableError } from '../base/errors.js';
import type { VersionedCopy } from '../format/versioned-copy.js';
import type { CopyCodec } from '../format/copy-codec.js';
import type { VersionedValue } from '../storage/storage-node.js';
import { Found, newestOf, sameOrNewer } from './copy-vote.js';

/** Nodes read for a session: a copy is on one of the first two nodes the ring gives for its key. */
export const READ_NODES = 2;

/** The newest copy found, and which of the session's nodes lack it. */
export interface ReadResult {
  copy?: VersionedCopy;
  /** Nodes that answered and hold no copy or an older one. */
  stale: string[];
  /** Nodes that could not be asked. */
  failed: string[];
  /**
   * False when a node could not be asked and fewer than two copies were found: the newest
   * version may be on the node that did not answer, so the copy is not spread to other nodes.
   */
  complete: boolean;
  /**
   * True when the newest copy is in doubt (another content of its version exists, or it is on one
   * node while another holds an older version; see newestOf) since too short a time for every
   * write to have finished: it may be a write that is then refused, so it is served, but neither
   * spread nor built on (see `Fence.doubtful`).
   */
  doubtful: boolean;
  /** Nodes that held data which is not a session copy. */
  corrupt: string[];
  /**
   * Nodes asked in addition to the session's own that hold its newest copy or an older one, with
   * their CAS. Once both own nodes hold the newest copy, such a copy is redundant; left in place
   * and outdated by later writes, it would cast doubt on the newest copy when that node becomes
   * one of the session's own (the next fault), so a repair removes it.
   */
  leftovers: Map<string, bigint>;
  /** CAS of what each node that answered holds (undefined: nothing), for fenced writes. */
  cas: ReadonlyMap<string, bigint | undefined>;
  /** The session's own nodes as this read saw them (the first up nodes the ring gave), asked first. */
  nodes: readonly string[];
}

/** A ReadResult as `read` fills it in (a class, as LoadedFence). */
class ReadOutcome implements ReadResult {
  copy: VersionedCopy | undefined = undefined;
  stale: string[] = [];
  failed: string[] = [];
  complete = true;
  doubtful = false;
  corrupt: string[] = [];
  leftovers = new Map<string, bigint>();
  constructor(
    readonly cas: Map<string, bigint | undefined>,
    readonly nodes: readonly string[],
  ) {}
}

/** How long a doubtful newest copy (contested or unvouched, see newestOf) is left alone. */
export interface DoubtOptions {
  /** How long a doubt must last before the copy served may be spread, in ms: longer than any write. */
  graceMs: number;
  /** The clock, in ms (tests pass their own). */
  now: () => number;
}

/** Sessions whose doubt is remembered at once; the oldest is forgotten first (it is only seen again later). */
const MAX_DOUBTS_TRACKED = 10_000;

/**
 * Reads a session's copies from its nodes and elects the newest (see copy-vote.ts), noting which
 * nodes lack it, which could not be asked, and whether the result is in doubt.
 */
export class CopyReader {
  /** Doubts this process has seen (key → what the nodes held, as a digest, and since when), bounded. */
  private readonly doubts = new Map<string, { state: string; since: number }>();

  constructor(
    private readonly cluster: StorageCluster,
    private readonly stats: Statistics,
    private readonly codec: CopyCodec,
    private readonly copiesKept: number,
    private readonly doubtOptions: DoubtOptions,
  ) {}

  /**
   * Whether the nodes have held exactly what a doubtful read `found` for longer than any write
   * can take (every operation of a write has a deadline): then no writer is still on its way to
   * finish or undo what caused the doubt, the copies are left-overs, and the one served may be
   * kept. Any change (a write that started later landing a copy) starts the wait again.
   */
  private doubtOutlasted(key: string, found: readonly Found[]): boolean {
    const digest = createHash('sha256');
    for (const { node, copy } of found) digest.update(`${node}\n${copy ? `${copy.version}\n${copy.json}` : '-'}\n`);
    const state = digest.digest('base64');
    const now = this.doubtOptions.now();
    const seen = this.doubts.get(key);
    if (seen?.state === state) return now - seen.since >= this.doubtOptions.graceMs;
    if (!seen && this.doubts.size >= MAX_DOUBTS_TRACKED) this.doubts.delete(this.doubts.keys().next().value as string);
    this.doubts.set(key, { state, since: now });
    return false;
  }

  /**
   * Reads the newest copy; rejects with SessionStoreUnavailableError when no node could answer.
   * With `touchTtl`, each read also extends the copy it finds to that lifetime (get-and-touch:
   * still one operation per node). With two copies wanted, a read that finds fewer than two also
   * asks the next node: a write that missed a node put its copy there, and a process that saw a
   * node down wrote there; without it, a node that restarted empty next to a stale one would hide
   * the newest version.
   */
  async read(key: string, touchTtl?: number): Promise<ReadResult> {
    const ring = this.cluster.ringGeneration();
    const nodes = this.cluster.readNodesFor(key, READ_NODES);
    if (nodes.length === 0) throw new SessionStoreUnavailableError(`no ${this.cluster.kind} node is up`);
    const ask = (targets: string[]) =>
      Promise.allSettled(
        targets.map((node) => this.cluster.run(node, (client) => (touchTtl === undefined ? client.gets(key) : client.getAndTouch(key, touchTtl)))),
      );
    const cas = new Map<string, bigint | undefined>();
    const result = new ReadOutcome(cas, nodes);
    // Array.of, not []: an array literal may be allocated old like an object literal (see LoadedSession in modes/session-mode.ts).
    const found = Array.of<Found>();
    // Copies are usually byte-identical: one is decoded, and the others compared as bytes.
    let decodedRaw: Buffer | undefined;
    let decoded: VersionedCopy | undefined;
    const record = (answers: PromiseSettledResult<VersionedValue | null>[], targets: string[]) =>
      answers.forEach((answer, i) => {
        const node = targets[i];
        if (answer.status === 'rejected') return result.failed.push(node);
        cas.set(node, answer.value?.cas);
        if (answer.value === null) return found.push(new Found(node));
        const raw = answer.value.value;
        const copy = decodedRaw?.equals(raw) ? decoded : this.codec.decode(key, raw);
        if (!copy) return result.corrupt.push(node);
        if (!decodedRaw) {
          decodedRaw = raw;
          decoded = copy;
        }
        found.push(new Found(node, copy));
      });
    const asked = [...nodes];
    const withCopy = () => found.filter((f) => f.copy).length;
    await this.stats.time('load', async () => {
      record(await ask(nodes), nodes);
      const newest = newestOf(found, nodes);
      if (this.copiesKept < 2 || (withCopy() >= 2 && !newest.contested && !newest.unvouched)) return;
      const next = this.cluster.spareNodesFor(key, nodes, 1);
      asked.push(...next);
      if (next.length > 0) record(await ask(next), next);
    });
    this.stats.inc('loadsFromMemcached');
    // Two kept copies are trusted only from a majority of the home nodes (see isHomeMajority): a
    // process that reaches one of them may find an old copy, or none, while the newest is on the
    // other two, written by a process that saw this one down.
    if (this.copiesKept >= 2) {
      const answered = result.failed.length === 0 ? asked : asked.filter((node) => !result.failed.includes(node));
      const firstUp = result.failed.length === 0 && nodes.length >= 2 && this.cluster.ringGeneration() === ring;
      if (!this.cluster.readsHomeMajority(key, answered, firstUp)) {
        this.stats.inc('loadFailures');
        throw new SessionStoreUnavailableError(`fewer than two of the session's home ${this.cluster.kind} nodes could be read`);
      }
    }
    const newest = newestOf(found, nodes);
    result.copy = newest.copy;
    // A repair spreading a write still in flight could make a write that is then refused look
    // acknowledged (or shadow one that is): a doubtful copy is served but spread nowhere, until
    // the doubt outlasts any write.
    const doubtful = (result.doubtful = (newest.contested || newest.unvouched) && this.copiesKept >= 2 && !this.doubtOutlasted(key, found));
    if (!doubtful) this.doubts.delete(key);
    // Only the session's own nodes are brought up to date, not the one asked in addition.
    for (const { node, copy } of found) {
      if (nodes.includes(node) && result.copy && !(copy && sameOrNewer(copy, result.copy))) result.stale.push(node);
      if (!nodes.includes(node) && copy && result.copy && copy.version <= result.copy.version) result.leftovers.set(node, cas.get(node)!);
    }
    result.complete = this.copiesKept < 2 || ((result.failed.length === 0 || withCopy() >= 2) && !doubtful);
    // With no copy found, a node that did not answer may hold the only one: do not guess "no session".
    if (!result.copy && result.failed.length > 0) {
      this.stats.inc('loadFailures');
      throw new SessionStoreUnavailableError(`${this.cluster.kind} node(s) ${result.failed.join(', ')} could not be read`);
    }
    if (!result.copy && this.cluster.mayHideCopies(key, asked, this.copiesKept)) {
      this.stats.inc('loadFailures');
      throw new SessionStoreUnavailableError(`the session's copies may be on ${this.cluster.kind} nodes that are down`);
    }
    if (result.failed.length > 0) this.stats.inc('memcachedFailovers');
    return result;
  }
}
