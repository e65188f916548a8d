import { NodeDownError, type StorageCluster } from './cluster.js';
import { faultOf } from '../storage/call-fault.js';
import type { Statistics } from '../base/statistics.js';
import { SessionConflictError, SessionStoreUnavailableError } from '../base/errors.js';
import type { VersionedCopy } from '../format/versioned-copy.js';
import type { CopyCodec } from '../format/copy-codec.js';
import { isHomeMajority, isWriteQuorum } from './write-quorum.js';
import type { StorageNode } from '../storage/storage-node.js';

/** What a fenced write started from: the version a request loaded, and the CAS it saw per node. */
export interface Fence {
  /** The copy the request loaded (undefined: none existed). */
  loaded?: VersionedCopy;
  /** CAS per node seen with `loaded` (a missing node is asked before writing). */
  cas: ReadonlyMap<string, bigint | undefined>;
  /**
   * The read that loaded it was in doubt: the write is refused before it touches any node. The
   * version numbers of a refused write's copy and of an acknowledged one can follow each other
   * while neither descends from the other, so a copy older than the loaded one vouches for it
   * only when the loaded one is sure.
   */
  doubtful?: boolean;
}

/** The fence of a request's load or write: a class, not a literal (see LoadedSession in modes/session-mode.ts). */
export class LoadedFence implements Fence {
  constructor(
    readonly loaded: VersionedCopy | undefined,
    readonly cas: ReadonlyMap<string, bigint | undefined>,
    readonly doubtful?: boolean,
  ) {}
}

/** What a fenced write did on one node: the new CAS, and whether it replaced a copy (else the node held none). */
interface FencedWrite {
  cas: bigint;
  replaced: boolean;
}

/** A delta of the copy being written (format/copy-delta.ts), and the nodes that hold its base. */
export interface CopyPatch {
  delta: string;
  bases: readonly string[];
}

/** Attempts per node of a fenced write whose CAS went stale for a harmless reason (a repair). */
const FENCE_ATTEMPTS = 3;

/** What a node holds, judged against the version a fenced write loaded (see CopyWriter.holding). */
type Holding =
  /** Nothing (cas undefined), a copy older than the loaded one, the loaded one itself, or data that is no session copy: replaced if still at `cas`. */
  | { readonly kind: 'replaceable'; readonly cas: bigint | undefined }
  /** This very write, copied there by a repair from a node it reached first. */
  | { readonly kind: 'own'; readonly cas: bigint }
  /** A newer version, or another write of the loaded version (a request that loaded it from a node this one never read). */
  | { readonly kind: 'newer' };

/** Writes a session's copies: plainly (sticky backups) or fenced against what a request loaded (non-sticky). */
export class CopyWriter {
  constructor(
    private readonly cluster: StorageCluster,
    private readonly stats: Statistics,
    private readonly codec: CopyCodec,
  ) {}

  /**
   * Writes `copy` to `nodes`; resolves with the nodes written, rejects only when none took it.
   * With `patch`, the nodes that hold its base and can apply it get the delta instead (and the
   * whole copy when they turn it down).
   */
  write(key: string, copy: VersionedCopy, nodes: string[], patch?: CopyPatch): Promise<string[]> {
    return this.writeCopies(key, copy, nodes, patch, false);
  }

  /**
   * Writes `copy` like `write`, and acknowledges it only once a majority of the key's home nodes
   * holds it (see isHomeMajority): else SessionStoreUnavailableError, with the copies written
   * left in place (a later read may or may not find that unacknowledged version).
   */
  writeToHomeMajority(key: string, copy: VersionedCopy, nodes: string[]): Promise<string[]> {
    // The check runs inside the one async write: every unlocked non-sticky save passes here, and a
    // second async layer around it cost a promise and its turns per save.
    return this.writeCopies(key, copy, nodes, undefined, true);
  }

