import type { LoadedSession, SessionMode } from '../manager/mode.js';
import type { ManagerSettings } from '../manager/options.js';
import type { Statistics } from '../manager/statistics.js';
import type { Logger } from '../manager/logger.js';
import type { Session, SessionRequest } from '../manager/session.js';
import type { SessionData } from '../manager/store.js';
import type { MemcachedCluster } from '../failover/cluster.js';
import { SessionConflictError, SessionLockTimeoutError, SessionStoreUnavailableError } from '../manager/errors.js';
import { memcachedExpiration } from '../memcached/expiration.js';
import { isStorableId, storageKey } from '../memcached/storage-key.js';
import { checkItemSize, CorruptSessionError, decodeSession, encodeSession, storedJson } from '../memcached/session-codec.js';
import { SessionCopies } from './session-copies.js';
import { SessionLocks, type LockHandle } from './session-lock.js';
import { LockingPolicy } from './locking-policy.js';
import type { VersionedCopy } from './versioned-copy.js';

/** What one request holds of one session. */
interface Hold {
  key: string;
  /** Version the request loaded (0: none existed). */
  version: number;
  lock?: LockHandle;
  /** The request wrote the session. */
  modified: boolean;
}

/** A session in use by requests of this process: one shared copy, reference-counted. */
interface InUse {
  refs: number;
  latest?: VersionedCopy;
  /** A read in flight, shared by concurrent unlocked requests. */
  reading?: Promise<VersionedCopy | undefined>;
}

