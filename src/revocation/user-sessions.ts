import type { SessionCopies } from '../failover/session-copies.js';
import type { Sealing } from '../format/sealing.js';
import { isDestroyed, type VersionedCopy } from '../format/versioned-copy.js';
import { SessionStoreUnavailableError } from '../base/errors.js';
import { PrincipalIndex, principalOf, type IndexEntry, type PrincipalFunction } from './principal-index.js';
import type { StorageCluster } from '../failover/cluster.js';

/** One live session of a principal, as `sessionsOf` describes it: nothing in it can be used as a session id. */
export interface UserSession {
  /** Names the session (a prefix of its storage key's keyed hash): stable, unique enough to tell sessions apart, not a session id. */
  handle: string;
  /** When the session was saved with this principal (the login). */
  createdAt: Date;
  /** When the session was last stored (its cookie's `expires` minus `maxAge`, or its backup time); undefined when its copy does not say. */
  lastAccess?: Date;
  /** The `route` of the app node that serves it (sticky mode with routes), undefined otherwise. */
  route?: string;
}

/** A session's copy as read for the index: `copy` absent when there is none; the whole read undefined when it failed. */
export type IndexedCopy = { readonly copy?: VersionedCopy } | undefined;

/**
 * Revokes one indexed session the way its mode revokes one (sticky: a tombstone; non-sticky: a
 * destroyed marker), given its copy as just read; rejects when the revocation is not stored.
 */
export type RevokeOne = (entry: IndexEntry, read: IndexedCopy) => Promise<void>;

/**
 * An index entry whose session has no live copy is dropped by `sessionsOf` only once it is this
 * old (ms): a sticky session's first backup may still be on its way.
 */
const PRUNE_AFTER_MS = 60_000;

/**
 * A principal's index is pruned (in the background) each time a login makes it a multiple of this
 * long: sessions that ended leave their entries, and a list that outgrew an item would refuse
 * every login. Once per so many logins, so a user whose sessions are all live costs no more.
 */
const PRUNE_EVERY = 50;

/**
 * A principal's sessions, for both modes: recorded when a session is saved with a principal,
 * listed from the index and the sessions' own copies, revoked through the mode's own revocation.
 */
export class UserSessions {
  private readonly index: PrincipalIndex;

  constructor(
    cluster: StorageCluster,
    private readonly sealing: Sealing,
    private readonly copies: SessionCopies,
    private readonly principal: PrincipalFunction,
    private readonly route: string | undefined,
    private readonly revokeOne: RevokeOne,
  ) {
    this.index = new PrincipalIndex(cluster, sealing);
  }

  /** The principal of `session` (undefined: none); throws TypeError when the option's function returns something else. */
  principalOf(session: object): string | undefined {
    return principalOf(this.principal, session);
  }

  /** Records session `id` as one of the principal's, lasting `ttl` seconds; rejects (503) unless half its index nodes (rounded up) hold it. */
  async record(principal: string, id: string, ttl: number): Promise<void> {
    const entry = { key: this.sealing.sessionKey(id), tombstone: this.sealing.tombstoneKey(id), recordedAt: Date.now(), ttl, route: this.route };
    if ((await this.index.record(principal, entry)) % PRUNE_EVERY === 0) void this.list(principal).catch(() => undefined);
  }

  /**
   * The principal's index entries with their copies, but those whose copy belongs to another
   * principal now (its user changed without a new id): not this principal's to list or revoke.
   */
  private async entriesOf(principal: string): Promise<Array<[IndexEntry, IndexedCopy]>> {
    const entries = await this.index.read(principal);
    const reads = await Promise.all(entries.map((entry) => this.copies.read(entry.key).then((r): IndexedCopy => ({ copy: r.copy }), () => undefined)));
    return entries.flatMap((entry, i): Array<[IndexEntry, IndexedCopy]> => (this.ownedBy(reads[i]?.copy, principal) ? [[entry, reads[i]]] : []));
  }