  /** `write`, and with `homeMajority` the check of `writeToHomeMajority`. */
  private async writeCopies(key: string, copy: VersionedCopy, nodes: string[], patch: CopyPatch | undefined, homeMajority: boolean): Promise<string[]> {
    if (nodes.length === 0) throw new SessionStoreUnavailableError(`no ${this.cluster.kind} node is up`);
    // Sealed only when some node needs the whole copy.
    let sealed: Buffer | string | undefined;
    const value = () => (sealed ??= this.codec.encode(key, copy));
    const store = (client: StorageNode): Promise<void> => client.set(key, value(), copy.ttl);
    const storeOrPatch = (node: string, client: StorageNode): Promise<void> => {
      if (!patch?.bases.includes(node) || !client.patchCopy) return store(client);
      return client.patchCopy(key, patch.delta, copy.ttl).then((patched) => {
        if (patched) this.stats.inc('backupDeltas');
        else return store(client);
      });
    };
    const answers = await this.stats.time('backup', () => Promise.allSettled(nodes.map((node) => this.cluster.run(node, (client) => storeOrPatch(node, client)))));
    const written = nodes.filter((_, i) => answers[i].status === 'fulfilled');
    this.stats.inc('backups', written.length);
    if (written.length < nodes.length) this.stats.inc('backupFailures', nodes.length - written.length);
    // A copy no node took goes to spares too, unless its nodes turned down the copy itself (too
    // large, say): then every spare would as well. Majority writes are acknowledged on home nodes
    // only, which spares do not add to when none of them took it.
    const nodeLost = answers.some((answer) => answer.status === 'rejected' && (answer.reason instanceof NodeDownError || faultOf(answer.reason) === 'node'));
    if (written.length === 0 && (homeMajority || !nodeLost)) throw (answers[0] as PromiseRejectedResult).reason;
    if (written.length < nodes.length) {
      const spares = this.cluster.spareNodesFor(key, nodes, nodes.length - written.length);
      const spareAnswers = await Promise.allSettled(spares.map((node) => this.cluster.run(node, store)));
      written.push(...spares.filter((_, i) => spareAnswers[i].status === 'fulfilled'));
      if (written.length === 0) throw (answers[0] as PromiseRejectedResult).reason;
    }
    if (homeMajority) {
      const home = this.cluster.homeNodes(key);
      if (!isHomeMajority(home, written)) {
        throw new SessionStoreUnavailableError(`the session could not be written to two of its home ${this.cluster.kind} nodes ${home.join(', ')}`);
      }
    }
    return written;
  }

