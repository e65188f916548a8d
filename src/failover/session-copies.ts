import { createHash } from 'node:crypto';
import type { StorageCluster } from './cluster.js';
import type { Statistics } from '../base/statistics.js';
import { SessionConflictError, SessionStoreUnavailableError } from '../base/errors.js';
import { isDestroyed, type VersionedCopy } from '../format/versioned-copy.js';
import type { CopyCodec } from '../format/copy-codec.js';
import { isWriteQuorum } from './write-quorum.js';

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
}

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

/** A ReadResult as `read` fills it in (a class, as LoadedFence). */
class ReadOutcome implements ReadResult {
  copy: VersionedCopy | undefined = undefined;
  stale: string[] = [];
  failed: string[] = [];
  complete = true;
  doubtful = false;
  corrupt: string[] = [];
  leftovers = new Map<string, bigint>();
  constructor(readonly cas: Map<string, bigint | undefined>) {}
}

/** What one node answered a read with (a class, as LoadedFence). */
class Found {
  constructor(
    readonly node: string,
    readonly copy?: VersionedCopy,
  ) {}
}

/**
 * The newest of the copies found (in ring order). Two copies of one version with different
 * content mean a write that was refused left its copy behind (a repair had spread it) while
 * another write of that version was acknowledged: acknowledged versions are on two nodes, so the
 * content most nodes hold wins (on a tie, the first in ring order). Writes in flight make either
 * count misleading (two copies of a write that is then refused, one copy of a write about to be
 * acknowledged), so the winner is in doubt (see SessionCopies.read).
 * `contested`: the newest version has more than one content. `unvouched`: the newest copy is on
 * one node while another of the session's own `nodes` holds an older version (a write in flight,
 * which may yet be refused and undone, looks like that; a copy left on the node asked in
 * addition by an earlier fault does not count).
 */
function newestOf(found: readonly Found[], nodes: readonly string[]): Newest {
  let version = -1;
  for (const { copy } of found) if (copy && copy.version > version) version = copy.version;
  const { copy, count, contested } = agreedOn(found, version) ?? voteOn(found, version);
  const unvouched = count === 1 && found.some(({ node, copy }) => copy && copy.version < version && nodes.includes(node));
  return new Newest(copy, contested, unvouched);
}

/** What newestOf found (a class, as LoadedFence). */
class Newest {
  constructor(
    readonly copy: VersionedCopy | undefined,
    readonly contested: boolean,
    readonly unvouched: boolean,
  ) {}
}

/** The copy that won a version, how many copies hold it, and whether they disagreed (a class, as LoadedFence). */
class Winner {
  constructor(
    readonly copy: VersionedCopy | undefined,
    readonly count: number,
    readonly contested: boolean,
  ) {}
}

/** The winner of `version` and how many copies hold it: the usual case, when all its copies have one content (else undefined). */
function agreedOn(found: readonly Found[], version: number): Winner | undefined {
  let first: VersionedCopy | undefined;
  let count = 0;
  for (const { copy } of found) {
    if (!copy || copy.version !== version) continue;
    if (first && copy.json !== first.json) return undefined;
    first ??= copy;
    count++;
  }
  return new Winner(first, count, false);
}

/** The content of `version` most copies hold (on a tie, the first in ring order), when they differ. */
function voteOn(found: readonly Found[], version: number): Winner {
  const votes = new Map<string, { copy: VersionedCopy; count: number }>();
  for (const { copy } of found) {
    if (!copy || copy.version !== version) continue;
    const entry = votes.get(copy.json);
    if (entry) entry.count++;
    else votes.set(copy.json, { copy, count: 1 });
  }
  const ranked = [...votes.values()].sort((a, b) => b.count - a.count); // stable: ring order on a tie
  return new Winner(ranked[0].copy, ranked[0].count, true);
}

/** Whether `copy` is `than` (the same version with the same content) or newer. */
function sameOrNewer(copy: VersionedCopy, than: VersionedCopy): boolean {
  return copy.version > than.version || (copy.version === than.version && copy.json === than.json);
}

/** What a fenced write did on one node: the new CAS, and whether it replaced a copy (else the node held none). */
interface FencedWrite {
  cas: bigint;
  replaced: boolean;
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

/** Attempts per node of a fenced write whose CAS went stale for a harmless reason (a repair). */
const FENCE_ATTEMPTS = 3;

/**
 * Session copies in memcached, shared by both modes: the same key on the first nodes the ring
 * gives for it (sticky mode writes one, non-sticky two). Reads ask the first two at once and
 * keep the highest version, so neither a node that was away nor a relocation in progress can
 * serve an older copy than one that exists.
 */
export class SessionCopies {
  /** Doubts this process has seen (key → what the nodes held, as a digest, and since when), bounded. */
  private readonly doubts = new Map<string, { state: string; since: number }>();