  /**
   * Whether a session copy may be `principal`'s: unless it names another one. A copy that names
   * none may still be (`sessionAttributeFilter` can leave the user out of stored copies).
   */
  private ownedBy(copy: VersionedCopy | undefined, principal: string): boolean {
    if (!isLive(copy)) return true;
    try {
      const named = this.principalOf(JSON.parse(copy.json) as object);
      return named === undefined || named === principal;
    } catch {
      return true;
    }
  }

  /** The principal's live sessions; entries of sessions long gone are dropped from the index meanwhile. */
  async list(principal: string): Promise<UserSession[]> {
    const sessions: UserSession[] = [];
    const gone = new Set<string>();
    for (const [entry, read] of await this.entriesOf(principal)) {
      // A copy that could not be read may be live: listed from what the index knows.
      if (read && !isLive(read.copy)) {
        if (Date.now() - entry.recordedAt > PRUNE_AFTER_MS) gone.add(entry.key);
        continue;
      }
      sessions.push({ handle: this.sealing.fingerprint(entry.key), createdAt: new Date(entry.recordedAt), lastAccess: lastStored(read?.copy), route: entry.route });
    }
    void this.index.remove(principal, gone);
    return sessions.sort((a, b) => a.createdAt.valueOf() - b.createdAt.valueOf());
  }

  /**
   * Revokes every session of the principal but `exceptId`'s, each as its mode revokes one, and
   * resolves with how many were live. Rejects with SessionStoreUnavailableError, acknowledging
   * nothing, when the index cannot be read completely or any session's revocation was not
   * recorded; sessions revoked by then stay revoked, and a retry revokes the rest.
   */
  async revoke(principal: string, exceptId: string | undefined): Promise<number> {
    const except = exceptId === undefined ? undefined : this.sealing.sessionKey(exceptId);
    const targets = (await this.entriesOf(principal)).filter(([entry]) => entry.key !== except);
    const answers = await Promise.allSettled(targets.map(([entry, read]) => this.revokeOne(entry, read)));
    const revoked = new Set<string>();
    let live = 0;
    let failure: PromiseRejectedResult | undefined;
    answers.forEach((answer, i) => {
      if (answer.status === 'rejected') failure ??= answer;
      else {
        const [entry, read] = targets[i];
        revoked.add(entry.key);
        // A copy that could not be read counts as live: it may be.
        if (read === undefined || isLive(read.copy)) live++;
      }
    });
    await this.index.remove(principal, revoked);
    if (failure) {
      const failed = targets.length - revoked.size;
      throw new SessionStoreUnavailableError(`${failed} of the user's ${targets.length} sessions could not be revoked`, failure.reason);
    }
    return live;
  }
}

/** Whether a copy read back is a session that may still be served. */
function isLive(copy: VersionedCopy | undefined): copy is VersionedCopy {
  return copy !== undefined && !isDestroyed(copy) && !(copy.expiresAt !== undefined && copy.expiresAt <= Date.now());
}

/** When a copy was stored, as it tells: its cookie's expiry minus its maxAge, else (sticky backups) its expiry minus its lifetime. */
function lastStored(copy: VersionedCopy | undefined): Date | undefined {
  if (!copy) return undefined;
  try {
    const cookie = (JSON.parse(copy.json) as { cookie?: { expires?: unknown; originalMaxAge?: unknown } }).cookie;
    if (typeof cookie?.expires === 'string' && typeof cookie.originalMaxAge === 'number') {
      return new Date(new Date(cookie.expires).valueOf() - cookie.originalMaxAge);
    }
  } catch {
    // Not JSON: the copy's header may still say.
  }
  // A backup's lifetime is its remaining time plus a second (see StickyMode.remainingSeconds).
  return copy.expiresAt !== undefined && copy.ttl > 0 ? new Date(copy.expiresAt - (copy.ttl - 1) * 1000) : undefined;
}