function requestKind(req: SessionRequest | undefined): { method: string; path: string } {
  const url = (req?.originalUrl as string | undefined) ?? req?.url ?? '/';
  const end = url.search(/[?#]/);
  return { method: req?.method ?? 'GET', path: (end === -1 ? url : url.slice(0, end)) || '/' };
}

/**
 * Non-sticky mode: memcached holds the primary copy and a second copy on the next node; this
 * process holds a session only while requests use it. Writes land on both copies before the
 * response completes (read-your-writes on any node). Optional locking serializes requests.
 */
export class NonStickyMode implements SessionMode {
  readonly touches = true;
  private readonly copies: SessionCopies;
  private readonly locks: SessionLocks;
  private readonly policy: LockingPolicy;
  private readonly holds = new WeakMap<SessionRequest, Map<string, Hold>>();
  private readonly inUse = new Map<string, InUse>();

  constructor(
    private readonly settings: ManagerSettings,
    cluster: MemcachedCluster,
    private readonly stats: Statistics,
    private readonly logger: Logger,
  ) {
    this.copies = new SessionCopies(cluster, stats);
    this.policy = new LockingPolicy(settings.lockingMode);
    this.locks = new SessionLocks(cluster, stats, {
      lockExpiration: settings.lockExpiration,
      waitTimeout: settings.operationTimeout,
    });
    stats.gauge('sessionsInUse', () => this.inUse.size);
  }

  async load(id: string, req?: SessionRequest): Promise<LoadedSession | undefined> {
    if (!isStorableId(this.settings.storageKeyPrefix, id)) return undefined;
    const key = storageKey(this.settings.storageKeyPrefix, id);
    const { method, path } = requestKind(req);
    // Take a reference first, so the shared copy outlives hand-overs between queued requests.
    const shared = this.use(key);
    const hold: Hold = { key, version: 0, modified: false };
    if (this.policy.shouldLock(method, path)) {
      try {
        hold.lock = await this.locks.acquire(key);
      } catch (err) {
        if (!(err instanceof SessionLockTimeoutError) || !this.settings.lockFailOpen) {
          this.release(hold);
          throw err;
        }
        this.stats.inc('lockFailOpen');
        this.logger.warn(`${err.message}; running unlocked (lockFailure: 'open')`);
      }
    }
    const lock = hold.lock;
    if (req) this.holdsOf(req).set(id, hold);
    else this.release(hold); // a load outside a request (store API) holds nothing
    try {
      // Under a lock handed over in this process, or unlocked, the shared copy is current enough.
      const reuse = shared.latest && (lock ? lock.handedOver : true);
      const copy = reuse ? shared.latest : await this.read(key, shared, !lock);
      if (!copy) return undefined;
      hold.version = copy.version;
      const started = performance.now();
      const data = decodeSession(copy.json);
      this.stats.record('deserialization', performance.now() - started);
      return { id, data };
    } catch (err) {
      if (!(err instanceof CorruptSessionError)) throw err;
      this.stats.inc('corruptSessions');
      this.logger.warn(`${err.message}; starting a new session`);
      return undefined;
    }
  }

  async save(id: string, session: Session | SessionData): Promise<void> {
    if (!isStorableId(this.settings.storageKeyPrefix, id)) {
      throw new TypeError('session id cannot be a memcached key (1-250 printable characters, no spaces, prefix included)');
    }
    const key = storageKey(this.settings.storageKeyPrefix, id);
    const started = performance.now();
    const json = storedJson(encodeSession(session, this.settings.sessionAttributeFilter));
    checkItemSize(key, json, this.settings.itemSizeLimit);
    this.stats.record('serialization', performance.now() - started);

    const req = (session as Session).req as SessionRequest | undefined;
    const hold = req ? this.holdsOf(req).get(id) : undefined;
    const version = (hold?.version ?? 0) + 1;
    const unprotected = hold && (hold.lock ? hold.lock.lost : this.settings.lockingMode.kind !== 'none');
    if (hold && hold.version > 0 && unprotected) {
      // Locking was wanted but is not (or no longer) in force: never overwrite a version this request did not see.
      const current = await this.copies.read(key);
      if ((current.copy?.version ?? 0) > hold.version) {
        this.stats.inc('conflicts');
        throw new SessionConflictError();
      }
    }
    const copy = { version, json };
    try {
      await this.copies.write(key, copy, this.expiration(session));
    } catch (err) {
      throw new SessionStoreUnavailableError('writing the session to memcached failed', err);
    }
    if (hold) {
      hold.version = version;
      hold.modified = true;
    }
    const shared = this.inUse.get(key);
    if (shared) shared.latest = copy;
  }

  async touch(id: string, session: Session | SessionData): Promise<void> {
    const key = storageKey(this.settings.storageKeyPrefix, id);
    const missing = await this.copies.touch(key, this.expiration(session));
    const latest = this.inUse.get(key)?.latest;
    if (missing.length > 0 && latest) await this.repair(key, latest, missing, this.expiration(session));
  }

  /** Keeps a session alive without loading it (touch-only requests). */
  async keepAlive(id: string): Promise<void> {
    if (!isStorableId(this.settings.storageKeyPrefix, id)) return;
    this.stats.inc('touchOnlyRequests');
    const key = storageKey(this.settings.storageKeyPrefix, id);
    await this.copies.touch(key, memcachedExpiration(this.settings.maxInactiveInterval));
  }

  async destroy(id: string): Promise<void> {
    const key = storageKey(this.settings.storageKeyPrefix, id);
    await this.copies.delete(key);
    const shared = this.inUse.get(key);
    if (shared) shared.latest = undefined;
  }

  finish(_id: string, req: SessionRequest): void {
    const holds = this.holds.get(req);
    if (!holds) return;
    this.holds.delete(req);
    const { method, path } = requestKind(req);
    for (const hold of holds.values()) {
      this.policy.observe(method, path, hold.modified);
      if (!hold.modified) this.stats.inc('readOnlyRequests');
      this.release(hold);
    }
  }

  async close(): Promise<void> {
    this.locks.close();
  }

  private holdsOf(req: SessionRequest): Map<string, Hold> {
    let holds = this.holds.get(req);
    if (!holds) this.holds.set(req, (holds = new Map()));
    return holds;
  }

  private use(key: string): InUse {
    let shared = this.inUse.get(key);
    if (!shared) this.inUse.set(key, (shared = { refs: 0 }));
    shared.refs++;
    return shared;
  }

  private release(hold: Hold): void {
    if (hold.lock) void this.locks.release(hold.lock);
    const shared = this.inUse.get(hold.key);
    if (shared && --shared.refs <= 0) this.inUse.delete(hold.key);
  }

  /** Reads the newest copy (concurrent unlocked readers share one read) and repairs stale copies. */
  private async read(key: string, shared: InUse, shareable: boolean): Promise<VersionedCopy | undefined> {
    if (shareable && shared.reading) return shared.reading;
    const reading = (async () => {
      const result = await this.copies.read(key);
      this.stats.inc('loadsFromMemcached');
      if (result.corrupt.length > 0) {
        this.stats.inc('corruptSessions');
        this.logger.warn(`memcached node(s) ${result.corrupt.join(', ')} hold data that is not a session copy`);
      }
      if (!result.copy && result.failed.length > 0) {
        this.stats.inc('loadFailures');
        throw new SessionStoreUnavailableError(`memcached node(s) ${result.failed.join(', ')} could not be read`);
      }
      if (result.failed.length > 0) this.stats.inc('memcachedFailovers');
      if (result.copy && result.stale.length > 0) {
        void this.repair(key, result.copy, result.stale, memcachedExpiration(this.settings.maxInactiveInterval));
      }
      shared.latest = result.copy;
      return result.copy;
    })();
    if (shareable) {
      shared.reading = reading;
      void reading.finally(() => shared.reading === reading && (shared.reading = undefined)).catch(() => undefined);
    }
    return reading;
  }

  /** Writes the newest copy to nodes that lack it, so two copies exist again. */
  private async repair(key: string, copy: VersionedCopy, nodes: string[], expiration: number): Promise<void> {
    try {
      await this.copies.write(key, copy, expiration, nodes);
      this.stats.inc('replicaRepairs', nodes.length);
    } catch {
      // The next access tries again.
    }
  }

  /** memcached expiration for a session: its cookie's lifetime, else the inactivity timeout. */
  private expiration(session: Session | SessionData): number {
    const maxAge = (session.cookie as { originalMaxAge?: number | null } | undefined)?.originalMaxAge;
    const seconds = typeof maxAge === 'number' ? maxAge / 1000 : this.settings.maxInactiveInterval;
    return memcachedExpiration(seconds);
  }
}