  /**
   * @param codec how copies are stored (sealed under their key).
   * @param copiesKept copies written of each session (sticky mode 1, non-sticky 2): with two,
   *   reads and fenced writes look one node further when the usual nodes cannot vouch for a copy.
   * @param doubtOptions when a doubtful newest copy may be spread (non-sticky).
   */
  constructor(
    private readonly cluster: StorageCluster,
    private readonly stats: Statistics,
    private readonly codec: CopyCodec,
    private readonly copiesKept = 1,
    private readonly doubtOptions: DoubtOptions = { graceMs: 10_000, now: () => performance.now() },
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

  nodesFor(key: string, count: number): string[] {
    return this.cluster.nodesFor(key, count);
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
    const nodes = this.nodesFor(key, READ_NODES);
    if (nodes.length === 0) throw new SessionStoreUnavailableError('no memcached node is up');
    const expiration = touchTtl;
    const ask = (targets: string[]) =>
      Promise.allSettled(
        targets.map((node) =>
          this.cluster.run(node, (client) => (expiration === undefined ? client.gets(key) : client.getAndTouch(key, expiration))),
        ),
      );
    const cas = new Map<string, bigint | undefined>();
    const result = new ReadOutcome(cas);
    // Array.of, not []: an array literal may be allocated old like an object literal (see LoadedSession in modes/session-mode.ts).
    const found = Array.of<Found>();
    // Copies are usually byte-identical: one is decoded, and the others compared as bytes.
    let decodedRaw: Buffer | undefined;
    let decoded: VersionedCopy | undefined;
    const record = (answers: PromiseSettledResult<{ value: Buffer; cas: bigint } | null>[], targets: string[]) =>
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
      const next = this.sparesFor(key, nodes, 1);
      asked.push(...next);
      if (next.length > 0) record(await ask(next), next);
    });
    this.stats.inc('loadsFromMemcached');
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
      throw new SessionStoreUnavailableError(`memcached node(s) ${result.failed.join(', ')} could not be read`);
    }
    if (!result.copy && this.cluster.mayHideCopies(key, asked, this.copiesKept)) {
      this.stats.inc('loadFailures');
      throw new SessionStoreUnavailableError('the session\'s copies may be on memcached nodes that are down');
    }
    if (result.failed.length > 0) this.stats.inc('memcachedFailovers');
    return result;
  }

  /** Writes `copy` to `nodes`; resolves with the nodes written, rejects only when none took it. */
  async write(key: string, copy: VersionedCopy, nodes: string[]): Promise<string[]> {
    if (nodes.length === 0) throw new SessionStoreUnavailableError('no memcached node is up');
    const value = this.codec.encode(key, copy);
    const expiration = copy.ttl;
    const answers = await this.stats.time('backup', () =>
      Promise.allSettled(nodes.map((node) => this.cluster.run(node, (client) => client.set(key, value, expiration)))),
    );
    const written = nodes.filter((_, i) => answers[i].status === 'fulfilled');
    this.stats.inc('backups', written.length);
    if (written.length < nodes.length) this.stats.inc('backupFailures', nodes.length - written.length);
    if (written.length === 0) throw (answers[0] as PromiseRejectedResult).reason;
    if (written.length < nodes.length) {
      const spares = this.sparesFor(key, nodes, nodes.length - written.length);
      const spareAnswers = await Promise.allSettled(spares.map((node) => this.cluster.run(node, (client) => client.set(key, value, expiration))));
      written.push(...spares.filter((_, i) => spareAnswers[i].status === 'fulfilled'));
    }
    return written;
  }

  /**
   * Where the copies a write missed go. A write that missed one of its nodes (not yet marked
   * down, restarting, hung) would leave the newest version in one place only: if that node is
   * lost next, an older copy would win; and two processes that disagree about which nodes are up
   * could each land the same version on a different single node. The missed copies go to the
   * next nodes of the ring instead (destroy deletes there too).
   */
  private sparesFor(key: string, tried: readonly string[], missing: number): string[] {
    return this.nodesFor(key, tried.length + missing + 1).filter((node) => !tried.includes(node)).slice(0, missing);
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
    if (nodes.length === 0) throw new SessionStoreUnavailableError('no memcached node is up');
    if (fence.doubtful) {
      this.stats.inc('conflicts');
      throw new SessionConflictError();
    }
    const value = this.codec.encode(key, copy);
    const expiration = copy.ttl;
    const loadedVersion = fence.loaded?.version ?? 0;
    const writeOne = async (node: string): Promise<FencedWrite | 'conflict'> => {
      let cas = fence.cas.has(node) ? fence.cas.get(node) : await this.casOfOlder(key, node, fence.loaded, copy);
      for (let attempt = 1; ; attempt++) {
        if (cas === 'newer') return 'conflict';
        // A repair copied this very write here from a node it reached first: it is written, and
        // an undo removes it like any copy this write added.
        if (typeof cas === 'object') return { cas: cas.own, replaced: false };
        const expected = cas;
        const stored = await this.cluster.run(node, (client) => client.storeIf(key, value, expiration, expected));
        if (stored !== null) return { cas: stored, replaced: expected !== undefined };
        if (attempt >= FENCE_ATTEMPTS) return 'conflict';
        cas = await this.casOfOlder(key, node, fence.loaded, copy);
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
      const [next] = this.sparesFor(key, nodes, 1);
      if (next && written.size < nodes.length) {
        // Fenced like the rest: of two requests that each missed a node, the second finds the first's
        // version here and fails with 409, instead of both being acknowledged on different nodes.
        const [answer] = await writeAll([next]);
        unvouched = answer.status === 'rejected';
      } else if (next) {
        const found = await this.casOfOlder(key, next, fence.loaded, copy).catch(() => 'unreachable' as const);
        conflict ||= found === 'newer';
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
      if (unvouched) throw new SessionStoreUnavailableError(`memcached node(s) that may hold a newer version of the session could not be asked`);
      if (homeless) throw new SessionStoreUnavailableError(`the session could not be written to ${home.length < 3 ? 'its first' : 'two of its home'} memcached node(s) ${home.join(', ')}`);
      this.stats.inc('conflicts');
      throw new SessionConflictError();
    }
    this.stats.inc('backups', written.size);
    if (written.size < nodes.length) this.stats.inc('backupFailures', nodes.length - written.size);
    if (written.size === 0) throw (answers[0] as PromiseRejectedResult).reason;
    return new Map([...written].map(([node, w]) => [node, w.cas]));
  }

  /**
   * The CAS of a node's item if it is older than `loaded` or `loaded` itself (undefined: absent);
   * `{ own }` when it is `writing` itself (same version and write id, put there by a repair);
   * 'newer' for a newer version, and for another write of the loaded version (a request that
   * loaded the same version from a node this one never read; its write may be acknowledged).
   */
  private async casOfOlder(
    key: string,
    node: string,
    loaded: VersionedCopy | undefined,
    writing: VersionedCopy,
  ): Promise<bigint | undefined | { own: bigint } | 'newer'> {
    const current = await this.cluster.run(node, (client) => client.gets(key));
    if (!current) return undefined;
    const held = this.codec.decode(key, current.value);
    // Data that is no session copy may be replaced.
    if (!held) return current.cas;
    const version = loaded?.version ?? 0;
    if (writing.writeId !== undefined && held.writeId === writing.writeId && held.version === writing.version && writing.version > version) {
      return { own: current.cas };
    }
    return held.version > version || (held.version === version && held.json !== loaded?.json) ? 'newer' : current.cas;
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

  /**
   * Writes the newest copy of a read where it was missing or old, so the copies agree again;
   * each only over what the read saw there, so a repair never replaces a newer write. Then, with
   * both own nodes known to hold it, removes the read's left-over copies (unless changed since).
   * Resolves false when the copies may still disagree: the read was not complete, a node did not
   * answer, or a copy changed since the read.
   */
  async fill(key: string, result: ReadResult): Promise<boolean> {
    const copy = result.copy;
    if (!result.complete) return false;
    if (!copy) return true;
    if (result.stale.length > 0) {
      const value = this.codec.encode(key, copy);
      const expiration = copy.ttl;
      const answers = await Promise.allSettled(
        result.stale.map((node) => this.cluster.run(node, (client) => client.storeIf(key, value, expiration, result.cas.get(node)))),
      );
      const repaired = answers.filter((a) => a.status === 'fulfilled' && a.value !== null).length;
      this.stats.inc('replicaRepairs', repaired);
      // A copy that changed since the read was usually rewritten by a newer write, but an undone
      // write deletes: only a fresh read can tell, so the repair is not done.
      if (repaired < answers.length) return false;
    }
    // A destroy's marker stays on every node it reached: it must outvote any old copy.
    if (result.failed.length === 0 && !isDestroyed(copy)) {
      await Promise.allSettled([...result.leftovers].map(([node, cas]) => this.cluster.run(node, (client) => client.deleteIf(key, cas))));
    }
    return true;
  }

  /** Reads a session and fills in its missing or old copies; false if that may not have worked (try again). */
  async repair(key: string): Promise<boolean> {
    return this.fill(key, await this.read(key));
  }

  /** Extends the copies' lifetime on `nodes`; resolves with the nodes that no longer hold one. */
  async touch(key: string, ttl: number, nodes: string[]): Promise<string[]> {
    const expiration = ttl;
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