  /**
   * Writes `copy` to `nodes`, but on each node only over what `fence` saw there, or over a copy
   * no newer than the one loaded (a repair may have rewritten it meanwhile): a write never
   * replaces a version it did not load, even when two requests both believe they hold the
   * session's lock. If any node holds a newer version, the nodes already written get back what
   * they held and SessionConflictError is thrown.
   *
   * A newer version, once acknowledged, is on two nodes; one of them may have lost it since (a
   * restart empties a node). So unless two of the nodes written held a copy no newer than the
   * loaded one, the next node is asked as well (written, if a node missed the write). If that
   * node cannot be asked, a newer version may be there: nothing is acknowledged and
   * SessionStoreUnavailableError is thrown. Likewise when a new version reached fewer than two of
   * the key's three home nodes (see isWriteQuorum), which every process computes alike whatever
   * it thinks is up. Resolves with the new CAS per node written; rejects like `write` when no
   * node took it.
   */
  async writeFenced(key: string, copy: VersionedCopy, nodes: string[], fence: Fence): Promise<Map<string, bigint>> {
    if (nodes.length === 0) throw new SessionStoreUnavailableError(`no ${this.cluster.kind} node is up`);
    if (fence.doubtful) {
      this.stats.inc('conflicts');
      throw new SessionConflictError();
    }
    const value = this.codec.encode(key, copy);
    const loadedVersion = fence.loaded?.version ?? 0;
    const writeOne = async (node: string): Promise<FencedWrite | 'conflict'> => {
      let held: Holding = fence.cas.has(node) ? { kind: 'replaceable', cas: fence.cas.get(node) } : await this.holding(key, node, fence.loaded, copy);
      for (let attempt = 1; ; attempt++) {
        if (held.kind === 'newer') return 'conflict';
        // A repair copied this very write here from a node it reached first: it is written, and
        // an undo removes it like any copy this write added.
        if (held.kind === 'own') return { cas: held.cas, replaced: false };
        const expected = held.cas;
        const stored = await this.cluster.run(node, (client) => client.storeIf(key, value, copy.ttl, expected));
        if (stored !== null) return { cas: stored, replaced: expected !== undefined };
        if (attempt >= FENCE_ATTEMPTS) return 'conflict';
        held = await this.holding(key, node, fence.loaded, copy);
      }
    };
    const written = new Map<string, FencedWrite>();
    let conflict = false;
    const writeAll = async (targets: string[]) => {
      const answers = await Promise.allSettled(targets.map(writeOne));
      answers.forEach((answer, i) => {
        if (answer.status === 'rejected') return;
        if (answer.value === 'conflict') conflict = true;
        else written.set(targets[i], answer.value);
      });
      return answers;
    };
    const answers = await this.stats.time('backup', () => writeAll(nodes));
    const vouched = () => [...written.values()].filter((w) => w.replaced).length;
    let unvouched = false;
    if (!conflict && written.size > 0 && (written.size < nodes.length || (loadedVersion > 0 && vouched() < 2))) {
      const [next] = this.cluster.spareNodesFor(key, nodes, 1);
      if (next && written.size < nodes.length) {
        // Fenced like the rest: of two requests that each missed a node, the second finds the first's
        // version here and fails with 409, instead of both being acknowledged on different nodes.
        const [answer] = await writeAll([next]);
        unvouched = answer.status === 'rejected';
      } else if (next) {
        const found = await this.holding(key, next, fence.loaded, copy).catch(() => 'unreachable' as const);
        conflict ||= found !== 'unreachable' && found.kind === 'newer';
        unvouched = found === 'unreachable';
      }
      unvouched &&= loadedVersion > 0 && vouched() < 2;
    }
    // A process that sees the key's home nodes down writes elsewhere; acknowledged there, its version
    // would be invisible to a process that reads the home nodes and writes over them.
    const home = this.cluster.homeNodes(key);
    const homeless = !conflict && !unvouched && written.size > 0 && copy.version > loadedVersion && !isWriteQuorum(home, [...written.keys()]);
    if (conflict || unvouched || homeless) {
      await this.restore(key, fence.loaded, written);
      if (unvouched) throw new SessionStoreUnavailableError(`${this.cluster.kind} node(s) that may hold a newer version of the session could not be asked`);
      if (homeless) throw new SessionStoreUnavailableError(`the session could not be written to ${home.length < 3 ? 'its first' : 'two of its home'} ${this.cluster.kind} node(s) ${home.join(', ')}`);
      this.stats.inc('conflicts');
      throw new SessionConflictError();
    }
    this.stats.inc('backups', written.size);
    if (written.size < nodes.length) this.stats.inc('backupFailures', nodes.length - written.size);
    if (written.size === 0) throw (answers[0] as PromiseRejectedResult).reason;
    return new Map([...written].map(([node, w]) => [node, w.cas]));
  }

  /** What `node` holds of `key` now, against the copy the request `loaded` and the copy it is `writing`. */
  private async holding(key: string, node: string, loaded: VersionedCopy | undefined, writing: VersionedCopy): Promise<Holding> {
    const current = await this.cluster.run(node, (client) => client.gets(key));
    if (!current) return { kind: 'replaceable', cas: undefined };
    const held = this.codec.decode(key, current.value);
    if (!held) return { kind: 'replaceable', cas: current.cas };
    const version = loaded?.version ?? 0;
    if (writing.writeId !== undefined && held.writeId === writing.writeId && held.version === writing.version && writing.version > version) {
      return { kind: 'own', cas: current.cas };
    }
    const newer = held.version > version || (held.version === version && held.json !== loaded?.json);
    return newer ? { kind: 'newer' } : { kind: 'replaceable', cas: current.cas };
  }

  /**
   * Undoes a refused fenced write (best effort, each node only if unchanged since): where it
   * replaced a copy, the loaded version goes back; where the node held nothing, the copy goes.
   */
  private async restore(key: string, loaded: VersionedCopy | undefined, written: Map<string, FencedWrite>): Promise<void> {
    await Promise.allSettled(
      [...written].map(([node, { cas, replaced }]) =>
        this.cluster.run(node, (client): Promise<unknown> =>
          loaded && replaced ? client.storeIf(key, this.codec.encode(key, loaded), loaded.ttl, cas) : client.deleteIf(key, cas),
        ),
      ),
    );
  }
}
